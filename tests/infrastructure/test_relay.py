"""The relay puts every stored event on JetStream once, in log order, whatever crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import nats
import psycopg
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from application.inventory import InventoryApp
from domain.inventory import Inventory
from domain.network import ChannelKind, LocationKind
from infrastructure.envelope import STREAM_NAME, Envelope
from infrastructure.eventstore import application_env
from infrastructure.public_events import decode
from infrastructure.public_events.orders import OrderPlaced
from infrastructure.relay import Relay, start_in_thread
from infrastructure.servers import EmbeddedNats
from tests.infrastructure.support import ORDER_NUMBER, OrdersLog, order_story

EVENTS = 10_000


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server of this test's own, so restarting it disturbs no other test."""
    (tmp_path / "nats").mkdir()
    server = EmbeddedNats(tmp_path / "nats")
    try:
        yield server
    finally:
        server.close()


def _start_relay(database: str, nats_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
    }
    log = (tmp_path / "relay.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "relay"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _relayed(database: str, log: str = "inventory") -> int:
    with psycopg.connect(database) as conn:
        exists = conn.execute("SELECT to_regclass('relay_positions')").fetchone()
        if not exists or exists[0] is None:
            return 0
        row = conn.execute("SELECT position FROM relay_positions WHERE log = %s", (log,)).fetchone()
    return int(row[0]) if row else 0


def _wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def _read_stream(nats_url: str) -> list[tuple[str, Envelope]]:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        info = await js.stream_info(STREAM_NAME)
        sub = await js.pull_subscribe(
            "ledgerline.events.>",
            stream=STREAM_NAME,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )
        found: list[tuple[str, Envelope]] = []
        while len(found) < info.state.messages:
            for message in await sub.fetch(1000, timeout=5):
                found.append(
                    (
                        message.headers["Nats-Msg-Id"],  # type: ignore[index]
                        msgspec.json.decode(message.data, type=Envelope),
                    )
                )
        return found
    finally:
        await client.close()


def test_ten_thousand_events_reach_jetstream_once_each_in_order_despite_crashes(
    database: str, own_nats: EmbeddedNats, tmp_path: Path
) -> None:
    # Given 10,002 stored events and a relay process following the log
    app = InventoryApp(application_env(database, pool_size=2))
    try:
        app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
        app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])
        for n in range(EVENTS // 200):
            inventory = Inventory.register(f"SKU-{n}", "relayed")
            for _ in range(199):
                inventory.receive("WH1", 1)
            app.save(inventory)
        head = app.recorder.max_notification_id()
    finally:
        app.close()
    assert head == EVENTS + 2
    relay = _start_relay(database, own_nats.url, tmp_path)
    try:
        # When the relay is SIGKILLed twice mid-stream and restarted, and NATS restarts once
        for fraction in (0.25, 0.5):
            _wait_until(lambda f=fraction: _relayed(database) >= f * head, 120, "progress")
            relay.send_signal(signal.SIGKILL)
            relay.wait()
            relay = _start_relay(database, own_nats.url, tmp_path)
        _wait_until(lambda: _relayed(database) >= 0.75 * head, 120, "progress")
        own_nats.stop()
        time.sleep(0.5)
        own_nats.start()
        _wait_until(lambda: _relayed(database) == head, 180, "the relay to finish")
    finally:
        relay.terminate()
        relay.wait(timeout=20)

    # Then the stream holds each event exactly once, in the log's order
    stream = asyncio.run(_read_stream(own_nats.url))
    positions = [message.position for _, message in stream]
    assert positions == list(range(1, head + 1))
    assert len({msg_id for msg_id, _ in stream}) == head
    assert all(msg_id == message.id for msg_id, message in stream)
    first, last = stream[0][1], stream[-1][1]
    assert (first.type, first.stream_type) == ("Registered", "location")
    assert (last.type, last.stream_type, last.data) == (
        "StockReceived",
        "inventory",
        {"sku": f"SKU-{EVENTS // 200 - 1}", "location": "WH1", "quantity": 1},
    )


def test_the_orders_log_is_relayed_once_its_application_has_made_its_table(
    database: str, own_nats: EmbeddedNats
) -> None:
    # Given a database where only the inventory application has run (no orders table yet)
    app = InventoryApp(application_env(database, pool_size=1))
    try:
        app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
    finally:
        app.close()
    thread, stopping = start_in_thread(Relay(database, own_nats.url, poll_interval=0.05))
    try:
        # Then the relay publishes the inventory log regardless
        _wait_until(lambda: _relayed(database) == 1, 30, "the inventory log")
        # When the orders application's log appears and an order is placed in it
        orders = OrdersLog(application_env(database, pool_size=1))
        try:
            placed = order_story(datetime.now(UTC)).orders[0]
            orders.save(placed)
            head = orders.recorder.max_notification_id()
        finally:
            orders.close()
        # Then the relay finds the new log and publishes all of it
        _wait_until(lambda: _relayed(database, "orders") == head, 30, "the orders log")
    finally:
        stopping.set()
        thread.join(timeout=20)

    stream = [message for _, message in asyncio.run(_read_stream(own_nats.url))]
    assert [(m.log, m.position) for m in stream] == [("inventory", 1)] + [
        ("orders", n) for n in range(1, head + 1)
    ]
    first = stream[1]
    assert (first.subject, first.stream_id) == (
        "ledgerline.events.order.OrderPlaced",
        str(placed.id),
    )
    public = decode(first)
    assert isinstance(public, OrderPlaced)
    assert (public.channel, public.order_number) == ("web", ORDER_NUMBER)
    assert public.total.amount == "44.98"
    assert stream[-1].type == "OrderShipToErased"
