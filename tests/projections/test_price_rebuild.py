"""The pricing read model rebuilt from position 0 equals the live one, row for row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.services import Services
from domain.price_list import PriceChange
from projections.rebuild import PRICING_TABLES, differences, rebuild
from tests.conftest import settle


def test_a_rebuilt_pricing_read_model_equals_the_live_one(services: Services) -> None:
    pricing, now = services.pricing, datetime.now(UTC)
    pricing.put_price_list("web", "EUR", "Web", "clamp", now)
    pricing.set_list_status("web", "EUR", "active", now)
    pricing.set_floors("EUR", {"A": Decimal("3.00")}, now)
    changes = [PriceChange(f"S-{n}", Decimal(n % 40 + 1)) for n in range(1200)]
    pricing.schedule_prices("web", "EUR", changes, now)
    pricing.schedule_prices(
        "web", "EUR", [PriceChange("A", Decimal("2.00"), now + timedelta(days=1))], now
    )
    pricing.define_promotion(
        "P",
        name="",
        kind="amount_off",
        value=Decimal("1.00"),
        currency="EUR",
        channels=["web"],
        skus=None,
        priority=1,
        stacking="stackable",
        stacks_with=["Q"],
        valid_from=None,
        valid_until=now + timedelta(days=2),
        now=now,
    )
    pricing.end_promotion("P", now + timedelta(hours=1))
    pricing.roll_back("web", "EUR", 3, now + timedelta(hours=2))
    settle(services)

    applied = rebuild(services.price_follower.conninfo, "pricing", "pricing_rebuild")

    assert applied > 0
    assert (
        differences(services.price_follower.conninfo, "pricing", "pricing_rebuild", PRICING_TABLES)
        == {}
    )
