"""The audit history: every stored event with its metadata and hashes, read-only.

Auditors read the same public envelopes connectors receive (``infrastructure.envelope``,
documented in docs/events.md), plus what the envelope leaves out: the idempotency key and
the event's place in its log's hash chain (``log_hash``). Three ways in: one stream by
version, one log by position, and every log by correlation id (an expression index over the
``_meta`` object inside the stored state, decision 0002, made with the log's tables:
:mod:`infrastructure.audit.correlation`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from psycopg.sql import SQL, Identifier

from domain.errors import InvalidValue
from infrastructure.audit.correlation import FUNCTION
from infrastructure.audit.writer import hashes_table
from infrastructure.envelope import Envelope, Hash
from infrastructure.eventstore import events_table
from infrastructure.log_reader import LOGS, LogReader


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event as an auditor sees it: its public envelope (the shape connectors
    receive), the idempotency key of the command that wrote it, and ``log_hash``, the log
    chain's value after it (what checkpoints sign, docs/audit.md)."""

    event: Envelope
    idempotency_key: str | None
    log_hash: Hash | None


def check_log(log: str) -> str:
    if log not in LOGS:
        raise InvalidValue(f"log is one of {', '.join(LOGS)}", field="log", log=log)
    return log


def encode_cursor(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, sort_keys=True).encode()).decode()


def decode_cursor(token: str, *keys: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(value, dict) or set(value) != set(keys):
            raise ValueError(token)
        if not all(isinstance(value[k], int) and 0 <= value[k] < 2**62 for k in keys):
            raise ValueError(token)
        return value
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidValue("cursor is not one this API issued", field="cursor") from None


def _idempotency_key(state: bytes) -> str | None:
    try:
        meta = json.loads(state).get("_meta") or {}
    except ValueError:
        return None
    key = meta.get("idempotency_key")
    return key if isinstance(key, str) else None


class History:
    """Reads one log's events as :class:`AuditRecord` s."""

    def __init__(self, log: str) -> None:
        self.log = check_log(log)
        self.reader = LogReader(log)
        self.events = Identifier(events_table(log))
        self.hashes = Identifier(hashes_table(log))

    async def _records(
        self, conn: psycopg.AsyncConnection[Any], where: str, params: tuple[Any, ...]
    ) -> list[AuditRecord]:
        if not await self.reader.exists(conn):
            return []
        query = SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, "
            "e.state, h.hash, h.prev_hash, h.log_hash FROM {} e "
            "LEFT JOIN {} h USING (notification_id) WHERE "
        ).format(self.events, self.hashes) + SQL(where)  # ``where``: this module's constants
        cur = await conn.execute(query, params)
        rows = await cur.fetchall()
        envelopes = await self.reader.envelopes(conn, [row[:7] for row in rows])
        return [
            AuditRecord(
                event=envelope,
                idempotency_key=_idempotency_key(bytes(row[4])),
                log_hash=None if row[7] is None else bytes(row[7]).hex(),
            )
            for envelope, row in zip(envelopes, rows, strict=True)
        ]

    async def stream(
        self, conn: psycopg.AsyncConnection[Any], stream: UUID, after_version: int, limit: int
    ) -> list[AuditRecord]:
        """The stream's events after ``after_version``, oldest first."""
        return await self._records(
            conn,
            "e.originator_id = %s AND e.originator_version > %s "
            "ORDER BY e.originator_version LIMIT %s",
            (stream, after_version, limit),
        )

    async def log_after(
        self, conn: psycopg.AsyncConnection[Any], after: int, limit: int
    ) -> list[AuditRecord]:
        """The log's events after position ``after``, in position order."""
        return await self._records(
            conn,
            "e.notification_id > %s ORDER BY e.notification_id LIMIT %s",
            (after, limit),
        )

    async def correlated(
        self, conn: psycopg.AsyncConnection[Any], correlation_id: str, after: int, limit: int
    ) -> list[AuditRecord]:
        """Events of this log with ``correlation_id``, after position ``after``."""
        return await self._records(
            conn,
            f"{FUNCTION}(e.state) = %s AND e.notification_id > %s "
            "ORDER BY e.notification_id LIMIT %s",
            (correlation_id, after, limit),
        )


async def correlated(
    conn: psycopg.AsyncConnection[Any], correlation_id: str, cursor: str | None, limit: int
) -> tuple[list[AuditRecord], str | None]:
    """Events of every log sharing ``correlation_id``: log by log (in LOGS order), each in
    position order; the cursor to resume, or None when there is no more."""
    start = decode_cursor(cursor, "log", "position") if cursor else {"log": 0, "position": 0}
    found: list[AuditRecord] = []
    for index in range(start["log"], len(LOGS)):
        after = start["position"] if index == start["log"] else 0
        records = await History(LOGS[index]).correlated(
            conn, correlation_id, after, limit - len(found)
        )
        found.extend(records)
        if len(found) >= limit:
            last = found[-1].event
            return found, encode_cursor({"log": LOGS.index(last.log), "position": last.position})
    return found, None
