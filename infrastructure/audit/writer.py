"""Writes each stored event's hashes in the transaction that stores the event.

The recorder calls :meth:`ChainWriter.look_up` right after it took the events table's
``EXCLUSIVE`` lock (so no other writer can store an event of this log until this
transaction ends, and the last stored log hash is final), and :meth:`ChainWriter.write`
once the new notification ids are known. In pipeline mode the look-up travels with the
insert and the hash rows with the commit: no extra round trip.

Hashes live in ``<log>_hashes`` keyed by notification id (decision 0013). Events stored
before the chain existed are hashed once, in notification order, by :meth:`catch_up` when
the recorder creates its tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import StoredEvent
from psycopg import Connection, Cursor
from psycopg.abc import Query
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier

from infrastructure.audit.chain import ZERO, Hashed, Unhashed, chain, predecessors

log = structlog.get_logger(__name__)

CATCH_UP_BATCH = 2000


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def hashes_table(log_name: str) -> str:
    return f"{log_name}_hashes"


class ChainWriter:
    """The hash chain of one log: its table, its look-up and its insert."""

    def __init__(self, schema: str, events_table: str) -> None:
        self.log = events_table.removesuffix("_events")
        self.events = Identifier(schema, events_table)
        self.table = Identifier(schema, hashes_table(self.log))
        self.create_statements: list[Composed] = [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " notification_id bigint PRIMARY KEY,"
                " originator_id uuid NOT NULL,"
                " originator_version bigint NOT NULL,"
                " prev_hash bytea NOT NULL,"
                " hash bytea NOT NULL,"
                " log_hash bytea NOT NULL)"
            ).format(self.table)
        ]
        # One statement: the log chain's head, and the stored hash of every predecessor
        # the batch continues (a first row with a null stream carries the log head).
        self._look_up = SQL(
            "SELECT NULL::uuid AS originator_id, NULL::bigint AS originator_version,"
            " last.log_hash AS hash"
            " FROM (SELECT log_hash FROM {h} ORDER BY notification_id DESC LIMIT 1) AS last "
            "UNION ALL "
            "SELECT e.originator_id, e.originator_version, h.hash"
            " FROM unnest(%s::uuid[], %s::bigint[]) AS w(originator_id, originator_version)"
            " JOIN {e} AS e USING (originator_id, originator_version)"
            " JOIN {h} AS h ON h.notification_id = e.notification_id"
        ).format(h=self.table, e=self.events)
        self._insert = SQL(
            "INSERT INTO {} (notification_id, originator_id, originator_version,"
            " prev_hash, hash, log_hash)"
            " SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::bigint[],"
            " %s::bytea[], %s::bytea[], %s::bytea[])"
        ).format(self.table)
        self._texts: dict[int, bytes] = {}

    def _rendered(self, statement: Composed, curs: Cursor[Any]) -> bytes:
        """The statement's text, composed once (psycopg would compose it on every call)."""
        text = self._texts.get(id(statement))
        if text is None:
            text = self._texts[id(statement)] = statement.as_bytes(curs.connection)
        return text

    def look_up(self, curs: Cursor[DictRow], batch: Sequence[StoredEvent]) -> Cursor[DictRow]:
        """Queue the look-up on a cursor of its own (pipeline mode sends it with the insert).

        Must run after the table lock: only then is the log's last hash final.
        """
        wanted = predecessors(
            [Unhashed(0, _uuid(e.originator_id), e.originator_version, "", b"") for e in batch]
        )
        lookup = curs.connection.cursor()
        lookup.execute(
            self._rendered(self._look_up, curs),
            ([stream for stream, _ in wanted], [version for _, version in wanted]),
            prepare=True,
        )
        return lookup

    def write(
        self,
        curs: Cursor[DictRow],
        lookup: Cursor[DictRow],
        batch: Sequence[StoredEvent],
        ids: Sequence[int],
    ) -> list[Hashed]:
        """Compute the batch's hashes from the look-up's answer and insert them."""
        log_hash = ZERO
        heads: dict[tuple[UUID, int], bytes] = {}
        for row in lookup.fetchall():
            if row["originator_id"] is None:
                log_hash = bytes(row["hash"])
            else:
                heads[(row["originator_id"], row["originator_version"])] = bytes(row["hash"])
        lookup.close()
        events = [
            Unhashed(nid, _uuid(e.originator_id), e.originator_version, e.topic, e.state)
            for nid, e in zip(ids, batch, strict=True)
        ]
        missing = [key for key in predecessors(events) if key not in heads]
        if missing:
            # A predecessor without a hash row: tampering, or a store never caught up.
            # The write goes on (stock must not stop); verify names the broken link.
            log.warning("audit.predecessor_unhashed", log=self.log, streams=len(missing))
        rows = chain(self.log, events, heads, log_hash)
        self.insert(curs, rows)
        return rows

    def insert(self, curs: Cursor[Any], rows: Sequence[Hashed]) -> None:
        curs.execute(
            self._rendered(self._insert, curs),
            (
                [r.notification_id for r in rows],
                [r.stream for r in rows],
                [r.version for r in rows],
                [r.prev_hash for r in rows],
                [r.hash for r in rows],
                [r.log_hash for r in rows],
            ),
            prepare=True,
        )

    def catch_up(self, conn: Connection[Any], lock: Sequence[Query]) -> int:
        """Hash events stored after the last hashed one (events older than the chain).

        Runs under the table lock, in one transaction, so no writer interleaves. Returns
        how many events it hashed (0 on every start but the first after an upgrade).
        """
        behind = SQL(
            "SELECT COALESCE((SELECT max(notification_id) FROM {h}), 0),"
            " COALESCE((SELECT max(notification_id) FROM {e}), 0)"
        ).format(h=self.table, e=self.events)
        curs = conn.cursor(row_factory=tuple_row)
        row = curs.execute(behind).fetchone()
        if row is None or row[1] <= row[0]:
            return 0
        hashed = 0
        with conn.transaction():
            for statement in lock:
                curs.execute(statement)
            row = curs.execute(behind).fetchone()
            assert row is not None
            after = int(row[0])
            while True:
                batch = curs.execute(
                    SQL(
                        "SELECT notification_id, originator_id, originator_version, topic, state"
                        " FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
                    ).format(self.events),
                    (after, CATCH_UP_BATCH),
                ).fetchall()
                if not batch:
                    break
                events = [Unhashed(r[0], r[1], r[2], r[3], bytes(r[4])) for r in batch]
                wanted = predecessors(events)
                heads: dict[tuple[UUID, int], bytes] = {}
                log_hash = ZERO
                for stream, version, hash_ in curs.execute(
                    self._look_up, ([s for s, _ in wanted], [v for _, v in wanted])
                ).fetchall():
                    if stream is None:
                        log_hash = bytes(hash_)
                    else:
                        heads[(stream, version)] = bytes(hash_)
                rows = chain(self.log, events, heads, log_hash)
                self.insert(curs, rows)
                hashed += len(rows)
                after = events[-1].notification_id
        log.info("audit.caught_up", log=self.log, events=hashed)
        return hashed
