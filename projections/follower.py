"""Follow an application's notification log into a projection, exactly once.

Each batch is one transaction with one tracking write: the projection's rows and its
tracking position commit together, so a crash replays at most an uncommitted batch, never
applies an event twice.
The event store commits notification ids in order (its table lock), so reading
``id > position`` never passes over an event that commits later.

New events are announced by NOTIFY; since a LISTEN connection can go quiet without error,
the follower also polls on a timer, and reconnects after any connection failure.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import psycopg
import structlog
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier

from infrastructure.eventstore import EventMeta, LedgerMapper, make_mapper
from infrastructure.metrics import PROJECTION_FAILURES
from infrastructure.privacy import reveal_states

log = structlog.get_logger(__name__)


class Projection(Protocol):
    name: str

    def setup(self, conn: psycopg.Connection[Any]) -> None:
        """Create the read-model tables and the tracking row if missing."""

    def position(self, conn: psycopg.Connection[Any], *, lock: bool = False) -> int:
        """The last notification id applied (0 for none); ``lock`` holds the tracking row
        until the transaction ends, so two followers of one projection take turns."""

    def apply(self, cur: psycopg.Cursor[Any], event: Any, meta: EventMeta, position: int) -> None:
        """Apply one event inside the batch's transaction."""

    def advance(self, cur: psycopg.Cursor[Any], position: int) -> None:
        """Record ``position`` as applied, inside the batch's transaction."""


class Follower:
    def __init__(
        self,
        conninfo: str,
        events_table: str,
        projection: Projection,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        mapper: LedgerMapper | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.events_table = events_table
        self.projection = projection
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.mapper = mapper or make_mapper()
        self._select = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(Identifier(events_table))

    def setup(self) -> None:
        with psycopg.connect(self.conninfo) as conn:
            self.projection.setup(conn)

    def catch_up(self, conn: psycopg.Connection[Any]) -> int:
        """Apply every committed event not yet applied; return how many."""
        total = 0
        while True:
            with conn.transaction(), conn.cursor() as cur:
                start = self.projection.position(conn, lock=True)
                rows = cur.execute(self._select, (start, self.batch_size)).fetchall()
                states = reveal_states(conn, [bytes(row[4]) for row in rows])
                decoded = [
                    (
                        *self.mapper.decode(StoredEvent(originator_id, version, topic, state)),
                        notification_id,
                    )
                    for (notification_id, originator_id, version, topic, _), state in zip(
                        rows, states, strict=True
                    )
                ]
                apply_batch = getattr(self.projection, "apply_batch", None)
                if apply_batch is not None:
                    apply_batch(cur, decoded)
                else:
                    for event, meta, position in decoded:
                        self.projection.apply(cur, event, meta, position)
                if rows:
                    self.projection.advance(cur, rows[-1][0])
            total += len(rows)
            if len(rows) < self.batch_size:
                return total

    def run(self, stop: threading.Event) -> None:
        """Follow the log until ``stop`` is set, surviving database restarts."""
        channel = self.events_table.replace(".", "_")
        backoff = 0.2
        while not stop.is_set():
            try:
                with (
                    psycopg.connect(self.conninfo, autocommit=True) as listener,
                    psycopg.connect(self.conninfo) as worker,
                ):
                    listener.execute(SQL("LISTEN {}").format(Identifier(channel)))
                    while not stop.is_set():
                        self.catch_up(worker)
                        backoff = 0.2  # reset only once a catch-up succeeded
                        # Returns on the first notification or after the poll interval.
                        for _ in listener.notifies(timeout=self.poll_interval, stop_after=1):
                            pass
            except psycopg.OperationalError as error:
                log.warning(
                    "projection.connection_lost",
                    projection=self.projection.name,
                    error=str(error),
                    retry_in=backoff,
                )
            except Exception:
                # An event this projection cannot apply must not kill the thread silently:
                # say so loudly, count it, and try again (the batch was rolled back).
                PROJECTION_FAILURES.labels(self.projection.name).inc()
                log.exception(
                    "projection.batch_failed", projection=self.projection.name, retry_in=backoff
                )
            stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def start(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run, args=(stop,), name=f"projection-{self.projection.name}", daemon=True
        )
        thread.start()
        return thread, stop

    def wait(self, position: int, timeout: float = 10.0) -> None:
        """Block until the projection has applied ``position`` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while self.projection.position(conn) < position:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"projection {self.projection.name} did not reach {position}"
                    )
                time.sleep(0.01)

    def head(self) -> int:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            row = conn.execute(
                SQL("SELECT COALESCE(MAX(notification_id), 0) FROM {}").format(
                    Identifier(self.events_table)
                )
            ).fetchone()
        return int(row[0]) if row else 0
