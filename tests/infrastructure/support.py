"""Orders and allocations built with the domain API, for the tests of what leaves the store.

``OrdersLog`` stands in for the orders application only as far as the store goes: an
eventsourcing ``Application`` named ``orders`` writes the same ``orders_events`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from domain.allocation import Allocation, plan_shipments
from domain.order import Disposition, Fulfilment, LineRequest, Order, PriceEvidence
from domain.routing import Site, Want, route


class OrdersLog(Application[UUID]):
    name = "orders"


# A channel's order numbers are its own: "/" and ":" must survive the stream's key.
ORDER_NUMBER = "2026/A:1001"
CUSTOMER = {
    "customer_id": "C-7",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
}
SHIP_TO = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "line2": "Flat 3",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
    "latitude": Decimal("51.5074"),
    "longitude": Decimal("-0.1340"),
}


@dataclass
class OrderStory:
    """Orders taken through every transition, and the allocations that go with them."""

    orders: list[Order]
    allocations: list[Allocation]


def _place(order_number: str, now: datetime, *, due: datetime | None = None) -> Order:
    return Order.place(
        channel="web",
        order_number=order_number,
        lines=[
            LineRequest("SKU-1", 2, Decimal("19.99")),
            LineRequest("SKU-2", 1, Decimal("5.00")),
        ],
        evidence=[
            PriceEvidence(Decimal("19.99"), Decimal("24.99"), ("SPRING",), 3, 7),
            PriceEvidence(Decimal("5.00"), Decimal("5.00"), (), 3, 2),
        ],
        currency="EUR",
        customer=CUSTOMER,
        ship_to=SHIP_TO,
        fulfilment=Fulfilment.DELIVERY,
        pickup_location=None,
        split_allowed=True,
        payment_due_by=due,
        payment=None,
        now=now,
    )


def _shipments(order: Order) -> list[dict[str, Any]]:
    routing = route(
        [Want(line["line"], line["sku"], line["quantity"]) for line in order.lines],
        [Site("WH1", Decimal("52.5"), Decimal("13.4")), Site("WH2")],
        {("SKU-1", "WH1"): 2, ("SKU-2", "WH2"): 5},
        {"SKU-1": 2, "SKU-2": 5},
        (SHIP_TO["latitude"], SHIP_TO["longitude"]),
        order.split_allowed,
    )
    assert routing.routed
    return plan_shipments(order.id, routing)


def order_story(now: datetime) -> OrderStory:
    """Every kind of order and allocation event, each made by the domain's own commands."""
    step = timedelta(minutes=1)
    fulfilled = _place(ORDER_NUMBER, now, due=now + 30 * step)
    planned = _shipments(fulfilled)
    reserved = Allocation.made(
        fulfilled.id, "web", ORDER_NUMBER, planned, "split over 2 locations", now + step
    )
    fulfilled.confirm(planned, "split over 2 locations", now + step)
    fulfilled.authorise_payment(Decimal("44.98"), "psp-auth-1", now + 2 * step)
    fulfilled.capture_payment(Decimal("44.98"), "psp-capture-1", now + 3 * step)
    fulfilled.pick("1", now + 4 * step)
    fulfilled.pack("1", now + 5 * step)
    fulfilled.ship("1", now + 6 * step, carrier="DHL", tracking="JJD0001")
    reserved.settle(["1"], "committed", "shipment shipped")
    fulfilled.deliver("1", now + 7 * step)
    fulfilled.record_return("R-1", {1: 1}, "WH1", Disposition.SELLABLE, now + 8 * step)
    fulfilled.refund("RF-1", Decimal("19.99"), "psp-refund-1", now + 9 * step)
    fulfilled.cancel("customer asked", now + 10 * step)  # the shipment not yet shipped
    reserved.settle(["2"], "released", "order cancelled")

    rejected = _place("1002", now)
    shortages = [{"line": 1, "sku": "SKU-1", "requested": 2, "available": 0}]
    refused = Allocation.refused(
        rejected.id, "web", "1002", shortages, "the channel cannot promise every line", now
    )
    rejected.reject("the channel cannot promise every line", shortages, now + step)

    lapsed = _place("1003", now, due=now + step)
    lapsed.expire(now + 2 * step)
    return OrderStory([fulfilled, rejected, lapsed], [reserved, refused])
