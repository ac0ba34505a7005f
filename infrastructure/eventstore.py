"""The event store: eventsourcing's PostgreSQL persistence, plus our metadata and idempotency.

- :class:`LedgerMapper` adds the metadata envelope (event id, actor, channel, correlation and
  causation ids, idempotency key, schema version) to each stored event's state, from the
  :class:`~application.context.CommandContext` in force when it is saved. Domain events stay
  free of it; readers that need it use :func:`decode`.
- :class:`LedgerRecorder` writes a command's idempotency record in the same transaction as its
  events (the library's recorder serialises inserts with a table lock, so the log is gap-free),
  and the events' audit hashes (:mod:`infrastructure.audit.writer`, decision 0013). It seals
  personal fields (customer, ship-to, guest) with each customer's data key before they are
  written, answers included, so the chain covers ciphertext (decision 0018); it refuses to
  start without a master key rather than write them in the clear.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Notification,
    StoredEvent,
    UUIDAsHex,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import CheckViolation
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from application.context import SCHEMA_VERSION, context_of
from application.idempotency import IdempotencyRecord, PendingAnswer
from application.processes import ProcessMark
from infrastructure.audit import correlation
from infrastructure.audit.writer import ChainWriter
from infrastructure.privacy import Privacy, has_sealed, keystore
from infrastructure.privacy.crypto import master_keys

META = "_meta"


@dataclass(frozen=True)
class EventMeta:
    event_id: UUID
    schema_version: int
    actor: str
    channel: str | None
    correlation_id: str | None
    causation_id: str | None
    idempotency_key: str | None


class LedgerMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        context = context_of(domain_event)
        event_id = uuid4()
        state = dict(vars(domain_event))
        state[META] = {
            "event_id": event_id.hex,
            "schema_version": SCHEMA_VERSION,
            "actor": context.actor,
            "channel": context.channel,
            # A command without a correlation id starts a causal chain of its own.
            "correlation_id": context.correlation_id or event_id.hex,
            "causation_id": context.causation_id,
            "idempotency_key": context.idempotency_key,
        }
        shadow = object.__new__(type(domain_event))
        object.__setattr__(shadow, "__dict__", state)
        return super().to_stored_event(shadow)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event, _ = self.decode(stored_event)
        return event

    def decode(self, stored_event: StoredEvent) -> tuple[Any, EventMeta]:
        """The domain event and its metadata."""
        event = super().to_domain_event(stored_event)
        raw = event.__dict__.pop(META)
        meta = EventMeta(
            event_id=UUID(raw["event_id"]),
            schema_version=raw["schema_version"],
            actor=raw["actor"],
            channel=raw["channel"],
            correlation_id=raw["correlation_id"],
            causation_id=raw["causation_id"],
            idempotency_key=raw["idempotency_key"],
        )
        return event, meta


def make_transcoder() -> JSONTranscoder:
    """The same transcodings eventsourcing's Application registers by default."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    return transcoder


def make_mapper() -> LedgerMapper:
    return LedgerMapper(transcoder=make_transcoder())


LARGE_BATCH_BYTES = 256 * 1024

# A pooled connection is pinged before use only when it sat unused this long: a busy pool
# (every command takes a connection two or three times) would otherwise pay one round trip
# per take. A connection that died in between fails its statement, as without a ping.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_if_idle(conn: Any) -> None:
    now = time.monotonic()
    last = _last_checked.get(conn)
    _last_checked[conn] = now
    if last is None or now - last > PING_AFTER_IDLE_SECONDS:
        ConnectionPool.check_connection(conn)


# Keyed by connection, forgotten with it. The time is that of the last check, so the time
# since is never shorter than the idle time: a connection idle too long is always pinged.
_last_checked: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


