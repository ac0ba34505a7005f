"""Reads the console needs beyond the API's: SKU search over the ATP read model (plain SQL)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.sql import SQL, Identifier


async def find_skus(
    conn: AsyncConnection[Any], text: str, limit: int = 50, schema: str = "atp"
) -> list[dict[str, Any]]:
    """SKUs whose code, name or GTIN contains ``text`` (case-insensitive), by code."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    cur = await conn.execute(
        SQL(
            "SELECT sku, name, gtin FROM {s}.skus WHERE sku ILIKE %(p)s OR name ILIKE %(p)s "
            "OR gtin LIKE %(p)s ORDER BY sku LIMIT %(limit)s"
        ).format(s=Identifier(schema)),
        {"p": pattern, "limit": limit},
    )
    return [{"sku": s, "name": n, "gtin": g} for s, n, g in await cur.fetchall()]


async def _table_exists(conn: AsyncConnection[Any], table: str) -> bool:
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def log_heads(conn: AsyncConnection[Any], logs: tuple[str, ...]) -> dict[str, int]:
    """The last notification id of each log that exists (0 for an empty one)."""
    heads: dict[str, int] = {}
    for log in logs:
        table = f"{log}_events"
        if await _table_exists(conn, table):
            cur = await conn.execute(
                SQL("SELECT COALESCE(max(notification_id), 0) FROM {t}").format(t=Identifier(table))
            )
            row = await cur.fetchone()
            heads[log] = int(row[0]) if row else 0
    return heads


async def connector_health(
    conn: AsyncConnection[Any], logs: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Per connector and log: events handled and dead-lettered, the last one's time, and how
    far the connector is behind the log's head (events not yet handled, counted by position)."""
    if not await _table_exists(conn, "connector_handled"):
        return []
    heads = await log_heads(conn, logs)
    cur = await conn.execute(
        "SELECT connector, log, count(*) FILTER (WHERE outcome = 'handled'), "
        "count(*) FILTER (WHERE outcome = 'dead_lettered'), max(position), max(handled_at) "
        "FROM connector_handled GROUP BY connector, log ORDER BY connector, log"
    )
    return [
        {
            "connector": connector,
            "log": log,
            "handled": handled,
            "dead_lettered": dead,
            "position": position,
            "head": heads.get(log, position),
            "lag": max(0, heads.get(log, position) - position),
            "last_at": last_at,
        }
        for connector, log, handled, dead, position, last_at in await cur.fetchall()
    ]
