"""Writes each stored event's hashes in the transaction that stores the event.

A PL/pgSQL function per log, ``<log>_chain_v1()``, hashes every event stored after the last
hashed one, in notification order, and inserts the rows into ``<log>_hashes``. The recorder
calls it right after its insert, in the same transaction and still under the events table's
``EXCLUSIVE`` lock: no other writer can store an event of this log until this transaction
ends, so the events past the last hash row are exactly this transaction's, the last stored
log hash is final, and the log chain stays one line whatever process writes. In pipeline mode
the call travels with the commit: no extra round trip, and no Python between the statements.

The function computes exactly :func:`infrastructure.audit.chain.event_hash` (the verifier's
independent Python implementation, which the tests compare it with). A predecessor without a
hash row (tampering) is chained from zeros rather than refusing the write: stock must not
stop, and ``verify`` names the broken link. Events stored before the chain existed are hashed
by the first call, which :meth:`ChainWriter.catch_up` makes when the recorder creates its
tables.

Hashes live in ``<log>_hashes`` keyed by notification id (decision 0013).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from psycopg import Connection, Cursor
from psycopg.abc import Query
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from infrastructure.audit.chain import log_prefix

log = structlog.get_logger(__name__)


def hashes_table(log_name: str) -> str:
    return f"{log_name}_hashes"


def chain_function(log_name: str) -> str:
    # Versioned: a changed definition gets a new name, never a silent replacement.
    return f"{log_name}_chain_v1"


class ChainWriter:
    """The hash chain of one log: its table, its function, and the call."""

    def __init__(self, schema: str, events_table: str) -> None:
        self.log = events_table.removesuffix("_events")
        self.events = Identifier(schema, events_table)
        self.table = Identifier(schema, hashes_table(self.log))
        self.function = Identifier(schema, chain_function(self.log))
        self.create_statements: list[Composed] = [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " notification_id bigint PRIMARY KEY,"
                " originator_id uuid NOT NULL,"
                " originator_version bigint NOT NULL,"
                " prev_hash bytea NOT NULL,"
                " hash bytea NOT NULL,"
                " log_hash bytea NOT NULL)"
            ).format(self.table),
            # Created only when missing: CREATE OR REPLACE from processes starting together
            # fails with "tuple concurrently updated".
            SQL(
                "DO $do$ BEGIN IF to_regprocedure({signature}) IS NULL THEN {create}; "
                "END IF; END $do$"
            ).format(
                signature=Literal(f"{schema}.{chain_function(self.log)}()"),
                create=self._create_function(),
            ),
        ]
        self._call = SQL("SELECT {}()").format(self.function)
        self._text: bytes | None = None

    def _create_function(self) -> Composed:
        return SQL(
            "CREATE FUNCTION {function}() RETURNS integer LANGUAGE plpgsql AS $fn$\n"
            "DECLARE\n"
            "  zero constant bytea := decode(repeat('00', 32), 'hex');\n"
            "  head bytea; last_id bigint; prev bytea; this bytea; topic bytea;\n"
            "  event record; hashed integer := 0;\n"
            "BEGIN\n"
            "  SELECT notification_id, log_hash INTO last_id, head FROM {hashes}\n"
            "    ORDER BY notification_id DESC LIMIT 1;\n"
            "  IF NOT FOUND THEN last_id := 0; head := zero; END IF;\n"
            "  FOR event IN SELECT e.notification_id, e.originator_id, e.originator_version,\n"
            "      e.topic, e.state FROM {events} e WHERE e.notification_id > last_id\n"
            "      ORDER BY e.notification_id LOOP\n"
            "    prev := zero;\n"
            "    IF event.originator_version > 1 THEN\n"
            "      SELECT h.hash INTO prev FROM {events} p JOIN {hashes} h\n"
            "        ON h.notification_id = p.notification_id\n"
            "        WHERE p.originator_id = event.originator_id\n"
            "        AND p.originator_version = event.originator_version - 1;\n"
            "      IF NOT FOUND THEN prev := zero; END IF;\n"
            "    END IF;\n"
            "    topic := convert_to(event.topic, 'UTF8');\n"
            "    this := sha256(prev || {prefix} || uuid_send(event.originator_id)\n"
            "      || int8send(event.originator_version) || int4send(length(topic)) || topic\n"
            "      || int8send(length(event.state)::bigint) || event.state);\n"
            "    head := sha256(head || this);\n"
            "    INSERT INTO {hashes} VALUES (event.notification_id, event.originator_id,\n"
            "      event.originator_version, prev, this, head);\n"
            "    hashed := hashed + 1;\n"
            "  END LOOP;\n"
            "  RETURN hashed;\n"
            "END $fn$"
        ).format(
            function=self.function,
            hashes=self.table,
            events=self.events,
            prefix=SQL("{}::bytea").format(Literal(log_prefix(self.log))),
        )

    def hash_new_events(self, curs: Cursor[Any]) -> None:
        """Queue the call on a cursor of its own (the caller's cursor holds the insert's ids).

        Must run after the insert succeeded, under the table lock, in the events' transaction.
        """
        if self._text is None:  # composed once: psycopg would compose it on every call
            self._text = self._call.as_bytes(curs.connection)
        curs.connection.cursor().execute(self._text, prepare=True)

    def catch_up(self, conn: Connection[Any], lock: Sequence[Query]) -> int:
        """Hash events stored after the last hashed one (events older than the chain).

        Runs under the table lock, in one transaction, so no writer interleaves. Returns
        how many events it hashed (0 on every start but the first after an upgrade).
        """
        behind = SQL(
            "SELECT COALESCE((SELECT max(notification_id) FROM {h}), 0)"
            " < COALESCE((SELECT max(notification_id) FROM {e}), 0)"
        ).format(h=self.table, e=self.events)
        with conn.cursor(row_factory=tuple_row) as curs:
            row = curs.execute(behind).fetchone()
            if row is None or not row[0]:
                return 0
            with conn.transaction():
                for statement in lock:
                    curs.execute(statement)
                result = curs.execute(self._call).fetchone()
        hashed = int(result[0]) if result else 0
        log.info("audit.caught_up", log=self.log, events=hashed)
        return hashed
