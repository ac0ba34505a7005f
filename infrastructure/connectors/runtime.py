"""The connector runtime: one durable JetStream pull consumer per connector, in strict order.

- Order: the consumer has ``max_ack_pending=1``, so JetStream hands out the next event only
  after the current one was acked. A failing event is nak'ed with a delay and redelivered
  before anything after it, so no event of a stream is handled before an earlier one.
- Retries: attempt *n* that fails is retried after ``backoff[n-1]`` (the last entry
  repeating); after ``max_deliver`` attempts, or at once on :class:`PermanentFailure`, the
  event goes to the dead letters with its reason and attempt count, and the connector moves
  on. The bound is enforced here, not by the server's ``max_deliver``, which would drop the
  event silently.
- Dedup: every handled (or dead-lettered) event id is recorded in ``connector_handled`` in
  the transaction of the handler's own state; a redelivery of a recorded event is acked and
  skipped. At-least-once delivery thus gives exactly-once effects in PostgreSQL.
- History: starting from the beginning or a time opens a *backfill*. The first event
  JetStream delivers shows where its history starts; anything before it that the connector
  asked for (dropped by retention, or stored before the stream existed) is read from the
  PostgreSQL log first, through the same handler and dedup. Overlap is harmless.
- Shutdown: ``stop`` is checked between events, so an in-flight handler always finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import nats
import psycopg
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from infrastructure.connectors import deadletter, store
from infrastructure.connectors.base import Connector, Context, PermanentFailure
from infrastructure.connectors.start import Start
from infrastructure.connectors.subjects import any_matches
from infrastructure.envelope import STREAM_NAME, Envelope
from infrastructure.log_reader import LOGS, LogReader
from infrastructure.messaging import connect
from infrastructure.metrics import (
    CONNECTOR_DEAD_LETTERED,
    CONNECTOR_FAILED,
    CONNECTOR_HANDLED,
    CONNECTOR_LAG,
    CONNECTOR_SKIPPED,
)
from infrastructure.public_events import registered
from infrastructure.relay import stream_config

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Options:
    max_deliver: int = 8  # attempts per event, the first included
    backoff: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)  # seconds between attempts
    ack_wait: float = 30.0  # JetStream redelivers after this much silence (a crashed worker)
    fetch_timeout: float = 1.0  # also how soon a stop is noticed while idle
    backfill_batch: int = 500
    logs: tuple[str, ...] = LOGS  # logs a backfill can read from PostgreSQL

    def delay(self, attempt: int) -> float:
        if not self.backoff:
            return 0.0
        return self.backoff[min(attempt, len(self.backoff)) - 1]


@dataclass(frozen=True)
class Failure:
    reason: str
    permanent: bool


class Stopping(Exception):
    """A stop was asked for while waiting to retry; the backfill resumes next run."""


def consumer_name(connector: str) -> str:
    return f"ledgerline-connector-{connector}"


class ConnectorRunner:
    def __init__(
        self,
        connector: Connector,
        conninfo: str,
        nats_url: str,
        options: Options | None = None,
    ) -> None:
        self.connector = connector
        self.name = connector.name
        self.conninfo = conninfo
        self.nats_url = nats_url
        self.options = options or Options()
        # Only the logs holding events this connector subscribes to: a backfill of another
        # log would wait for a JetStream event that this consumer is never sent.
        wanted = {t.log for t in registered() if any_matches(connector.subjects, t.subject)}
        self.readers = {name: LogReader(name) for name in self.options.logs if name in wanted}
        self.ready = asyncio.Event()  # set once the consumer exists and the session is on
        self.pending: dict[str, int] = {}  # open backfills: log -> next position wanted
        self._prepared = False
        self._dirty = False
        self.log = log.bind(connector=self.name)

    async def run(
        self,
        stop: asyncio.Event,
        start: Start | None = None,
        *,
        restart: bool = False,
        forget_handled: bool = False,
    ) -> None:
        """Handle events until ``stop`` is set, riding out restarts of either server.

        ``start`` applies when the durable consumer is created (the first run, or with
        ``restart``). ``forget_handled`` also drops the dedup record and the connector's
        state, so every event from ``start`` on is handled again.
        """
        start = start or Start("beginning")
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._session(stop, start, restart, forget_handled)
            except Exception as error:  # nothing was acked past what was committed: retry
                self.log.warning(
                    "connector.retry", error=f"{type(error).__name__}: {error}", retry_in=backoff
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 10.0)
            else:
                backoff = 0.2

    async def reposition(self, start: Start, *, forget_handled: bool = False) -> None:
        """Recreate the consumer at ``start`` (a replay) without handling anything now.

        A worker that is running binds to the new consumer on its next session.
        """
        async with self._connected() as (conn, js):
            await self._prepare(conn, js, start, True, forget_handled)

    @contextlib.asynccontextmanager
    async def _connected(
        self,
    ) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], JetStreamContext]]:
        client = await connect(
            self.nats_url, f"ledgerline-connector-{self.name}", max_reconnect_attempts=0
        )
        try:
            js = client.jetstream(timeout=5)
            try:
                await js.stream_info(STREAM_NAME)
            except NotFoundError:
                await js.add_stream(stream_config())
            await deadletter.ensure_stream(js)
            async with await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True
            ) as conn:
                await store.create_tables(conn)
                await self.connector.setup(conn)
                yield conn, js
        finally:
            await self.connector.close()
            await client.close()

    async def _session(
        self, stop: asyncio.Event, start: Start, restart: bool, forget: bool
    ) -> None:
        async with self._connected() as (conn, js):
            if not self._prepared:
                await self._prepare(conn, js, start, restart, forget)
                self._prepared = True
            sub = await js.pull_subscribe_bind(durable=consumer_name(self.name), stream=STREAM_NAME)
            self.pending = await store.open_backfills(conn, self.name)
            self.ready.set()
            self.log.info("connector.started", backfills=self.pending)
            with contextlib.suppress(Stopping):
                await self._consume(conn, js, sub, stop)
            await self.connector.caught_up(conn)
            self.log.info("connector.stopped")

    async def _prepare(
        self,
        conn: psycopg.AsyncConnection[Any],
        js: JetStreamContext,
        start: Start,
        restart: bool,
        forget: bool,
    ) -> None:
        try:
            await js.consumer_info(STREAM_NAME, consumer_name(self.name))
            exists = True
        except NotFoundError:
            exists = False
        if exists and (restart or forget):
            await js.delete_consumer(STREAM_NAME, consumer_name(self.name))
            exists = False
        if forget:
            async with conn.transaction():
                await store.forget(conn, self.name)
                await self.connector.reset(conn)
        if exists:
            return
        await store.clear_backfills(conn, self.name)
        # The backfill is recorded before the consumer exists: a crash in between makes the
        # next run create both again, never a consumer without its backfill.
        if start.needs_history:
            for name, reader in self.readers.items():
                if await reader.head(conn) == 0:
                    continue  # nothing stored yet: all of it will come through JetStream
                first = (
                    1 if start.time is None else await reader.first_position_at(conn, start.time)
                )
                await store.set_backfill(conn, self.name, name, first)
        config = ConsumerConfig(
            durable_name=consumer_name(self.name),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.options.ack_wait,
            max_deliver=-1,
            max_ack_pending=1,
            filter_subjects=list(self.connector.subjects),
        )
        await js.add_consumer(STREAM_NAME, start.apply(config))
        self.log.info("connector.consumer_created", start=start.kind)

    async def _consume(
        self,
        conn: psycopg.AsyncConnection[Any],
        js: JetStreamContext,
        sub: JetStreamContext.PullSubscription,
        stop: asyncio.Event,
    ) -> None:
        while not stop.is_set():
            try:
                messages = await sub.fetch(1, timeout=self.options.fetch_timeout)
            except nats.errors.TimeoutError:
                CONNECTOR_LAG.labels(self.name).set(0)
                # Nothing in JetStream for us: what the backfill wants is all in PostgreSQL.
                await self._backfill_to_head(conn, js, stop)
                await self._caught_up(conn)
                await self.connector.idle(conn)
                continue
            for message in messages:
                await self._on_message(conn, js, message, stop)
                if message.metadata.num_pending == 0:
                    await self._caught_up(conn)

    async def _on_message(
        self,
        conn: psycopg.AsyncConnection[Any],
        js: JetStreamContext,
        message: Msg,
        stop: asyncio.Event,
    ) -> None:
        CONNECTOR_LAG.labels(self.name).set(message.metadata.num_pending)
        try:
            envelope = msgspec.json.decode(message.data, type=Envelope)
        except msgspec.DecodeError as error:
            # Not ours to handle and no envelope to dead-letter: terminate it, loudly.
            self.log.error(
                "connector.undecodable",
                sequence=message.metadata.sequence.stream,
                error=str(error),
            )
            await message.term()
            return
        wanted = self.pending.get(envelope.log)
        if wanted is not None:
            if envelope.position < wanted:  # before the start, or already backfilled
                await message.ack()
                return
            if envelope.position > wanted:  # JetStream no longer has these: PostgreSQL does
                async with self._keepalive(message):
                    try:
                        await self._backfill(
                            conn, js, envelope.log, wanted, envelope.position - 1, stop
                        )
                    except Stopping:
                        await message.nak()
                        raise
            await store.close_backfill(conn, self.name, envelope.log)
            del self.pending[envelope.log]
            self.log.info("connector.backfill_closed", log=envelope.log, at=envelope.position)
        await self._deliver(conn, js, envelope, message)

    async def _deliver(
        self,
        conn: psycopg.AsyncConnection[Any],
        js: JetStreamContext,
        envelope: Envelope,
        message: Msg,
    ) -> None:
        attempt = message.metadata.num_delivered
        async with self._keepalive(message):
            failure = await self._attempt(conn, js, envelope, attempt, "jetstream")
        if failure is None:
            await message.ack()
        elif failure.permanent or attempt >= self.options.max_deliver:
            await self._dead_letter(
                conn, js, envelope, failure, attempt, message.metadata.sequence.stream
            )
            await message.ack()
        else:
            await message.nak(delay=self.options.delay(attempt))

    async def _attempt(
        self,
        conn: psycopg.AsyncConnection[Any],
        js: JetStreamContext,
        envelope: Envelope,
        attempt: int,
        source: str,
    ) -> Failure | None:
        try:
            async with conn.transaction():
                # The dedup record first, in the handler's transaction: a redelivery of an
                # event already handled stops here, before its handler runs again, and
                # costs no separate lookup.
                await store.record(conn, self.name, envelope)
                await self.connector.handle(envelope, Context(self.name, conn, js, attempt))
        except store.AlreadyHandled:
            CONNECTOR_SKIPPED.labels(self.name).inc()
            return None
        except Exception as error:
            if conn.broken or conn.closed:
                raise  # the session's fault, not the event's: start a new session
            CONNECTOR_FAILED.labels(self.name).inc()
            reason = f"{type(error).__name__}: {error}"
            self.log.warning(
                "connector.attempt_failed",
                event_id=envelope.id,
                subject=envelope.subject,
                attempt=attempt,
                reason=reason,
            )
            return Failure(reason, isinstance(error, PermanentFailure))
        CONNECTOR_HANDLED.labels(self.name, source).inc()
        self._dirty = True
        return None

    async def _dead_letter(
        self,
        conn: psycopg.AsyncConnection[Any],
        js: JetStreamContext,
        envelope: Envelope,
        failure: Failure,
        attempts: int,
        sequence: int | None,
    ) -> None:
        # Published before it is recorded: a crash in between gives the event another try
        # and then the same dead letter again, which its message id deduplicates.
        await deadletter.publish(
            js,
            self.name,
            envelope,
            reason=failure.reason,
            attempts=attempts,
            stream_sequence=sequence,
        )
        with contextlib.suppress(store.AlreadyHandled):
            async with conn.transaction():
                await store.record(conn, self.name, envelope, store.DEAD_LETTERED, failure.reason)
        CONNECTOR_DEAD_LETTERED.labels(self.name).inc()
        self.log.error(
            "connector.dead_lettered",
            event_id=envelope.id,
            subject=envelope.subject,
            attempts=attempts,
            reason=failure.reason,
        )

    # -- backfill from PostgreSQL ------------------------------------------------------------

    async def _backfill_to_head(
        self, conn: psycopg.AsyncConnection[Any], js: JetStreamContext, stop: asyncio.Event
    ) -> None:
        for name, wanted in list(self.pending.items()):
            head = await self.readers[name].head(conn)
            if head >= wanted:
                await self._backfill(conn, js, name, wanted, head, stop)

    async def _backfill(
        self,
        conn: psycopg.AsyncConnection[Any],
        js: JetStreamContext,
        name: str,
        first: int,
        last: int,
        stop: asyncio.Event,
    ) -> None:
        """Handle positions ``first..last`` of log ``name`` from PostgreSQL, in order."""
        self.log.info("connector.backfill", log=name, first=first, last=last)
        reader = self.readers[name]
        after = first - 1
        try:
            while after < last:
                batch = await reader.read(conn, after, self.options.backfill_batch, last)
                if not batch:
                    break
                done = await store.handled_among(conn, self.name, [e.id for e in batch])
                for envelope in batch:
                    if stop.is_set():
                        raise Stopping
                    if envelope.id not in done and any_matches(
                        self.connector.subjects, envelope.subject
                    ):
                        await self._backfill_one(conn, js, envelope, stop)
                    after = envelope.position
        finally:
            if after >= first:
                self.pending[name] = after + 1
                await store.set_backfill(conn, self.name, name, after + 1)

    async def _backfill_one(
        self,
        conn: psycopg.AsyncConnection[Any],
        js: JetStreamContext,
        envelope: Envelope,
        stop: asyncio.Event,
    ) -> None:
        attempt = 1
        while True:
            failure = await self._attempt(conn, js, envelope, attempt, "backfill")
            if failure is None:
                return
            if failure.permanent or attempt >= self.options.max_deliver:
                await self._dead_letter(conn, js, envelope, failure, attempt, None)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.delay(attempt))
            if stop.is_set():
                raise Stopping
            attempt += 1

    # -- helpers -----------------------------------------------------------------------------

    async def _caught_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._dirty:
            await self.connector.caught_up(conn)
            self._dirty = False

    @contextlib.asynccontextmanager
    async def _keepalive(self, message: Msg) -> AsyncIterator[None]:
        """Tell JetStream a slow handler is still working, so it does not redeliver."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.options.ack_wait / 3)
                with contextlib.suppress(Exception):
                    await message.in_progress()

        task = asyncio.ensure_future(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
