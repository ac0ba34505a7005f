"""The relay: every stored event, in log order, onto NATS JetStream, exactly once.

Its position per log lives in PostgreSQL and moves only after JetStream acknowledged every
event up to it. A crash therefore re-publishes at most the unacknowledged tail, and the
stream's deduplication by ``Nats-Msg-Id`` (the event id) absorbs it, so the stream holds each
event once, in order. NOTIFY wakes the relay; it also polls, because a LISTEN connection
can go quiet without an error. Either server may restart: the relay waits and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import timedelta
from typing import Any

import msgspec
import nats
import psycopg
import structlog
from nats.js.api import StorageType, StreamConfig
from psycopg.sql import SQL, Identifier

from infrastructure.envelope import STREAM_NAME, SUBJECT_PREFIX
from infrastructure.eventstore import events_table
from infrastructure.log_reader import LOGS, LogReader
from infrastructure.messaging import connect, replicas
from infrastructure.metrics import RELAY_FAILURES, RELAY_PUBLISHED

log = structlog.get_logger(__name__)

# Longer than the relay's longest retry, so a re-published tail is always deduplicated.
DUPLICATE_WINDOW = timedelta(minutes=10)
POSITIONS = """
CREATE TABLE IF NOT EXISTS relay_positions (log text PRIMARY KEY, position bigint NOT NULL)
"""


def stream_config(max_age: timedelta | None = None) -> StreamConfig:
    # JetStream refuses a duplicate window longer than the retention.
    window = min(DUPLICATE_WINDOW, max_age) if max_age else DUPLICATE_WINDOW
    return StreamConfig(
        name=STREAM_NAME,
        subjects=[f"{SUBJECT_PREFIX}.>"],
        storage=StorageType.FILE,
        duplicate_window=window.total_seconds(),
        max_age=max_age.total_seconds() if max_age else None,
        num_replicas=replicas(),
    )


class Relay:
    def __init__(
        self,
        conninfo: str,
        nats_url: str,
        logs: tuple[str, ...] = LOGS,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retention: timedelta | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.nats_url = nats_url
        self.logs = logs
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self.readers = {name: LogReader(name) for name in logs}

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set, riding out restarts of either server."""
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._session(stop)
            except Exception as error:  # any failure: nothing advanced past an ack; retry
                RELAY_FAILURES.inc()
                log.warning(
                    "relay.retry", error=f"{type(error).__name__}: {error}", retry_in=backoff
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 10.0)
            else:
                backoff = 0.2

    async def _session(self, stop: asyncio.Event) -> None:
        client = await connect(self.nats_url, "ledgerline-relay", max_reconnect_attempts=0)
        try:
            js = client.jetstream(timeout=5)
            try:
                await js.add_stream(stream_config(self.retention))
            except nats.js.errors.BadRequestError:
                await js.update_stream(stream_config(self.retention))
            async with await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True
            ) as conn:
                await conn.execute(POSITIONS)
                for name in self.logs:
                    await conn.execute(SQL("LISTEN {}").format(Identifier(events_table(name))))
                while not stop.is_set():
                    published = 0
                    for name in self.logs:
                        published += await self._publish_batch(conn, js, name)
                    if published == 0:
                        await self._wait(conn, stop)
        finally:
            await client.close()

    async def _wait(self, conn: psycopg.AsyncConnection[Any], stop: asyncio.Event) -> None:
        async def notified() -> None:
            async for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                pass

        waiter = asyncio.ensure_future(notified())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            task.cancel()

    async def _publish_batch(self, conn: psycopg.AsyncConnection[Any], js: Any, name: str) -> int:
        cur = await conn.execute(
            "SELECT COALESCE((SELECT position FROM relay_positions WHERE log = %s), 0)", (name,)
        )
        row = await cur.fetchone()
        start = int(row[0]) if row else 0
        messages = await self.readers[name].read(conn, start, self.batch_size)
        for message in messages:
            # One at a time: the stream's order is the log's order.
            await js.publish(
                message.subject, msgspec.json.encode(message), headers={"Nats-Msg-Id": message.id}
            )
            RELAY_PUBLISHED.labels(name).inc()
        if messages:
            await conn.execute(
                "INSERT INTO relay_positions VALUES (%s, %s) ON CONFLICT (log) "
                "DO UPDATE SET position = EXCLUDED.position",
                (name, messages[-1].position),
            )
        return len(messages)


def start_in_thread(relay: Relay) -> tuple[threading.Thread, threading.Event]:
    """Run ``relay`` on an event loop of its own thread (as ``ledgerline up`` does)."""
    stopping = threading.Event()

    def main() -> None:
        async def supervised() -> None:
            stop = asyncio.Event()
            task = asyncio.ensure_future(relay.run(stop))
            while not stopping.is_set():
                await asyncio.sleep(0.2)
            stop.set()
            await task

        asyncio.run(supervised())

    thread = threading.Thread(target=main, name="relay", daemon=True)
    thread.start()
    return thread, stopping
