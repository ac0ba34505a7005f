"""Concurrent price changes on one list: every accepted change is recorded once, none lost,
and no channel is ever shown a price below the MAP floor, whatever raced with what."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from api.services import Services
from domain.errors import BelowMapFloor
from domain.price_list import PriceChange
from projections.price_queries import evaluate
from tests.conftest import settle

SKUS = [f"S-{n}" for n in range(5)]


def test_racing_price_changes_and_floor_raises_keep_every_change_and_the_floor(
    services: Services,
) -> None:
    # Given an active list and a floor that operators keep raising while prices change
    pricing, now = services.pricing, datetime.now(UTC)
    pricing.put_price_list("web", "EUR", "Web", "reject", now)
    pricing.set_list_status("web", "EUR", "active", now)
    accepted: list[tuple[str, Decimal]] = []
    refused: list[str] = []
    lock = threading.Lock()

    def seller(worker: int) -> None:
        for n in range(20):
            sku, amount = SKUS[(worker + n) % len(SKUS)], Decimal(10 + (worker * 7 + n) % 20)
            try:
                pricing.schedule_prices("web", "EUR", [PriceChange(sku, amount)], datetime.now(UTC))
            except BelowMapFloor:
                with lock:
                    refused.append(sku)
            else:
                with lock:
                    accepted.append((sku, amount))

    def floor_raiser() -> None:
        for floor in range(10, 26, 3):
            pricing.set_floors("EUR", dict.fromkeys(SKUS, Decimal(floor)), datetime.now(UTC))

    threads = [threading.Thread(target=seller, args=(w,)) for w in range(8)]
    threads.append(threading.Thread(target=floor_raiser))
    # When they all run at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every change a caller was told was accepted is recorded, exactly once
    price_list = pricing.price_list("web", "EUR")
    recorded = [
        (layer.sku, layer.amount) for layers in price_list.layers.values() for layer in layers
    ]
    assert sorted(recorded) == sorted(accepted)
    assert len(accepted) + len(refused) == 8 * 20
    # And what the channel is shown is never below the floor in force
    settle(services)
    with psycopg.connect(services.price_follower.conninfo) as conn:
        at = datetime.now(UTC)
        inputs = services.price_queries.inputs_sync(conn, "web", SKUS, at, "EUR")
    for item in evaluate("web", SKUS, at, inputs, "EUR"):
        if item["effective_price"] is not None:
            assert Decimal(item["effective_price"]["amount"]) >= Decimal(25)
