"""The demand-pricing process moves prices with ATP, as ordinary, explained price changes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from api.services import Services
from application.demand_pricing import ACTOR, DemandPricing
from domain.network import ChannelKind, LocationKind
from projections.demand_view import DemandReadModels
from tests.conftest import settle


def _given_a_sku_with_a_rule(services: Services, stock: int) -> DemandPricing:
    inventory, pricing, now = services.inventory, services.pricing, datetime.now(UTC)
    inventory.put_location("WH", "Warehouse", LocationKind.WAREHOUSE)
    inventory.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH"])
    inventory.register_sku("TEE", "T-shirt")
    inventory.receive("TEE", "WH", stock)
    pricing.put_price_list("web", "EUR", "Web", "reject", now)
    pricing.set_list_status("web", "EUR", "active", now)
    pricing.define_rule(
        "tees",
        now,
        channel="web",
        currency="EUR",
        skus=["TEE"],
        base=Decimal("20.00"),
        floor=Decimal("15.00"),
        ceiling=Decimal("22.00"),
        low_atp=5,
        high_atp=100,
        step_percent=Decimal("10"),
    )
    settle(services)
    return DemandPricing(services.pricing, DemandReadModels(services.follower.conninfo))


def _list_price(services: Services) -> Decimal | None:
    return services.pricing.price_list("web", "EUR").price_at("TEE", datetime.now(UTC))


def _last_actor(services: Services) -> str:
    with psycopg.connect(services.follower.conninfo) as conn:
        row = conn.execute(
            "SELECT convert_from(state, 'UTF8') FROM pricing_events "
            "ORDER BY notification_id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    actor: str = json.loads(row[0])["_meta"]["actor"]
    return actor


def test_prices_follow_atp_bands_once_per_move(services: Services) -> None:
    # Given plenty of stock: the rule lowers the price from its base
    process = _given_a_sku_with_a_rule(services, stock=500)
    (change,) = process.run_once(datetime.now(UTC))
    assert (change.price_before, change.price_after) == (None, Decimal("18.00"))
    settle(services)
    # When it runs again with nothing changed, it writes nothing
    assert process.run_once(datetime.now(UTC)) == []
    # When stock becomes scarce, the price rises to the ceiling-capped target
    services.inventory.adjust("TEE", "WH", "correction", -497)
    settle(services)
    (raised,) = process.run_once(datetime.now(UTC))
    assert raised.price_after == Decimal("22.00")
    assert _list_price(services) == Decimal("22.00")
    # And the change is an ordinary price event that names the rule and who made it
    layer = services.pricing.price_list("web", "EUR").layer_at("TEE", datetime.now(UTC))
    assert layer is not None
    assert layer.source == "rule tees: ATP 3 is scarce"
    assert _last_actor(services) == ACTOR


def test_a_rule_never_goes_below_the_map_floor(services: Services) -> None:
    process = _given_a_sku_with_a_rule(services, stock=500)
    services.pricing.set_floors("EUR", {"TEE": Decimal("19.50")}, datetime.now(UTC))
    (change,) = process.run_once(datetime.now(UTC))
    assert change.price_after == Decimal("19.50")


def test_two_processes_racing_write_one_move(services: Services) -> None:
    first = _given_a_sku_with_a_rule(services, stock=500)
    second = DemandPricing(services.pricing, DemandReadModels(services.follower.conninfo))
    now = datetime.now(UTC)
    first.run_once(now)
    second.run_once(now)  # same ATP position, same target: the idempotency key answers
    versions = services.pricing.price_list("web", "EUR").versions
    assert len(versions) == 3  # opened, activated, one move


def test_a_lapsed_hold_counts_as_free_stock_for_the_rule(services: Services) -> None:
    # Given 10 in stock, 8 of them held by a hold that lapses in a moment
    _given_a_sku_with_a_rule(services, stock=10)
    now = datetime.now(UTC)
    services.inventory.reserve(
        "TEE",
        "r-1",
        "WH",
        8,
        reference="o-1",
        now=now,
        channel="web",
        expires_at=now + timedelta(seconds=1),
    )
    settle(services)
    view = DemandReadModels(services.follower.conninfo)
    held = view.atp("web", "TEE")
    assert held is not None
    assert held[0] == 2
    # When the hold has lapsed, before any timer released it
    time.sleep(1.2)
    # Then the rule sees the ATP a channel is promised: all 10
    lapsed = view.atp("web", "TEE")
    assert lapsed is not None
    assert lapsed[0] == 10
    assert services.inventory.stock("TEE").at("WH").reserved == 8  # still held in the log
