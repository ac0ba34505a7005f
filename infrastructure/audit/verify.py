"""``ledgerline audit verify``: recompute every chain, check every checkpoint, name what broke.

Per log, in one read-only snapshot:

1. The events and their hash rows, merged in notification order (two streamed cursors):
   each event's hash is recomputed from its data and its stored ``prev_hash``; each stored
   ``log_hash`` must continue the previous one; the log chain is folded over the stored hashes
   and compared with every checkpoint (stored, and from ``--checkpoints`` files) at its
   position. Events whose data does not match their hash are held back (a bounded few) and
   compared with each other at the end: data that belongs to another event's slot means the
   events were reordered (swapped), otherwise the data was altered.
2. The stream links, by the database (a window over each stream's versions; only broken
   rows come back): versions 1, 2, 3... without gaps, each ``prev_hash`` the stored hash of
   the version before. This runs on a second connection in the same (exported) snapshot,
   while the walk runs, so the database sorts while Python hashes.

Memory is constant in the number of events (a few held-back suspects at most); checkpoints
given in a file are held in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from uuid import UUID

import psycopg
from psycopg import IsolationLevel
from psycopg.sql import SQL, Identifier, Literal

from infrastructure.audit.chain import ZERO, LogHasher, fold
from infrastructure.audit.checkpoints import stored_checkpoints
from infrastructure.audit.findings import (
    BAD_SIGNATURE,
    CHAIN_BROKEN,
    CHECKPOINT_MISMATCH,
    DATA_ALTERED,
    EVENT_MISSING,
    EVENTS_REORDERED,
    HASH_MISSING,
    Event,
    Finding,
    Findings,
    HashRow,
    LogResult,
    Report,
    altered,
    classify,
    gone,
    log_link,
    span,
    unhashed,
)
from infrastructure.audit.signing import Checkpoint, signature_problem
from infrastructure.audit.writer import hashes_table

__all__ = [
    "BAD_SIGNATURE",
    "CHAIN_BROKEN",
    "CHECKPOINT_MISMATCH",
    "DATA_ALTERED",
    "EVENTS_REORDERED",
    "EVENT_MISSING",
    "HASH_MISSING",
    "Finding",
    "Report",
    "Verifier",
]

MAX_SUSPECTS = 1000  # events held back for the reorder check
MAX_SUSPECT_BYTES = 64 * 1024 * 1024
MAX_LINK_ROWS = 10_000  # broken stream links read back
FETCH = 5000
# Each stream's versions in order with the one before: only broken links come back.
LINKS = SQL(
    "SELECT notification_id, originator_id, originator_version, pv, pn"
    " FROM (SELECT e.notification_id, e.originator_id, e.originator_version, h.prev_hash,"
    " lag(e.originator_version) OVER w AS pv, lag(h.hash) OVER w AS ph,"
    " lag(e.notification_id) OVER w AS pn"
    " FROM {e} e LEFT JOIN {h} h ON h.notification_id = e.notification_id"
    " WINDOW w AS (PARTITION BY e.originator_id ORDER BY e.originator_version)) s"
    " WHERE prev_hash IS NOT NULL AND CASE WHEN pv IS NULL"
    " THEN originator_version <> 1 OR prev_hash <> %s"
    " ELSE originator_version <> pv + 1 OR (ph IS NOT NULL AND prev_hash <> ph) END"
    " ORDER BY notification_id"
)


def events_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Every log the store has: tables ``<log>_events`` shaped like an event store's, and
    logs with only a hash table left."""
    rows = conn.execute(
        "SELECT substr(table_name, 1, length(table_name) - 7) FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name LIKE '%\\_events'"
        " AND column_name IN ('notification_id', 'originator_id', 'originator_version', 'state')"
        " GROUP BY table_name HAVING count(*) = 4"
        " UNION SELECT substr(table_name, 1, length(table_name) - 7)"
        " FROM information_schema.tables WHERE table_schema = 'public'"
        " AND table_name LIKE '%\\_hashes' ORDER BY 1"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    return row is not None and row[0] is not None


def _stream(
    conn: psycopg.Connection[Any], name: str, query: SQL, table: str
) -> Iterator[tuple[Any, ...]]:
    if not _exists(conn, table):
        return
    with conn.cursor(name=name, binary=True) as curs:
        curs.execute(query.format(Identifier(table)))
        while rows := curs.fetchmany(FETCH):
            yield from rows


def _merge(
    events: Iterator[tuple[Any, ...]], hashes: Iterator[tuple[Any, ...]]
) -> Iterator[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """Event rows and hash rows paired by notification id, in its order (a merge join)."""
    event = next(events, None)
    row = next(hashes, None)
    while event is not None or row is not None:
        if row is None or (event is not None and event[0] < row[0]):
            yield event, None
            event = next(events, None)
        elif event is None or row[0] < event[0]:
            yield None, row
            row = next(hashes, None)
        else:
            yield event, row
            event, row = next(events, None), next(hashes, None)


def _event(raw: tuple[Any, ...]) -> Event:
    nid, stream, version, topic, state = raw
    return Event(nid, UUID(bytes=bytes(stream)), version, topic, bytes(state))


def _hash_row(raw: tuple[Any, ...]) -> HashRow:
    nid, stream, version, prev_hash, hash_, log_hash = raw
    return HashRow(
        nid, UUID(bytes=bytes(stream)), version, bytes(prev_hash), bytes(hash_), bytes(log_hash)
    )


class _CheckpointCheck:
    """Checkpoints of one source compared with the folded chain as the walk passes them."""

    def __init__(self, log: str, source: str, checkpoints: Iterable[Checkpoint]) -> None:
        self.log = log
        self.source = source
        self.pending = iter(checkpoints)
        self.next = next(self.pending, None)
        self.due = self.next.position if self.next is not None else 2**63 - 1
        self.checked = 0
        self.last_good = 0
        self.mismatch: tuple[Checkpoint, int] | None = None  # the first, and how many
        self.bad_signature: tuple[Checkpoint, str, int] | None = None

    def passing(
        self, before: int, value: bytes, trusted: bytes | None, others: dict[int, str]
    ) -> None:
        """Check every checkpoint at a position below ``before`` against ``value``."""
        while self.next is not None and self.next.position < before:
            checkpoint = self.next
            self.checked += 1
            problem = signature_problem(checkpoint, trusted)
            if problem is not None:
                first, why, count = self.bad_signature or (checkpoint, problem, 0)
                self.bad_signature = (first, why, count + 1)
            elif checkpoint.log_hash != value.hex() or (
                others.get(checkpoint.position, checkpoint.log_hash) != checkpoint.log_hash
            ):
                first_bad, count = self.mismatch or (checkpoint, 0)
                self.mismatch = (first_bad, count + 1)
            elif self.mismatch is None:
                self.last_good = checkpoint.position
            self.next = next(self.pending, None)
        self.due = self.next.position if self.next is not None else 2**63 - 1


class Verifier:
    """Verifies every log of one database; ``external`` are checkpoints held elsewhere."""

    def __init__(
        self,
        conninfo: str,
        trusted: bytes | None,
        external: Iterable[Checkpoint] = (),
    ) -> None:
        self.conninfo = conninfo
        self.trusted = trusted
        self.external: dict[str, list[Checkpoint]] = {}
        for checkpoint in external:
            self.external.setdefault(checkpoint.log, []).append(checkpoint)
        for checkpoints in self.external.values():
            checkpoints.sort(key=lambda c: c.position)

    def run(self) -> Report:
        report = Report()
        started = time.perf_counter()
        with psycopg.connect(self.conninfo) as conn:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction(), ThreadPoolExecutor(1, "verify-links") as links:
                snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()
                assert snapshot is not None
                names = sorted(set(events_tables(conn)) | set(self.external))
                broken = {
                    name: links.submit(_broken_links, self.conninfo, snapshot[0], name)
                    for name in names
                }
                for name in names:
                    log_started = time.perf_counter()
                    result = LogResult(name)
                    report.findings.extend(self._log(conn, name, result, broken[name]))
                    result.seconds = time.perf_counter() - log_started
                    report.logs.append(result)
        report.seconds = time.perf_counter() - started
        return report

    def _log(
        self,
        conn: psycopg.Connection[Any],
        name: str,
        result: LogResult,
        broken: Future[tuple[list[tuple[Any, ...]], int]],
    ) -> list[Finding]:
        findings = Findings(name)
        external = self.external.get(name, [])
        by_position = {c.position: c.log_hash for c in external}
        checks = [
            _CheckpointCheck(name, "database", stored_checkpoints(conn, name)),
            _CheckpointCheck(name, "external copy", external),
        ]
        hashed = _exists(conn, hashes_table(name))
        if not hashed and _exists(conn, f"{name}_events"):
            findings.add(
                Finding(name, HASH_MISSING, None, None, None, f"the table {name}_hashes is gone")
            )
        events = _stream(
            conn,
            f"events_{name}",
            SQL(
                "SELECT notification_id, uuid_send(originator_id), originator_version, topic,"
                " state FROM {} ORDER BY notification_id"
            ),
            f"{name}_events",
        )
        hashes = _stream(
            conn,
            f"hashes_{name}",
            SQL(
                "SELECT notification_id, uuid_send(originator_id), originator_version, prev_hash,"
                " hash, log_hash FROM {} ORDER BY notification_id"
            ),
            hashes_table(name),
        )
        running = ZERO  # the log chain folded over the stored hashes
        stored = ZERO  # the previous row's stored log hash
        suspects: list[tuple[Event, HashRow]] = []
        suspect_bytes = 0
        missing: set[tuple[UUID, int]] = set()
        previous = 0  # the last hash row's notification id
        hasher = LogHasher(name)
        due = min(check.due for check in checks)  # the next checkpoint's position
        for event, row in _merge(events, hashes):
            position = event[0] if event is not None else _id(row)
            if position > due:
                for check in checks:
                    check.passing(position, running, self.trusted, by_position)
                due = min(check.due for check in checks)
            if event is not None:
                result.events += 1
            if row is None:
                assert event is not None
                if hashed:
                    findings.add(unhashed(name, _event(event)))
                continue
            nid, stream, version, prev_hash, hash_, log_hash = row
            if event is None:
                missing.add((UUID(bytes=bytes(stream)), version))
                findings.add(gone(name, _hash_row(row)))
            elif (event[1], event[2]) != (stream, version) or hasher.hash(
                prev_hash, stream, version, event[3], event[4]
            ) != hash_:
                if len(suspects) < MAX_SUSPECTS and suspect_bytes < MAX_SUSPECT_BYTES:
                    suspects.append((_event(event), _hash_row(row)))
                    suspect_bytes += len(event[4])
                else:
                    findings.add(altered(name, _event(event), _hash_row(row)))
            folded = fold(stored, hash_)
            if folded != log_hash:
                findings.add(log_link(name, _hash_row(row), previous))
            # Equal until a break, so one SHA-256 usually serves both chains.
            running = folded if running == stored else fold(running, hash_)
            stored = log_hash
            previous = nid
        for check in checks:
            check.passing(2**63 - 1, running, self.trusted, by_position)
        findings.extend(classify(name, suspects))
        held = {e.notification_id for e, _ in suspects}
        findings.extend(self._stream_links(name, broken.result(), missing, held))
        for check in checks:
            result.checkpoints += check.checked
            findings.extend(self._checkpoint_findings(conn, name, check))
        return findings.all()

    def _stream_links(
        self,
        name: str,
        broken: tuple[list[tuple[Any, ...]], int],
        missing: set[tuple[UUID, int]],
        suspects: set[int],
    ) -> Iterator[Finding]:
        """Gaps in a stream's versions, and prev_hash links that do not hold."""
        rows, unread = broken
        for nid, stream, version, pv, pn in rows:
            if nid in suspects or pn in suspects:
                continue  # reported as altered or reordered already
            first_missing = 1 if pv is None else pv + 1
            if version > first_missing:
                gone = [v for v in range(first_missing, version) if (stream, v) not in missing]
                if gone:
                    detail = f"the stream has no version {span(gone)} before this one"
                    yield Finding(name, EVENT_MISSING, nid, stream, version, detail)
            elif pv is None:
                detail = "the stream's first event does not chain from zero"
                yield Finding(name, CHAIN_BROKEN, nid, stream, version, detail)
            else:
                detail = (
                    f"its prev_hash is not the stored hash of version {pv} (#{pn}): "
                    "that event's hash was rewritten, or this one's"
                )
                yield Finding(name, CHAIN_BROKEN, nid, stream, version, detail)
        if unread:
            detail = f"{unread} more broken stream links not examined"
            yield Finding(name, CHAIN_BROKEN, None, None, None, detail)

    def _checkpoint_findings(
        self, conn: psycopg.Connection[Any], name: str, check: _CheckpointCheck
    ) -> list[Finding]:
        findings = []
        if check.bad_signature is not None:
            checkpoint, why, count = check.bad_signature
            more = f" ({count - 1} more after it)" if count > 1 else ""
            findings.append(
                Finding(
                    name,
                    BAD_SIGNATURE,
                    checkpoint.position,
                    None,
                    None,
                    f"{check.source} checkpoint at position {checkpoint.position}: {why}{more}",
                )
            )
        if check.mismatch is not None:
            checkpoint, count = check.mismatch
            more = f"; {count - 1} later checkpoints differ too" if count > 1 else ""
            nid, stream, version = _first_after(conn, name, check.last_good)
            findings.append(
                Finding(
                    name,
                    CHECKPOINT_MISMATCH,
                    nid,
                    stream,
                    version,
                    f"the {check.source} checkpoint at position {checkpoint.position} signed "
                    f"log hash {checkpoint.log_hash[:16]}..., which the log (or the other "
                    "copy of that checkpoint) contradicts: "
                    f"the log was changed after position {check.last_good} (the last "
                    f"checkpoint that matches), at or before {checkpoint.position}{more}",
                )
            )
        return findings


def _broken_links(conninfo: str, snapshot: str, name: str) -> tuple[list[tuple[Any, ...]], int]:
    """The stream-link rows that do not hold (at most ``MAX_LINK_ROWS``, and how many more).

    Runs on a connection of its own, in the walk's snapshot, while the walk runs: the
    database sorts every event by stream while Python hashes.
    """
    rows: list[tuple[Any, ...]] = []
    unread = 0
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            conn.execute(SQL("SET TRANSACTION SNAPSHOT {}").format(Literal(snapshot)))
            if not (_exists(conn, f"{name}_events") and _exists(conn, hashes_table(name))):
                return rows, unread
            with conn.cursor(name=f"links_{name}") as curs:
                curs.itersize = FETCH
                curs.execute(
                    LINKS.format(e=Identifier(f"{name}_events"), h=Identifier(hashes_table(name))),
                    (ZERO,),
                )
                for row in curs:
                    if len(rows) < MAX_LINK_ROWS:
                        rows.append(row)
                    else:
                        unread += 1
    return rows, unread


def _id(row: tuple[Any, ...] | None) -> int:
    assert row is not None
    return int(row[0])


def _first_after(
    conn: psycopg.Connection[Any], name: str, position: int
) -> tuple[int, UUID | None, int | None]:
    """The first stored event after ``position``: where a divergence can start."""
    if _exists(conn, f"{name}_events"):
        row = conn.execute(
            SQL(
                "SELECT notification_id, originator_id, originator_version FROM {}"
                " WHERE notification_id > %s ORDER BY notification_id LIMIT 1"
            ).format(Identifier(f"{name}_events")),
            (position,),
        ).fetchone()
        if row is not None:
            return int(row[0]), row[1], int(row[2])
    return position + 1, None, None
