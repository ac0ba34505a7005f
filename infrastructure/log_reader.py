"""A stored log read as public envelopes: what the relay publishes and backfills replay.

One reader serves both, so an event read from PostgreSQL is byte for byte the envelope the
relay published for it, and a connector can mix the two without telling them apart.

Public events name their stream's natural key (the SKU, a location code), which only the
stream's first stored event holds. The reader remembers keys it has seen and looks up the
first event of any other stream, a bounded cache keeping memory flat on large catalogues.
Each envelope carries its event's audit hashes (``hash``, ``prev_hash``, hex) from the log's
hash table (decision 0013); a log stored before the chain existed has none until its
application next starts and hashes it.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier

from infrastructure.audit.writer import hashes_table
from infrastructure.envelope import Envelope
from infrastructure.eventstore import events_table, make_mapper
from infrastructure.privacy import reveal_states_async
from infrastructure.public_events import key_of, to_envelope

KEY_CACHE_SIZE = 100_000
# Every published log: each application's own (access stays private: it holds key hashes).
# A log whose application has not run yet in a database has no table: reading it finds
# nothing until the table appears.
LOGS = ("inventory", "pricing", "orders", "bookings", "privacy")


def _hex(value: bytes | None) -> str | None:
    return None if value is None else bytes(value).hex()


class LogReader:
    def __init__(self, log: str = "inventory") -> None:
        self.log = log
        self.table = Identifier(events_table(log))
        self.hashes = Identifier(hashes_table(log))
        self.mapper = make_mapper()
        self.keys: OrderedDict[UUID, str] = OrderedDict()
        self._exists = False
        self._hashed = False

    async def exists(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """Whether the log's table exists yet (an application makes it when it first runs)."""
        if not self._exists:
            cur = await conn.execute("SELECT to_regclass(%s)", (events_table(self.log),))
            row = await cur.fetchone()
            self._exists = row is not None and row[0] is not None
        if self._exists and not self._hashed:
            cur = await conn.execute("SELECT to_regclass(%s)", (hashes_table(self.log),))
            row = await cur.fetchone()
            self._hashed = row is not None and row[0] is not None
        return self._exists

    async def head(self, conn: psycopg.AsyncConnection[Any]) -> int:
        if not await self.exists(conn):
            return 0
        cur = await conn.execute(
            SQL("SELECT COALESCE(max(notification_id), 0) FROM {}").format(self.table)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def read(
        self,
        conn: psycopg.AsyncConnection[Any],
        after: int,
        limit: int,
        until: int | None = None,
    ) -> list[Envelope]:
        """Envelopes of positions ``after < position <= until``, at most ``limit``."""
        if not await self.exists(conn):
            return []
        hashes = (
            SQL("h.hash, h.prev_hash FROM {} e LEFT JOIN {} h USING (notification_id)").format(
                self.table, self.hashes
            )
            if self._hashed
            else SQL("NULL, NULL FROM {} e").format(self.table)
        )
        cur = await conn.execute(
            SQL(
                "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, "
                "e.state, {} WHERE e.notification_id > %s AND e.notification_id <= %s "
                "ORDER BY e.notification_id LIMIT %s"
            ).format(hashes),
            (after, until if until is not None else 2**62, limit),
        )
        return await self.envelopes(conn, await cur.fetchall())

    async def envelopes(
        self, conn: psycopg.AsyncConnection[Any], rows: list[tuple[Any, ...]]
    ) -> list[Envelope]:
        """Envelopes of ``(position, stream, version, topic, state, hash, prev_hash)`` rows
        of this log (the audit history reads streams and correlations this way too)."""
        decoded = []
        states = await reveal_states_async(conn, [bytes(row[4]) for row in rows])
        for (position, stream, version, topic, _, hash_, prev_hash), state in zip(
            rows, states, strict=True
        ):
            event, meta = self.mapper.decode(StoredEvent(stream, version, topic, state))
            self._remember(event)
            decoded.append((position, event, meta, _hex(hash_), _hex(prev_hash)))
        missing = {event.originator_id for _, event, *_ in decoded} - self.keys.keys()
        if missing:
            await self._look_up(conn, missing)
        return [
            msgspec.structs.replace(
                to_envelope(event, meta, self.log, position, self.keys[event.originator_id]),
                hash=hash_,
                prev_hash=prev_hash,
            )
            for position, event, meta, hash_, prev_hash in decoded
        ]

    async def first_position_at(self, conn: psycopg.AsyncConnection[Any], when: datetime) -> int:
        """The first position whose event occurred at or after ``when`` (head + 1 if none).

        Events carry their time inside the stored state, so this reads the log; it is only
        asked when a connector starts from a time.
        """
        after = 0
        while True:
            batch = await self.read(conn, after, 1000)
            if not batch:
                return after + 1
            for item in batch:
                if item.occurred_at >= when:
                    return item.position
            after = batch[-1].position

    def _remember(self, event: Any) -> None:
        key = key_of(event)
        if key is not None:
            self.keys[event.originator_id] = key
            self.keys.move_to_end(event.originator_id)
            while len(self.keys) > KEY_CACHE_SIZE:
                self.keys.popitem(last=False)

    async def _look_up(self, conn: psycopg.AsyncConnection[Any], streams: set[UUID]) -> None:
        cur = await conn.execute(
            SQL(
                "SELECT originator_id, originator_version, topic, state FROM {} "
                "WHERE originator_id = ANY(%s) AND originator_version = 1"
            ).format(self.table),
            (list(streams),),
        )
        rows = await cur.fetchall()
        states = await reveal_states_async(conn, [bytes(row[3]) for row in rows])
        for (stream, version, topic, _), state in zip(rows, states, strict=True):
            event, _ = self.mapper.decode(StoredEvent(stream, version, topic, state))
            self._remember(event)