class LedgerRecorder(PostgresApplicationRecorder):
    """Application recorder that also keeps idempotency answers, atomically with events."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        if datastore.pre_ping:
            # psycopg_pool keeps the check callable here; it takes no other hook for it.
            datastore.pool._check = _ping_if_idle
        prefix = events_table_name.removesuffix("_events")
        self.idempotency_table = Identifier(datastore.schema, f"{prefix}_idempotency")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " key text PRIMARY KEY,"
                " fingerprint text NOT NULL,"
                " answer bytea NOT NULL,"
                " recorded_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.idempotency_table)
        )
        self._insert_answer = SQL(
            "INSERT INTO {} (key, fingerprint, answer) VALUES (%s, %s, %s)"
        ).format(self.idempotency_table)
        # Where each process manager writing into this log has got to in the log it
        # follows: advanced in the transaction of the events it wrote (exactly once).
        self.tracking_table = Identifier(datastore.schema, f"{prefix}_process_tracking")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " process text NOT NULL, upstream text NOT NULL, position bigint NOT NULL,"
                " previous bigint NOT NULL DEFAULT 0,"
                " PRIMARY KEY (process, upstream),"
                " CONSTRAINT moves_forward CHECK (position > previous))"
            ).format(self.tracking_table)
        )
        # A position not beyond the stored one breaks the CHECK: a database error, so the
        # transaction (and the events in it) is rolled back. A Python exception would not do:
        # the library's pipelined insert catches it and commits before re-raising it.
        self._advance = SQL(
            "INSERT INTO {t} AS t (process, upstream, position) VALUES (%s, %s, %s) "
            "ON CONFLICT (process, upstream) DO UPDATE "
            "SET previous = t.position, position = EXCLUDED.position"
        ).format(t=self.tracking_table)
        # The audit hash chains, written in the events' transaction (decision 0013).
        self.chain = ChainWriter(datastore.schema, events_table_name)
        self.sql_create_statements.extend(self.chain.create_statements)
        # The audit history's index by correlation id (infrastructure/audit/correlation.py).
        self.sql_create_statements.extend(
            correlation.create_statements(datastore.schema, events_table_name)
        )
        # Customers' data keys (decision 0018): without a master key nothing starts.
        self.log = prefix
        self.privacy = Privacy(master_keys())
        self.sql_create_statements.extend(keystore.create_statements(datastore.schema))

    def create_table(self) -> None:
        super().create_table()
        # Events stored before the chain existed are hashed once, here (decision 0013).
        with self.datastore.get_connection() as conn:
            self.chain.catch_up(conn, self.lock_table_statements)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Insert events; a large batch (a price import) goes without pipeline mode.

        psycopg's pipeline mode stalls sending one very large statement: about 1 MB of
        events left the server waiting in ClientRead and the client in sync(), forever.
        Small batches, the hot path, keep the library's pipelined insert (one round trip).
        """
        stored_events, kwargs = self._seal(stored_events, kwargs)
        if sum(len(event.state) for event in stored_events) < LARGE_BATCH_BYTES:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_stored_events(curs, stored_events, **kwargs)
            inserted: Sequence[int] | None = self._fetch_ids_after_insert_events(
                curs, stored_events, **kwargs
            )
            return inserted

    def _seal(
        self, stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]
    ) -> tuple[Sequence[StoredEvent], dict[str, Any]]:
        """Personal fields of the events and of their idempotency answers, sealed."""
        answers: list[PendingAnswer] = kwargs.get("idempotency") or []
        subjects: set[str] = set()
        streams: set[tuple[str, str, UUID | str]] = set()
        for event in stored_events:
            for subject in self.privacy.subjects(event.state, event.originator_id):
                subjects.add(subject)
                streams.add((subject, self.log, event.originator_id))
        owners = []
        for answer in answers:
            # The answer's stream: its command's last event (rendered now only to find whose
            # data it holds; the real answer needs the position, known after the insert).
            owner = stored_events[answer.event_index if answer.event_index is not None else 0]
            owners.append(owner.originator_id)
            subjects |= self.privacy.subjects(answer.render(0), owner.originator_id)
        if not subjects:
            return stored_events, kwargs
        with self.datastore.get_connection() as conn:
            keys = self.privacy.keystore.ensure(conn, subjects, streams)
        sealed = [
            StoredEvent(
                originator_id=event.originator_id,
                originator_version=event.originator_version,
                topic=event.topic,
                state=self.privacy.seal(event.state, event.originator_id, keys),
            )
            for event in stored_events
        ]
        if answers:
            kwargs = {
                **kwargs,
                "idempotency": [
                    PendingAnswer(
                        key=answer.key,
                        fingerprint=answer.fingerprint,
                        render=self._sealed_render(answer, owner, keys),
                        event_index=answer.event_index,
                    )
                    for answer, owner in zip(answers, owners, strict=True)
                ],
            }
        return sealed, kwargs

    def _sealed_render(
        self, answer: PendingAnswer, owner: UUID | str, keys: dict[str, bytes]
    ) -> Callable[[int | None], bytes]:
        def render(position: int | None) -> bytes:
            return self.privacy.seal(answer.render(position), owner, keys)

        return render

    def select_events(self, originator_id: UUID | str, **kwargs: Any) -> Sequence[StoredEvent]:
        """The stream's events with personal fields revealed (or shown as erased)."""
        events: Sequence[StoredEvent] = super().select_events(originator_id, **kwargs)
        if not any(has_sealed(event.state) for event in events):
            return events
        with self.datastore.get_connection() as conn:
            states = self.privacy.reveal_sync(conn, [event.state for event in events])
        return [
            StoredEvent(e.originator_id, e.originator_version, e.topic, state)
            for e, state in zip(events, states, strict=True)
        ]

    def select_notifications(self, *args: Any, **kwargs: Any) -> Sequence[Notification]:
        """Notifications with personal fields revealed (process managers read these)."""
        notes: Sequence[Notification] = super().select_notifications(*args, **kwargs)
        if not any(has_sealed(note.state) for note in notes):
            return notes
        with self.datastore.get_connection() as conn:
            states = self.privacy.reveal_sync(conn, [note.state for note in notes])
        return [
            dataclasses.replace(note, state=state)
            for note, state in zip(notes, states, strict=True)
        ]

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Any, **kwargs: Any
    ) -> Any:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        # Still under the table lock; queued after the insert succeeded (a statement queued
        # behind a failed insert would turn its IntegrityError into PipelineAborted).
        self.chain.hash_new_events(curs)
        mark: ProcessMark | None = kwargs.get("process_mark")
        if mark is not None:  # already past it: a CheckViolation rolls the events back
            curs.execute(self._advance, (mark.process, mark.upstream, mark.position))
        answers: list[PendingAnswer] = kwargs.get("idempotency") or []
        if answers and ids:
            # Same transaction as the events: a duplicate key rolls them back with it.
            curs.executemany(
                self._insert_answer,
                [
                    (
                        answer.key,
                        answer.fingerprint,
                        answer.render(
                            None if answer.event_index is None else ids[answer.event_index]
                        ),
                    )
                    for answer in answers
                ],
            )
        return ids

    def personal_streams(self, subjects: list[str]) -> list[tuple[str, UUID]]:
        """(log, stream id) of every stream, of any log, holding data of ``subjects``."""
        with self.datastore.get_connection() as conn:
            return [
                (log, stream) for _, log, stream in self.privacy.keystore.streams(conn, subjects)
            ]

    def destroy_keys(self, subjects: list[str]) -> list[str]:
        """Destroy the subjects' data keys (crypto-shredding); those that had a live one."""
        with self.datastore.get_connection() as conn:
            return [s for s in subjects if self.privacy.keystore.destroy(conn, s)]

    def process_position(self, process: str, upstream: str) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT position FROM {} WHERE process = %s AND upstream = %s").format(
                    self.tracking_table
                ),
                (process, upstream),
            )
            row = curs.fetchone()
        return int(row["position"]) if row else 0

    def advance_process(self, mark: ProcessMark) -> bool:
        """Move a process past events it had nothing to write for; False if already past."""
        try:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self._advance, (mark.process, mark.upstream, mark.position))
        except (CheckViolation, IntegrityError):  # already past it
            return False
        return True

    def find_answer(self, key: str) -> IdempotencyRecord | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT fingerprint, answer FROM {} WHERE key = %s").format(
                    self.idempotency_table
                ),
                (key,),
            )
            row = curs.fetchone()
        if row is None:
            return None
        answer = bytes(row["answer"])
        if has_sealed(answer):
            with self.datastore.get_connection() as conn:
                (answer,) = self.privacy.reveal_sync(conn, [answer])
        return IdempotencyRecord(key=key, fingerprint=row["fingerprint"], answer=answer)

    def record_answer(self, record: IdempotencyRecord) -> bool:
        owner = uuid5(NAMESPACE_URL, f"idempotency:{record.key}")
        subjects = self.privacy.subjects(record.answer, owner)
        answer = record.answer
        if subjects:
            with self.datastore.get_connection() as conn:
                keys = self.privacy.keystore.ensure(conn, subjects, ())
            answer = self.privacy.seal(answer, owner, keys)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {} (key, fingerprint, answer) VALUES (%s, %s, %s) "
                    "ON CONFLICT (key) DO NOTHING"
                ).format(self.idempotency_table),
                (record.key, record.fingerprint, answer),
            )
            return curs.rowcount == 1


def application_env(conninfo: str, *, pool_size: int = 8) -> dict[str, str]:
    """eventsourcing settings for a database given as a libpq conninfo string or URL.

    The library takes no URI, only POSTGRES_* settings, so the conninfo is split here.
    """
    parts = conninfo_to_dict(conninfo)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "localhost"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": "y",
        "MAPPER_TOPIC": get_topic(LedgerMapper),
        "APPLICATION_RECORDER_TOPIC": get_topic(LedgerRecorder),
    }


def events_table(application_name: str) -> str:
    """eventsourcing names an application's table ``<name>_events``."""
    return f"{application_name.lower()}_events"
