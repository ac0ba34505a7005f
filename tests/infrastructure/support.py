"""Orders, allocations, resources and bookings built with the domain API, for the tests of
what leaves the store.

``OrdersLog`` stands in for the orders application only as far as the store goes: an
eventsourcing ``Application`` named ``orders`` writes the same ``orders_events`` table;
``BookingsLog`` likewise for ``bookings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from domain.allocation import Allocation, plan_shipments
from domain.booking import Booking
from domain.order import Disposition, Fulfilment, LineRequest, Order, PriceEvidence
from domain.resource import Resource, SlotKind
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
    lapsed.erase_personal_data("retention: 0 days after expiry", now + 3 * step)
    return OrderStory([fulfilled, rejected, lapsed], [reserved, refused])


class BookingsLog(Application[UUID]):
    """Stands in for the bookings application as far as the store goes: its log."""

    name = "bookings"


# A channel's references are its own: "/" and ":" must survive the stream's key.
BOOKING_REFERENCE = "2026/B:77"
GUEST = {
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "phone": "+1 202 555 0100",
    "customer_id": "G-9",
}


@dataclass
class BookingStory:
    """Resources and bookings taken through every event they have."""

    resources: list[Resource]
    bookings: list[Booking]


def _book(
    resource: Resource,
    channel: str,
    reference: str,
    slots: list[str],
    quantity: int,
    now: datetime,
    expires_at: datetime | None,
) -> Booking:
    booking = Booking.hold(
        channel=channel,
        reference=reference,
        resource=resource.code,
        slots=slots,
        quantity=quantity,
        guest=GUEST if reference == BOOKING_REFERENCE else {"name": "Alan Turing"},
        unit_rate=Decimal("120.00"),
        currency="EUR",
        expires_at=expires_at,
        terms=resource.cancellation_terms(),
        now=now,
    )
    resource.hold(str(booking.id), channel, slots, quantity, expires_at, now)
    return booking


def booking_story(now: datetime) -> BookingStory:
    """Every kind of resource and booking event, each made by the domain's own commands,
    as the bookings application and its rebooking process would make them."""
    step = timedelta(minutes=1)
    room = Resource.register("ROOM-101", "Room 101", "double", SlotKind.NIGHT, 5)
    spare = Resource.register(
        "ROOM-102", "Room 102", "double", SlotKind.NIGHT, 4, 48, Decimal("50")
    )
    room.set_capacity(6)
    room.set_allotment("web", 2)
    room.set_channel_rules("web", ["2026-05-09", "2026-05-08"], 2)

    # Held, confirmed, modified, moved after a disruption, stayed
    stay = _book(
        room, "web", BOOKING_REFERENCE, ["2026-05-01", "2026-05-02"], 2, now, now + 15 * step
    )
    room.secure(str(stay.id), now + step)
    stay.confirm("psp-1", now + step)
    room.swap(str(stay.id), ["2026-05-01", "2026-05-02", "2026-05-03"], 1, now + 2 * step)
    stay.modify(["2026-05-01", "2026-05-02", "2026-05-03"], 1, now + 2 * step)
    affected = room.close(["2026-05-02"], "burst pipe")
    assert affected == [str(stay.id)]
    spare.hold(str(stay.id), "web", list(stay.slots), stay.quantity, None, now + 3 * step)
    room.release(str(stay.id), "rebooked to ROOM-102")
    stay.rebook("ROOM-102", "ROOM-101 closed: burst pipe", now + 3 * step)
    stay.check_in(now + 4 * step)
    stay.complete(now + 5 * step)

    # Flagged, then confirmed and cancelled late enough to pay the fee
    late = _book(spare, "agency", "A-1", ["2026-03-01", "2026-03-02"], 1, now, now + 15 * step)
    late.flag("ROOM-101 closed; no double resource has room", now + step)
    spare.secure(str(late.id), now + 2 * step)
    late.confirm("psp-2", now + 2 * step)
    late.cancel("guest cancelled", now + 3 * step)
    spare.release(str(late.id), "cancelled")

    # Never confirmed: lapsed
    lapsed = _book(spare, "agency", "A-2", ["2026-04-01"], 1, now, now + step)
    lapsed.expire(now + 2 * step)
    spare.release(str(lapsed.id), "hold expired")
    lapsed.erase_personal_data("GDPR Art. 17(1)(a)", now + 3 * step)
    return BookingStory([room, spare], [stay, late, lapsed])
