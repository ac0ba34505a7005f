"""Write throughput: a hot SKU under contention, and appends to many distinct aggregates."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from application.inventory import InventoryApp
from bench.harness import Result, fresh_database
from domain.errors import InsufficientStock
from domain.network import ChannelKind, LocationKind
from infrastructure.eventstore import application_env
from infrastructure.servers import ServerUrls

STOCK = 10_000_000  # never runs out during a run; the check is reserved == granted


def _hammer(clients: int, seconds: float, work: Callable[[int, int], bool]) -> tuple[int, float]:
    """Run ``work(client, n)`` in a loop on each client until time is up; count True."""
    counts = [0] * clients
    start_line = threading.Barrier(clients + 1)
    deadline = 0.0

    def client(i: int) -> None:
        start_line.wait()
        n = 0
        while time.perf_counter() < deadline:
            if work(i, n):
                counts[i] += 1
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    start_line.wait()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - started


def _sql_baseline(
    urls: ServerUrls,
    clients: int,
    seconds: float,
    setup: list[str],
    statement: Callable[[psycopg.Connection[Any], int], bool],
) -> tuple[int, float]:
    """The plain-SQL way, in a database of its own: ``statement`` per client connection."""
    with fresh_database(urls) as db:
        with psycopg.connect(db, autocommit=True) as conn:
            for sql in setup:
                conn.execute(sql)
        connections = [psycopg.connect(db, autocommit=True) for _ in range(clients)]
        try:
            return _hammer(clients, seconds, lambda i, n: statement(connections[i], n))
        finally:
            for conn in connections:
                conn.close()


def hot_sku(urls: ServerUrls, quick: bool) -> Result:
    clients, seconds = 16, (2.0 if quick else 20.0)
    now = datetime.now(UTC)
    with fresh_database(urls) as db:
        app = InventoryApp(application_env(db, pool_size=clients))
        try:
            for code in ("WH1", "WH2"):
                app.put_location(code, code, LocationKind.WAREHOUSE)
            app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1", "WH2"])
            app.register_sku("HOT", "Hot")
            for code in ("WH1", "WH2"):
                app.receive("HOT", code, STOCK // 2)

            def reserve(i: int, n: int) -> bool:
                try:
                    app.reserve(
                        "HOT",
                        f"c{i}-{n}",
                        ("WH1", "WH2")[n % 2],
                        1,
                        reference=f"o{i}-{n}",
                        now=now,
                        channel="web",
                    )
                except InsufficientStock:
                    return False
                return True

            granted, elapsed = _hammer(clients, seconds, reserve)
            inventory = app.stock("HOT")
            reserved = sum(inventory.at(code).reserved for code in ("WH1", "WH2"))
            oversold = reserved != granted or any(
                inventory.at(code).reserved > inventory.at(code).on_hand for code in ("WH1", "WH2")
            )
        finally:
            app.close()

    def update(conn: psycopg.Connection[Any], n: int) -> bool:
        cur = conn.execute(
            "UPDATE stock SET reserved = reserved + 1 WHERE sku = 'HOT' AND location = %s "
            "AND on_hand - reserved >= 1",
            (("WH1", "WH2")[n % 2],),
        )
        return cur.rowcount == 1

    base_granted, base_elapsed = _sql_baseline(
        urls,
        clients,
        seconds,
        [
            "CREATE TABLE stock (sku text, location text, on_hand bigint, "
            "reserved bigint, PRIMARY KEY (sku, location))",
            f"INSERT INTO stock VALUES ('HOT','WH1',{STOCK // 2},0), ('HOT','WH2',{STOCK // 2},0)",  # noqa: S608 - constants
        ],
        update,
    )

    return Result(
        scenario="hot_sku",
        figure="reservations per second, one SKU, 2 locations",
        unit="reservations/s",
        value=granted / elapsed,
        baseline="conditional UPDATE, same clients",
        baseline_value=base_granted / base_elapsed,
        params={"clients": clients, "seconds": seconds, "quick": quick},
        extra={"granted": granted, "reserved_at_end": reserved, "oversold": oversold},
    )


def append(urls: ServerUrls, quick: bool, clients: int) -> Result:
    seconds = 2.0 if quick else 15.0
    run = uuid.uuid4().hex[:6]
    with fresh_database(urls) as db:
        app = InventoryApp(application_env(db, pool_size=clients))
        try:

            def register(i: int, n: int) -> bool:
                app.register_sku(f"S{run}-{i}-{n}", "appended")
                return True

            events, elapsed = _hammer(clients, seconds, register)
        finally:
            app.close()

    payload = b'{"sku": "S-0-0", "name": "appended", "gtin": null}'

    def insert(conn: psycopg.Connection[Any], n: int) -> bool:
        conn.execute(
            "INSERT INTO events (stream, version, topic, state) VALUES (%s, 1, %s, %s)",
            (uuid.uuid4(), "domain.inventory:Inventory.SkuRegistered", payload),
        )
        return True

    rows, base_elapsed = _sql_baseline(
        urls,
        clients,
        seconds,
        [
            "CREATE TABLE events (id bigserial PRIMARY KEY, stream uuid NOT NULL, "
            "version int NOT NULL, topic text, state bytea, UNIQUE (stream, version))"
        ],
        insert,
    )

    return Result(
        scenario=f"append_{clients}_clients",
        figure=f"events per second, new aggregates, {clients} client(s)",
        unit="events/s",
        value=events / elapsed,
        baseline="raw one-row INSERT transactions, same clients",
        baseline_value=rows / base_elapsed,
        params={"clients": clients, "seconds": seconds, "quick": quick},
    )
