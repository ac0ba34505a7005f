"""The runtime: in order, each event once, retries, dead letters, dedup across restarts."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

import msgspec
import nats
import psycopg

from domain.order import Order
from infrastructure.connectors.base import ALL_EVENTS, FunctionConnector, PermanentFailure
from infrastructure.connectors.runtime import consumer_name
from infrastructure.connectors.start import Start
from infrastructure.envelope import STREAM_NAME, DeadLetter, Envelope
from infrastructure.eventstore import application_env
from tests.connectors.support import (
    network,
    relaying,
    running,
    wait_for,
    wait_handled,
    write,
)
from tests.infrastructure.support import OrdersLog, order_story


def _stock(sku: str, n: int):
    def work(app) -> None:
        app.register_sku(sku, sku)
        for _ in range(n):
            app.receive(sku, "WH1", 1)

    return work


def test_every_event_is_handled_once_in_order_with_retries_and_dead_letters(
    database: str, nats_url: str
) -> None:
    seen: list[Envelope] = []
    attempts: dict[str, int] = defaultdict(int)

    async def handler(envelope: Envelope) -> None:
        attempts[envelope.id] += 1
        flaky = envelope.data.get("sku") == "FLAKY" and envelope.stream_version == 3
        if flaky and attempts[envelope.id] <= 2:
            raise RuntimeError("flaky downstream")
        if envelope.data.get("sku") == "POISON" and envelope.stream_version == 2:
            raise PermanentFailure("downstream refuses this one")
        seen.append(envelope)

    async def scenario() -> None:
        await write(database, network)
        async with relaying(database, nats_url):
            connector = FunctionConnector("collect", handler)
            async with running(connector, database, nats_url, Start("beginning")):
                for sku in ("A", "FLAKY", "POISON", "B"):
                    head = await write(database, _stock(sku, 4))
                await wait_for(lambda: seen and seen[-1].position == head, "every event")
            # A second run of the same connector handles nothing again
            async with running(connector, database, nats_url, Start("beginning")) as again:
                await asyncio.sleep(0.5)
                assert again.pending == {}
            client = await nats.connect(nats_url)
            js = client.jetstream()
            dead = await js.get_last_msg("LEDGERLINE_DEADLETTER", "ledgerline.deadletter.collect")
            await client.close()
            letter = msgspec.json.decode(dead.data, type=DeadLetter)
            assert letter.envelope.data["sku"] == "POISON"
            assert "refuses" in letter.reason
            assert letter.attempts == 1

    asyncio.run(scenario())
    positions = [e.position for e in seen]
    poison = [e for e in seen if e.data.get("sku") == "POISON"]
    assert [e.stream_version for e in poison] == [1, 3, 4, 5]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions) == 4 + 4 * 5 - 1
    flaky = next(e for e in seen if e.data.get("sku") == "FLAKY" and e.stream_version == 3)
    assert attempts[flaky.id] == 3
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT outcome, count(*) FROM connector_handled GROUP BY outcome ORDER BY 1"
        ).fetchall()
    assert rows == [("dead_lettered", 1), ("handled", 23)]


def test_a_connector_of_order_events_gets_the_orders_log_from_postgresql_then_live(
    database: str, nats_url: str
) -> None:
    seen: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        seen.append(envelope)

    def save(*orders: Order) -> int:
        log = OrdersLog(application_env(database, pool_size=1))
        try:
            log.save(*orders)
            return int(log.recorder.max_notification_id() or 0)
        finally:
            log.close()

    story = order_story(datetime.now(UTC))
    connector = FunctionConnector("orders", handler, ("ledgerline.events.order.>",))

    async def scenario() -> None:
        await write(database, network)
        # Stored before any relay ran: only PostgreSQL has them
        before = await asyncio.to_thread(save, *story.orders[:2])
        async with running(connector, database, nats_url, Start("beginning")) as runner:
            assert set(runner.readers) == {"orders"}
            await wait_for(lambda: len(seen) == before, "the backfill from PostgreSQL")
            async with relaying(database, nats_url):
                head = await asyncio.to_thread(save, story.orders[2])
                await wait_for(lambda: seen[-1].position == head, "the live order events")
                assert runner.pending == {}

    asyncio.run(scenario())
    assert [(e.log, e.position) for e in seen] == [("orders", n) for n in range(1, len(seen) + 1)]
    assert {e.stream_type for e in seen} == {"order"}
    assert [e.type for e in seen][-3:] == ["OrderPlaced", "OrderExpired", "OrderPersonalDataErased"]


def test_events_delivered_again_are_skipped_before_their_handler_runs(
    database: str, nats_url: str
) -> None:
    calls: list[str] = []

    async def handler(envelope: Envelope) -> None:
        calls.append(envelope.id)

    async def delivered_all(name: str, total: int) -> bool:
        client = await nats.connect(nats_url)
        try:
            info = await client.jetstream().consumer_info(STREAM_NAME, consumer_name(name))
        finally:
            await client.close()
        return info.delivered.stream_seq >= total and not info.num_ack_pending

    async def scenario() -> None:
        await write(database, network)
        async with relaying(database, nats_url):
            await write(database, _stock("A", 5))
            connector = FunctionConnector("once", handler)
            # Given a connector that handled every event from JetStream
            async with running(connector, database, nats_url, Start("seq", sequence=1)):
                await wait_handled(database, "once", ALL_EVENTS)
            first = list(calls)
            # When its consumer starts over at the stream's first event (no backfill)
            async with running(
                connector, database, nats_url, Start("seq", sequence=1), restart=True
            ):
                await wait_for(lambda: delivered_all("once", len(first)), "the redeliveries")
            # Then every event came again, and no handler ran a second time
            assert calls == first
            assert len(set(first)) == len(first) > 5

    asyncio.run(scenario())
    with psycopg.connect(database) as conn:
        count = conn.execute("SELECT count(*) FROM connector_handled").fetchone()
    assert count == (len(calls),)
