"""Rebuild a read model from position 0 beside the live one, compare, and swap it in."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from projections.atp import AtpProjection
from projections.follower import Follower

# The tables that make up the ATP read model, each with the columns that order its rows.
ATP_TABLES: dict[str, str] = {
    "locations": "code",
    "channels": "code",
    "channel_locations": "channel, location",
    "skus": "sku",
    "stock": "sku, location",
    "buffers": "channel, sku",
    "availability": "channel, sku",
}


def rebuild_atp(conninfo: str, events_table: str, schema: str, batch_size: int = 5000) -> int:
    """Build the ATP read model into ``schema`` from position 0; return events applied."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
    follower = Follower(conninfo, events_table, AtpProjection(schema), batch_size=batch_size)
    follower.setup()
    with psycopg.connect(conninfo) as conn:
        return follower.catch_up(conn)


def table_rows(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[Any, ...]]:
    order = ATP_TABLES[table]
    return conn.execute(
        SQL("SELECT * FROM {}.{} ORDER BY " + order).format(  # noqa: S608 - fixed names
            Identifier(schema), Identifier(table)
        )
    ).fetchall()


def differences(conninfo: str, live: str, rebuilt: str) -> dict[str, int]:
    """Tables whose rows differ between two schemas, with the count of differing rows."""
    found: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn:
        for table in ATP_TABLES:
            a, b = set(table_rows(conn, live, table)), set(table_rows(conn, rebuilt, table))
            if a != b:
                found[table] = len(a ^ b)
    return found


def swap_in(conninfo: str, live: str, rebuilt: str) -> None:
    """Replace ``live`` by ``rebuilt`` atomically; a running follower waits, then continues
    from the rebuilt schema's own tracking position."""
    old = f"{live}_replaced"
    with psycopg.connect(conninfo) as conn, conn.transaction():
        # Wait for the live follower's batch to end, then keep it out until the swap commits;
        # it then finds the tracking table by name again, in the rebuilt schema.
        conn.execute(
            SQL("LOCK TABLE {}.tracking IN ACCESS EXCLUSIVE MODE").format(Identifier(live))
        )
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(old)))
        conn.execute(SQL("ALTER SCHEMA {} RENAME TO {}").format(Identifier(live), Identifier(old)))
        conn.execute(
            SQL("ALTER SCHEMA {} RENAME TO {}").format(Identifier(rebuilt), Identifier(live))
        )
        conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(old)))
