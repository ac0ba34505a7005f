"""Retention: a delivered order's ship-to address is erased N days after delivery by the
scheduled process, with an explicit event; the customer's own data and the rest stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import psycopg
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from application.retention import Retention, RetentionRules
from projections.as_of import aggregate_at
from tests.conftest import settle
from tests.privacy.support import NAME, placed_order


def test_the_ship_to_address_is_erased_the_set_days_after_delivery(
    client: TestClient[Litestar], services: Services, database: str
) -> None:
    # Given customer C-1's order, paid and delivered
    placed = placed_order(client, services)
    order = UUID(placed["order_id"])
    services.orders.authorise_payment("web", "W-1", Decimal("39.80"), "psp-1")
    (shipment,) = services.orders.order("web", "W-1").shipments
    for step in ("pick", "pack", "ship", "deliver"):
        services.orders.advance_shipment("web", "W-1", shipment, step)
    settle(services)
    assert services.privacy is not None

    def due(cutoff: datetime, limit: int) -> list[UUID]:
        with psycopg.connect(database, autocommit=True) as conn:
            return services.order_queries.due_for_ship_to_erasure(conn, cutoff, limit)

    retention = Retention(services.orders, services.privacy.keys, due, RetentionRules(30))
    # When the retention process runs 29 days after delivery, nothing is due
    now = datetime.now(UTC)
    assert retention.run_once(now + timedelta(days=29)) == 0
    # When it runs 31 days after delivery
    assert retention.run_once(now + timedelta(days=31)) == 1
    settle(services)
    # Then the ship-to address reads erased, in the API and rebuilt from the log
    shown = client.get("/v1/channels/web/orders/W-1").json()
    assert set(shown["ship_to"].values()) == {"[erased]"}
    assert "retention: ship-to kept 30 days after delivery" in str(shown["timeline"])
    # while the customer's own data, the lines and the status stay
    assert shown["customer"]["name"] == NAME
    assert shown["status"] == "delivered"

    async def rebuilt() -> object:
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            return await aggregate_at(conn, "orders", order)

    replayed = asyncio.run(rebuilt())
    assert replayed.ship_to["line1"] == "[erased]"  # type: ignore[attr-defined]
    assert replayed.customer["name"] == NAME  # type: ignore[attr-defined]
    # and a later run finds nothing more to do
    assert retention.run_once(now + timedelta(days=40)) == 0
    # and the order's timeline says when and why the address went
    assert "ShipToErased" in client.get("/v1/channels/web/orders/W-1").text
