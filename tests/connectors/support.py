"""Helpers for connector tests: a relay and connectors on one event loop, and waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import msgspec
import nats
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from application.inventory import InventoryApp
from domain.network import ChannelKind, LocationKind
from infrastructure.connectors.base import Connector
from infrastructure.connectors.runtime import ConnectorRunner, Options
from infrastructure.connectors.start import Start
from infrastructure.connectors.subjects import any_matches
from infrastructure.envelope import Envelope
from infrastructure.eventstore import application_env
from infrastructure.log_reader import LogReader
from infrastructure.relay import Relay

FAST = Options(backoff=(0.05, 0.1, 0.2), max_deliver=5, ack_wait=5.0, fetch_timeout=0.2)


async def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` (sync or async) until true; the timeout only guards a hang."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def relaying(
    database: str, nats_url: str, retention: timedelta | None = None
) -> AsyncIterator[Relay]:
    relay = Relay(database, nats_url, poll_interval=0.05, retention=retention)
    stop = asyncio.Event()
    task = asyncio.ensure_future(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await task


@asynccontextmanager
async def running(
    connector: Connector,
    database: str,
    nats_url: str,
    start: Start | None = None,
    options: Options = FAST,
    **kwargs: bool,
) -> AsyncIterator[ConnectorRunner]:
    runner = ConnectorRunner(connector, database, nats_url, options)
    stop = asyncio.Event()
    task = asyncio.ensure_future(runner.run(stop, start, **kwargs))
    try:
        await wait_for(lambda: runner.ready.is_set() or task.done(), "the connector to start")
        if task.done():
            task.result()
        yield runner
    finally:
        stop.set()
        await task


async def stream_positions(nats_url: str) -> list[int]:
    """Log positions of every envelope now in LEDGERLINE_EVENTS, in stream order."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        try:
            info = await js.stream_info("LEDGERLINE_EVENTS")
        except nats.js.errors.NotFoundError:
            return []
        if info.state.messages == 0:
            return []
        sub = await js.pull_subscribe(
            "ledgerline.events.>",
            stream="LEDGERLINE_EVENTS",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )
        found: list[int] = []
        while len(found) < info.state.messages:
            for message in await sub.fetch(1000, timeout=5):
                found.append(msgspec.json.decode(message.data, type=Envelope).position)
        await sub.unsubscribe()
        return found
    finally:
        await client.close()


def network(app: InventoryApp) -> None:
    app.put_location("WH1", "Berlin", LocationKind.WAREHOUSE)
    app.put_location("ST1", "Store", LocationKind.STORE)
    app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1", "ST1"])
    app.put_channel("market", "Marketplace", ChannelKind.MARKETPLACE, ["WH1"])


async def write(database: str, work: Callable[[InventoryApp], None]) -> int:
    """Run ``work`` against the inventory application; the log's head after it."""

    def run() -> int:
        app = InventoryApp(application_env(database, pool_size=1))
        try:
            work(app)
            return int(app.recorder.max_notification_id() or 0)
        finally:
            app.close()

    return await asyncio.to_thread(run)


async def envelopes(database: str) -> list[Envelope]:
    """The whole inventory log, as published envelopes."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        return await LogReader().read(conn, 0, 1_000_000)


async def handled_ids(database: str, connector: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT event_id::text FROM connector_handled WHERE connector = %s", (connector,)
        )
        return {row[0] for row in await cur.fetchall()}


async def wait_handled(database: str, connector: str, subjects: Sequence[str]) -> None:
    """Until ``connector`` has handled every stored event its subjects select."""
    wanted = {e.id for e in await envelopes(database) if any_matches(subjects, e.subject)}

    async def done() -> bool:
        return wanted <= await handled_ids(database, connector)

    await wait_for(done, f"{connector} to handle {len(wanted)} events")
