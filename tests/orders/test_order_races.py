"""The orders must-shows, against the real servers: no oversell when four channels race
200 orders for 50 units, one order per channel order number however often it is placed at
once, and a saga killed with SIGKILL mid-burst that finishes every order after a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from api.services import Services
from application.inventory import InventoryApp
from application.order_saga import OrderSaga
from application.orders import OrdersApp
from domain.order import FINAL, OrderStatus, order_id
from infrastructure.eventstore import application_env
from infrastructure.servers import ServerUrls
from tests.conftest import settle
from tests.orders.support import CHANNELS, SHIP_TO, add_channel, lines, merchant

ROOT = Path(__file__).resolve().parents[2]
WEB_CHANNELS = [c for c in CHANNELS if c != "store-pos"] + ["outlet"]


@contextmanager
def instances(services: Services, database: str, count: int) -> Iterator[list[OrdersApp]]:
    """``count`` independent orders applications on one database, as separate API
    processes would be (each with its own inventory application and caches)."""
    built = []
    for _ in range(count):
        inventory = InventoryApp(application_env(database, pool_size=4))
        built.append(
            OrdersApp(application_env(database, pool_size=4), inventory, services.price_book)
        )
    try:
        yield built
    finally:
        for app in built:
            app.inventory.close()
            app.close()


def wait_final(
    app: OrdersApp, placed: list[tuple[str, str]], timeout: float = 60
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = Counter(app.order(c, n).status.value for c, n in placed)
        if all(OrderStatus(s) in FINAL | {OrderStatus.CONFIRMED} for s in statuses) and (
            OrderStatus.PLACED.value not in statuses
        ):
            return dict(statuses)
        assert time.monotonic() < deadline, f"orders not final: {statuses}"
        time.sleep(0.2)


def reserved_by_location(services: Services, sku: str) -> dict[str, tuple[int, int]]:
    stock = services.inventory.stock(sku)
    return {code: (s.on_hand, s.reserved) for code, s in stock.stock.items()}


def open_order_units(app: OrdersApp, placed: list[tuple[str, str]], sku: str) -> int:
    return sum(app.order(c, n).open_quantities().get(sku, 0) for c, n in placed)


def test_four_channels_racing_200_orders_for_50_units_reserve_exactly_50(
    services: Services, database: str
) -> None:
    # Given 50 units of HOT across two warehouses, sold by four channels
    merchant(services, {"HOT": {"NORTH": 25, "SOUTH": 25}})
    add_channel(services, "outlet", ["NORTH", "SOUTH"], ["HOT"])
    with instances(services, database, 4) as apps:
        # and two competing saga workers on their own application instances
        sagas = [OrderSaga(app, app.inventory) for app in apps[:2]]
        running = [p.start() for saga in sagas for p in saga.processes()]
        # When 200 clients, 50 per channel, place one-unit orders at the same moment
        barrier = threading.Barrier(200)
        told: Counter[str] = Counter()
        lock = threading.Lock()

        def client(n: int) -> tuple[str, str]:
            channel, number = WEB_CHANNELS[n % 4], f"R-{n}"
            app = apps[n % 4]
            barrier.wait()
            body = app.place(
                channel=channel,
                order_number=number,
                lines=lines("HOT"),
                currency="EUR",
                ship_to=SHIP_TO,
            ).body
            with lock:
                told[body["status"]] += 1
            return channel, number

        with ThreadPoolExecutor(max_workers=200) as pool:
            placed = [f.result() for f in [pool.submit(client, n) for n in range(200)]]
        try:
            # Then every order ends confirmed or rejected, exactly 50 of them confirmed
            outcome = wait_final(apps[0], placed)
        finally:
            for _, stop in running:
                stop.set()
            for thread, _ in running:
                thread.join(timeout=10)
    assert told == Counter(placed=200)
    assert outcome == {"confirmed": 50, "rejected": 150}
    # and exactly 50 units are reserved, no location below zero, one hold per order
    stock = reserved_by_location(services, "HOT")
    assert sum(reserved for _, reserved in stock.values()) == 50
    assert all(0 <= reserved <= on_hand for on_hand, reserved in stock.values())
    assert open_order_units(services.orders, placed, "HOT") == 50
    # and every channel's ATP, in the read model, says 0
    settle(services)
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT channel, atp FROM atp.availability WHERE sku = 'HOT' AND channel = ANY(%s)",
            (WEB_CHANNELS,),
        ).fetchall()
    assert dict(rows) == dict.fromkeys(WEB_CHANNELS, 0)


# The saga stays still until the count: a background saga confirming the order in the
# meantime adds a second event to the stream, which this test would misread as a duplicate.
@pytest.mark.no_saga
def test_one_order_number_placed_concurrently_many_times_is_one_order(
    services: Services, database: str
) -> None:
    # Given a SKU with stock
    merchant(services, {"TEE": {"NORTH": 10}})
    with instances(services, database, 4) as apps:
        # When 40 clients on four instances place web order "DUP-1" at the same moment
        barrier = threading.Barrier(40)

        def client(n: int) -> str:
            barrier.wait()
            body = (
                apps[n % 4]
                .place(
                    channel="web",
                    order_number="DUP-1",
                    lines=lines("TEE", 2),
                    currency="EUR",
                    ship_to=SHIP_TO,
                )
                .body
            )
            return str(body["order_id"])

        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = {f.result() for f in [pool.submit(client, n) for n in range(40)]}
    # Then all were answered with the same order, stored once
    assert answers == {str(order_id("web", "DUP-1"))}
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM orders_events WHERE originator_id = %s",
            (order_id("web", "DUP-1"),),
        ).fetchone()
    assert row is not None
    assert row[0] == 1
    # and the saga reserves its stock once
    services.saga.run_once()
    assert reserved_by_location(services, "TEE")["NORTH"] == (10, 2)


def _saga_process(database: str, nats: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": nats,
        "LEDGERLINE_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "process", "order-saga"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "running" in line, line
    return process


@pytest.mark.no_saga
@pytest.mark.timeout(180)
def test_a_saga_killed_mid_burst_finishes_every_order_after_restart(
    services: Services, database: str, servers: ServerUrls
) -> None:
    # Given 50 units of HOT and the saga running as its own process
    merchant(services, {"HOT": {"NORTH": 25, "SOUTH": 25}})
    saga = _saga_process(database, servers.nats_url)
    placed: list[tuple[str, str]] = []
    killed_at: list[int] = []
    try:
        # When 120 orders of 1-2 units are placed from 8 clients, and the saga is killed
        # with SIGKILL once a third of them are in
        def client(n: int) -> None:
            channel, number = WEB_CHANNELS[n % 3], f"K-{n}"
            services.orders.place(
                channel=channel,
                order_number=number,
                lines=lines("HOT", 1 + n % 2),
                currency="EUR",
                ship_to=SHIP_TO,
            )
            placed.append((channel, number))
            if len(placed) == 40:
                killed_at.append(services.saga.allocation.position)
                saga.send_signal(signal.SIGKILL)

        with ThreadPoolExecutor(max_workers=8) as pool:
            for future in [pool.submit(client, n) for n in range(120)]:
                future.result()
        saga.wait(timeout=10)
        assert saga.returncode == -signal.SIGKILL
        head = services.orders.recorder.max_notification_id() or 0
        assert services.saga.allocation.position < head  # work was left unfinished
        # Then, after a restart, every order reaches a final state
        saga = _saga_process(database, servers.nats_url)
        outcome = wait_final(services.orders, placed)
    finally:
        saga.kill()
        saga.wait(timeout=10)
    assert set(outcome) <= {"confirmed", "rejected"}
    # and stock adds up: reserved = the units of open orders, never more than on hand
    stock = reserved_by_location(services, "HOT")
    reserved = sum(r for _, r in stock.values())
    assert reserved == open_order_units(services.orders, placed, "HOT") == 50
    assert all(r <= on_hand for on_hand, r in stock.values())
