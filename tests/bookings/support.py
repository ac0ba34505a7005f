"""A small hotel for booking tests: rooms of two classes sold on three channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.services import Services
from domain.price_list import PriceChange
from domain.resource import SlotKind
from tests.conftest import settle

CHANNELS = ("web", "marketplace", "callcentre")
RATE = Decimal("120.00")
NIGHT = "2026-12-24"
GUEST = {"name": "Erika Mustermann", "email": "erika@example.com"}


def hotel(services: Services, rooms: dict[str, tuple[str, int]]) -> None:
    """Given ``rooms`` as {code: (class, capacity)}, priced at RATE EUR a night everywhere."""
    for code, (resource_class, capacity) in rooms.items():
        services.bookings.put_resource(code, code, resource_class, SlotKind.NIGHT, capacity)
    now = datetime.now(UTC) - timedelta(seconds=1)
    for channel in CHANNELS:
        services.pricing.put_price_list(channel, "EUR", f"{channel} rates", "reject", now)
        services.pricing.schedule_prices(
            channel, "EUR", [PriceChange(code, RATE) for code in rooms], now
        )
        services.pricing.set_list_status(channel, "EUR", "active", now)
    settle(services)
