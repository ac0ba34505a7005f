"""A small merchant for order tests: two warehouses and a store, four channels, priced SKUs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.services import Services
from domain.network import ChannelKind, LocationKind
from domain.order import LineRequest
from domain.price_list import PriceChange
from tests.conftest import settle

PRICE = Decimal("19.90")
CHANNELS = ("web", "marketplace", "callcentre", "store-pos")


def merchant(services: Services, skus: dict[str, dict[str, int]]) -> None:
    """Given locations NORTH (Hamburg), SOUTH (Munich) and STORE (Munich), channels that
    all sell from both warehouses (the POS channel from the store), and ``skus`` as
    {sku: {location: on hand}}, each priced at PRICE EUR on every channel."""
    inv = services.inventory
    inv.put_location(
        "NORTH", "Hamburg DC", LocationKind.WAREHOUSE, Decimal("53.55"), Decimal("9.99")
    )
    inv.put_location(
        "SOUTH", "Munich DC", LocationKind.WAREHOUSE, Decimal("48.14"), Decimal("11.58")
    )
    inv.put_location(
        "STORE", "Munich store", LocationKind.STORE, Decimal("48.137"), Decimal("11.575")
    )
    for channel in CHANNELS:
        kind = ChannelKind.POS if channel == "store-pos" else ChannelKind.WEB_SHOP
        feeding = ["STORE"] if channel == "store-pos" else ["NORTH", "SOUTH", "STORE"]
        inv.put_channel(channel, channel, kind, feeding)
    now = datetime.now(UTC) - timedelta(seconds=1)
    for sku, stock in skus.items():
        inv.register_sku(sku, sku)
        for location, quantity in stock.items():
            if quantity:
                inv.receive(sku, location, quantity)
    for channel in CHANNELS:
        services.pricing.put_price_list(channel, "EUR", f"{channel} EUR", "reject", now)
        services.pricing.schedule_prices(
            channel, "EUR", [PriceChange(sku, PRICE) for sku in skus], now
        )
        services.pricing.set_list_status(channel, "EUR", "active", now)
    settle(services)


def add_channel(services: Services, code: str, feeding: list[str], skus: list[str]) -> None:
    """Given one more web channel fed by ``feeding``, with ``skus`` priced at PRICE EUR."""
    now = datetime.now(UTC) - timedelta(seconds=1)
    services.inventory.put_channel(code, code, ChannelKind.WEB_SHOP, feeding)
    services.pricing.put_price_list(code, "EUR", code, "reject", now)
    services.pricing.schedule_prices(code, "EUR", [PriceChange(sku, PRICE) for sku in skus], now)
    services.pricing.set_list_status(code, "EUR", "active", now)
    settle(services)


def lines(sku: str, quantity: int = 1, price: Decimal = PRICE) -> list[LineRequest]:
    return [LineRequest(sku, quantity, price)]


SHIP_TO = {
    "name": "Erika Mustermann",
    "line1": "Marienplatz 1",
    "city": "München",
    "postal_code": "80331",
    "country": "DE",
    "latitude": Decimal("48.137"),
    "longitude": Decimal("11.575"),
}
CUSTOMER = {"customer_id": "C-1", "name": "Erika Mustermann", "email": "erika@example.com"}
