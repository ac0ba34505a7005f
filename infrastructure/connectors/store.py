"""The runtime's PostgreSQL tables: which events each connector handled, and open backfills.

``connector_handled`` is the dedup record. It is written in the transaction that commits the
connector's own state, so an event's effects and "handled" commit together: a redelivery
finds the record and changes nothing, and a crash before the commit leaves neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import psycopg

from infrastructure.envelope import Envelope

TABLES = """
CREATE TABLE IF NOT EXISTS connector_handled (
    connector text NOT NULL,
    event_id uuid NOT NULL,
    log text NOT NULL,
    position bigint NOT NULL,
    stream_id text NOT NULL,
    stream_version bigint NOT NULL,
    outcome text NOT NULL,
    reason text,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector, event_id));
CREATE TABLE IF NOT EXISTS connector_backfills (
    connector text NOT NULL,
    log text NOT NULL,
    next_position bigint NOT NULL,
    PRIMARY KEY (connector, log));
"""

HANDLED = "handled"
DEAD_LETTERED = "dead_lettered"


class AlreadyHandled(Exception):
    """Another worker recorded the event first: roll this attempt back."""


async def create_tables(conn: psycopg.AsyncConnection[Any]) -> None:
    # Several connectors may start at once; the advisory lock keeps CREATE IF NOT EXISTS
    # from racing on the catalogue.
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('connector_tables'))")
        await conn.execute(TABLES)


async def handled_among(
    conn: psycopg.AsyncConnection[Any], connector: str, event_ids: Iterable[str]
) -> set[str]:
    cur = await conn.execute(
        "SELECT event_id FROM connector_handled WHERE connector = %s AND event_id = ANY(%s)",
        (connector, [UUID(event_id) for event_id in event_ids]),
    )
    return {str(row[0]) for row in await cur.fetchall()}


async def record(
    tx: psycopg.AsyncConnection[Any],
    connector: str,
    envelope: Envelope,
    outcome: str = HANDLED,
    reason: str | None = None,
) -> None:
    cur = await tx.execute(
        "INSERT INTO connector_handled (connector, event_id, log, position, stream_id, "
        "stream_version, outcome, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        (
            connector,
            UUID(envelope.id),
            envelope.log,
            envelope.position,
            envelope.stream_id,
            envelope.stream_version,
            outcome,
            reason,
        ),
    )
    if cur.rowcount != 1:
        raise AlreadyHandled(envelope.id)


async def forget(tx: psycopg.AsyncConnection[Any], connector: str) -> None:
    await tx.execute("DELETE FROM connector_handled WHERE connector = %s", (connector,))


async def open_backfills(conn: psycopg.AsyncConnection[Any], connector: str) -> dict[str, int]:
    cur = await conn.execute(
        "SELECT log, next_position FROM connector_backfills WHERE connector = %s", (connector,)
    )
    return {str(log): int(position) for log, position in await cur.fetchall()}


async def set_backfill(
    conn: psycopg.AsyncConnection[Any], connector: str, log: str, next_position: int
) -> None:
    await conn.execute(
        "INSERT INTO connector_backfills VALUES (%s, %s, %s) ON CONFLICT (connector, log) "
        "DO UPDATE SET next_position = EXCLUDED.next_position",
        (connector, log, next_position),
    )


async def close_backfill(conn: psycopg.AsyncConnection[Any], connector: str, log: str) -> None:
    await conn.execute(
        "DELETE FROM connector_backfills WHERE connector = %s AND log = %s", (connector, log)
    )


async def clear_backfills(conn: psycopg.AsyncConnection[Any], connector: str) -> None:
    await conn.execute("DELETE FROM connector_backfills WHERE connector = %s", (connector,))
