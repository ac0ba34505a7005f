"""A small sample network for a first look: 3 locations, 4 channels, 20 SKUs."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

from application.commands import Request
from application.context import CommandContext
from application.inventory import InventoryApp
from application.pricing import PricingApp
from domain.errors import UnknownPriceList
from domain.inventory import AdjustmentReason
from domain.network import ChannelKind, LocationKind
from domain.price_list import PriceChange

LOCATIONS = [
    ("WH-BERLIN", "Berlin warehouse", LocationKind.WAREHOUSE, "52.5200", "13.4050"),
    ("STORE-HAMBURG", "Hamburg store", LocationKind.STORE, "53.5511", "9.9937"),
    ("3PL-MUNICH", "Munich 3PL", LocationKind.THIRD_PARTY, "48.1351", "11.5820"),
]
CHANNELS = [
    ("web", "Web shop", ChannelKind.WEB_SHOP, ["WH-BERLIN", "3PL-MUNICH"]),
    ("marketplace", "Marketplace", ChannelKind.MARKETPLACE, ["WH-BERLIN"]),
    ("pos-hamburg", "Hamburg till", ChannelKind.POS, ["STORE-HAMBURG"]),
    (
        "call-centre",
        "Call centre",
        ChannelKind.CALL_CENTRE,
        ["WH-BERLIN", "STORE-HAMBURG", "3PL-MUNICH"],
    ),
]


def load_demo(inventory: InventoryApp, pricing: PricingApp | None = None, seed: int = 7) -> int:
    """Load the sample; loading it again leaves the same figures. Returns the SKU count.

    With ``pricing``, every channel also gets an active EUR price list (so orders can be
    placed at once)."""
    rng = random.Random(seed)  # noqa: S311 - sample figures, not secrets
    request = Request(CommandContext(actor="demo"))
    for code, name, location_kind, lat, lon in LOCATIONS:
        inventory.put_location(
            code, name, location_kind, Decimal(lat), Decimal(lon), request=request
        )
    for code, name, channel_kind, locations in CHANNELS:
        inventory.put_channel(code, name, channel_kind, locations, request=request)
    for n in range(1, 21):
        sku = f"DEMO-{n:03d}"
        inventory.register_sku(sku, f"Demo product {n}", request=request)
        for location, *_ in LOCATIONS:
            quantity = rng.randint(0, 40)
            # A cycle count sets the figure, so loading twice leaves the same stock.
            inventory.adjust(sku, location, AdjustmentReason.CYCLE_COUNT, quantity, request=request)
        inventory.set_safety_buffer(sku, "marketplace", 2, request=request)
    if pricing is not None:
        now = datetime.now(UTC)
        prices = [
            PriceChange(f"DEMO-{n:03d}", Decimal(5 * n) + Decimal("0.99")) for n in range(1, 21)
        ]
        for code, name, *_ in CHANNELS:
            try:
                pricing.price_list(code, "EUR")
                continue  # loading again changes no price
            except UnknownPriceList:
                pass
            pricing.put_price_list(code, "EUR", f"{name} EUR", "reject", now, request=request)
            pricing.schedule_prices(code, "EUR", prices, now, source="demo", request=request)
            pricing.set_list_status(code, "EUR", "active", now, request=request)
    return 20
