"""Order: placement, the stock outcome, payment, shipments, returns -- and every refusal.

Each test reads given / when / then: given an order brought to some state by past commands
(whose events are collected and set aside), when one command runs, then exactly these new
events are pending -- or the named error is raised, nothing is pending and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.allocation import plan_shipments
from domain.errors import DomainError, InvalidValue
from domain.order import (
    MAX_LINES,
    AmountExceeded,
    Disposition,
    Fulfilment,
    IdReused,
    IllegalTransition,
    LineRequest,
    Order,
    OrderStatus,
    PaymentDeadlinePassed,
    PriceEvidence,
    PriceMismatch,
    PriceUnavailable,
    ShipmentStatus,
    UnknownShipment,
    order_id,
)
from domain.routing import Pick, Routing
from tests.domain.support import NOW, new_events, replay

CHANNEL = "web"
NUMBER = "W-1001"
LINES = [LineRequest("SKU-1", 2, Decimal("10.00")), LineRequest("SKU-2", 1, Decimal("5.50"))]
TOTAL = Decimal("25.50")
DUE = NOW + timedelta(hours=1)
LATER = NOW + timedelta(minutes=10)
CUSTOMER = {"customer_id": "C-1", "name": "Erika Mustermann", "email": "erika@example.com"}
SHIP_TO = {
    "name": "Erika Mustermann",
    "line1": "Marienplatz 1",
    "city": "München",
    "country": "DE",
    "latitude": Decimal("48.137"),
    "longitude": Decimal("11.575"),
}
# Line 1 ships from SOUTH (shipment "1"), line 2 from NORTH (shipment "2").
PICKS = (Pick(1, "SKU-1", "SOUTH", 2), Pick(2, "SKU-2", "NORTH", 1))
REASON = "split over 2 locations (NORTH, SOUTH)"


def evidence_for(lines: list[LineRequest]) -> list[PriceEvidence]:
    """The pricing read model agrees with every price the channel showed."""
    return [PriceEvidence(line.unit_price, line.unit_price, (), 3, 7) for line in lines]


def place(**overrides: Any) -> Order:
    arguments: dict[str, Any] = {
        "channel": CHANNEL,
        "order_number": NUMBER,
        "lines": LINES,
        "evidence": evidence_for(overrides.get("lines", LINES)),
        "currency": "EUR",
        "customer": CUSTOMER,
        "ship_to": SHIP_TO,
        "fulfilment": Fulfilment.DELIVERY,
        "pickup_location": None,
        "split_allowed": True,
        "payment_due_by": DUE,
        "payment": None,
        "now": NOW,
    }
    arguments.update(overrides)
    return Order.place(**arguments)


def pos_sale(**overrides: Any) -> Order:
    return place(
        **{
            "fulfilment": Fulfilment.POS,
            "pickup_location": "STORE",
            "ship_to": None,
            "payment_due_by": None,
            "payment": {"status": "captured", "reference": "TILL-7", "amount": TOTAL},
            **overrides,
        }
    )


def pickup(**overrides: Any) -> Order:
    return place(
        **{
            "fulfilment": Fulfilment.PICKUP,
            "pickup_location": "STORE",
            "ship_to": None,
            **overrides,
        }
    )


def shipments_for(order: Order, picks: tuple[Pick, ...] = PICKS) -> list[dict[str, Any]]:
    return plan_shipments(order.id, Routing(picks, (), REASON))


def confirmed(order: Order, picks: tuple[Pick, ...] = PICKS) -> Order:
    assert order.confirm(shipments_for(order, picks), REASON, NOW)
    return order


def paid(order: Order, amount: Decimal = TOTAL) -> Order:
    order.authorise_payment(amount, "PAY-1", LATER)
    return order


def shipped(order: Order, *shipments: str) -> Order:
    for shipment in shipments:
        order.pick(shipment, LATER)
        order.pack(shipment, LATER)
        order.ship(shipment, LATER, carrier="DHL", tracking="JJD0001")
    return order


def delivered(order: Order, *shipments: str) -> Order:
    for shipment in shipments:
        order.deliver(shipment, LATER)
    return order


def given(order: Order) -> Order:
    """Set the past aside: the test sees only what its own command records."""
    order.collect_events()
    return order


def given_order_in(status: OrderStatus) -> Order:
    """A delivery order with two shipments, brought to ``status`` the usual way."""
    order = place()
    if status is OrderStatus.REJECTED:
        order.reject("no stock", [], NOW)
    elif status is not OrderStatus.PLACED:
        confirmed(order)
        if status is OrderStatus.CANCELLED:
            order.cancel("changed my mind", LATER)
        elif status is OrderStatus.EXPIRED:
            order.expire(DUE)
        elif status is not OrderStatus.CONFIRMED:
            paid(order)
            shipped(order, "1")
            if status is not OrderStatus.PARTIALLY_SHIPPED:
                shipped(order, "2")
            if status is OrderStatus.DELIVERED:
                delivered(order, "1", "2")
    assert order.status is status
    return given(order)


def status_of(order: Order) -> OrderStatus:
    """The status now (a call, so a type checker does not carry an earlier check over)."""
    return order.status


def state_of(order: Order) -> Any:
    return deepcopy(
        (
            order.status,
            order.shipments,
            order.authorised,
            order.captured,
            order.refunded,
            order.returned,
            order.closed_reason,
            order.version,
        )
    )


def refused(order: Order, command: Callable[[], object], error: type[DomainError]) -> DomainError:
    """Run ``command``, which must raise ``error``, record nothing and change nothing."""
    before = state_of(order)
    with pytest.raises(error) as raised:
        command()
    assert order.pending_events == []
    assert state_of(order) == before
    return raised.value


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


# -- placement -------------------------------------------------------------------------------


def test_placing_an_order_records_order_placed_with_the_checked_prices() -> None:
    # when
    order = place()

    # then
    assert new_events(order) == [
        (
            "Order.OrderPlaced",
            {
                "channel": CHANNEL,
                "order_number": NUMBER,
                "fulfilment": Fulfilment.DELIVERY,
                "lines": [
                    {
                        "line": 1,
                        "sku": "SKU-1",
                        "quantity": 2,
                        "unit_price": Decimal("10.00"),
                        "effective_price": Decimal("10.00"),
                        "list_price": Decimal("10.00"),
                        "promotion_ids": [],
                        "price_list_version": 3,
                        "price_entry_version": 7,
                    },
                    {
                        "line": 2,
                        "sku": "SKU-2",
                        "quantity": 1,
                        "unit_price": Decimal("5.50"),
                        "effective_price": Decimal("5.50"),
                        "list_price": Decimal("5.50"),
                        "promotion_ids": [],
                        "price_list_version": 3,
                        "price_entry_version": 7,
                    },
                ],
                "currency": "EUR",
                "total": TOTAL,
                "customer": CUSTOMER,
                "ship_to": SHIP_TO,
                "pickup_location": None,
                "split_allowed": True,
                "payment_due_by": DUE,
                "payment": None,
                "placed_at": NOW,
            },
        )
    ]
    assert order.id == order_id(CHANNEL, NUMBER) == Order.create_id(CHANNEL, NUMBER)
    assert order.status is OrderStatus.PLACED
    assert (order.authorised, order.captured, order.refunded) == (Decimal(0),) * 3
    assert not order.paid
    assert order.shipments == {}
    assert order.open_quantities() == {}


def test_the_order_number_is_the_identity_within_a_channel() -> None:
    assert order_id("web", "1") == order_id("web", "1")
    assert order_id("web", "1") != order_id("marketplace", "1")
    assert order_id("web", "1") != order_id("web", "2")


def test_an_order_paid_at_placement_is_paid_and_cannot_lapse() -> None:
    order = place(payment={"status": "authorised", "reference": "PSP-1", "amount": "25.5"})

    assert order.paid
    assert (order.authorised, order.captured) == (TOTAL, Decimal(0))
    assert order.payment_due_by is None


def test_a_payment_captured_at_placement_counts_as_authorised_and_captured() -> None:
    order = place(payment={"status": "captured", "reference": "PSP-1", "amount": TOTAL})

    assert (order.authorised, order.captured) == (TOTAL, TOTAL)


def test_a_payment_at_placement_that_differs_from_the_total_is_refused() -> None:
    with pytest.raises(AmountExceeded) as raised:
        place(payment={"status": "authorised", "reference": "PSP-1", "amount": Decimal("25.49")})

    assert raised.value.facts == {"amount": "25.49", "total": "25.50"}


@pytest.mark.parametrize(
    "payment",
    [
        {"status": "pending", "reference": "PSP-1", "amount": TOTAL},
        {"reference": "PSP-1", "amount": TOTAL},
        {"status": "captured", "reference": "", "amount": TOTAL},
        {"status": "captured", "reference": "PSP-1", "amount": Decimal("25.505")},
        {"status": "captured", "reference": "PSP-1"},
    ],
)
def test_a_malformed_payment_at_placement_is_refused(payment: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        place(payment=payment)


def test_a_shown_price_within_the_tolerance_is_accepted_and_recorded_as_shown() -> None:
    # given the effective price is 10.00 and the channel showed 10.50, with 5 % tolerance
    lines = [LineRequest("SKU-1", 2, Decimal("10.50"))]
    evidence = [PriceEvidence(Decimal("10.00"), Decimal("12.00"), ("SUMMER",), 3, 7)]

    order = place(lines=lines, evidence=evidence, tolerance_percent=Decimal(5))

    # then the customer pays what they were shown, and the evidence is kept beside it
    assert order.total == Decimal("21.00")
    assert order.lines[0]["unit_price"] == Decimal("10.50")
    assert order.lines[0]["effective_price"] == Decimal("10.00")
    assert order.lines[0]["promotion_ids"] == ["SUMMER"]


@pytest.mark.parametrize("shown", ["9.50", "10.50", "10.00"])
def test_a_shown_price_at_the_edge_of_the_tolerance_is_accepted(shown: str) -> None:
    lines = [LineRequest("SKU-1", 1, Decimal(shown))]
    evidence = [PriceEvidence(Decimal("10.00"), None, (), None, None)]

    order = place(lines=lines, evidence=evidence, tolerance_percent=Decimal(5))

    assert order.total == Decimal(shown)


@pytest.mark.parametrize(("shown", "tolerance"), [("9.49", 5), ("10.51", 5), ("10.01", 0)])
def test_a_shown_price_beyond_the_tolerance_is_refused_as_a_price_mismatch(
    shown: str, tolerance: int
) -> None:
    lines = [LINES[1], LineRequest("SKU-1", 1, Decimal(shown))]
    evidence = [*evidence_for([LINES[1]]), PriceEvidence(Decimal("10.00"), None, (), 3, 7)]

    with pytest.raises(PriceMismatch) as raised:
        place(lines=lines, evidence=evidence, tolerance_percent=Decimal(tolerance))

    assert raised.value.facts == {
        "line": 2,
        "shown": shown,
        "effective": "10.00",
        "currency": "EUR",
        "tolerance_percent": str(tolerance),
    }


def test_without_a_tolerance_only_the_exact_price_is_accepted() -> None:
    order = place()

    assert order.total == TOTAL


def test_a_line_with_no_effective_price_is_refused_as_price_unavailable() -> None:
    evidence = [evidence_for(LINES)[0], PriceEvidence(None, None, (), None, None)]

    with pytest.raises(PriceUnavailable) as raised:
        place(evidence=evidence)

    assert raised.value.facts == {"line": 2, "currency": "EUR"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [LINES[0]] * (MAX_LINES + 1)}, "lines"),
        ({"lines": LINES, "evidence": evidence_for(LINES)[:1]}, "lines"),
        ({"lines": [LineRequest("SKU 1", 1, Decimal(1))]}, "lines[1].sku"),
        ({"lines": [LineRequest("SKU-1", 0, Decimal(1))]}, "lines[1].quantity"),
        ({"lines": [LineRequest("SKU-1", 1, Decimal("1.001"))]}, "lines[1].unit_price"),
        ({"lines": [LineRequest("SKU-1", 1, Decimal(-1))]}, "lines[1].unit_price"),
        ({"channel": "web shop"}, "channel"),
        ({"order_number": ""}, "order_number"),
        ({"currency": "XYZ"}, "currency"),
        ({"fulfilment": "drone"}, "fulfilment"),
        ({"now": NOW.replace(tzinfo=None)}, "now"),
        ({"customer": {"email": "x@example.com"}}, "customer.name"),
        ({"customer": {"name": "Erika", "customer_id": "C 1"}}, "customer.customer_id"),
        ({"customer": {"name": "Erika", "vip": True}}, "customer.vip"),
        ({"ship_to": None}, "ship_to"),
        ({"ship_to": {**SHIP_TO, "city": ""}}, "ship_to.city"),
        ({"ship_to": {**SHIP_TO, "country": "de"}}, "ship_to.country"),
        ({"ship_to": {**SHIP_TO, "country": "DEU"}}, "ship_to.country"),
        ({"ship_to": {**SHIP_TO, "line1": "x" * 201}}, "ship_to.line1"),
        ({"pickup_location": "STORE"}, "pickup_location"),
        ({"payment_due_by": NOW}, "payment_due_by"),
        ({"payment_due_by": NOW - timedelta(seconds=1)}, "payment_due_by"),
        ({"payment_due_by": DUE.replace(tzinfo=None)}, "payment_due_by"),
    ],
)
def test_an_invalid_placement_is_refused_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        place(**overrides)

    assert raised.value.facts["field"] == field


def test_a_delivery_without_a_ship_to_address_is_refused() -> None:
    with pytest.raises(InvalidValue) as raised:
        place(ship_to=None)

    assert raised.value.facts == {"field": "ship_to"}


@pytest.mark.parametrize("fulfilment", [Fulfilment.PICKUP, Fulfilment.POS])
def test_a_store_order_must_name_its_store(fulfilment: Fulfilment) -> None:
    with pytest.raises(InvalidValue) as raised:
        pos_sale(fulfilment=fulfilment, pickup_location=None)

    assert raised.value.facts == {"field": "pickup_location"}


def test_a_store_sale_without_payment_is_refused() -> None:
    with pytest.raises(InvalidValue) as raised:
        pos_sale(payment=None)

    assert raised.value.facts == {"field": "payment"}


def test_a_pickup_order_is_never_split_and_needs_no_address() -> None:
    order = pickup(split_allowed=True)

    assert order.split_allowed is False
    assert order.ship_to is None
    assert order.pickup_location == "STORE"


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [
        (Decimal("Infinity"), Decimal(0)),
        (Decimal("1E+999"), Decimal(0)),  # finite, but infinite as a float
        (Decimal("NaN"), Decimal(0)),
        (Decimal(91), Decimal(0)),
        (Decimal(0), Decimal(-181)),
    ],
)
def test_ship_to_coordinates_a_location_would_refuse_are_refused(
    latitude: Decimal, longitude: Decimal
) -> None:
    with pytest.raises(InvalidValue):
        place(ship_to={**SHIP_TO, "latitude": latitude, "longitude": longitude})


def test_an_order_with_nothing_to_pay_has_no_payment_deadline() -> None:
    lines = [LineRequest("SKU-1", 1, Decimal("0.00"))]

    order = place(lines=lines, payment_due_by=DUE)

    assert order.paid
    assert order.payment_due_by is None


def test_an_order_with_nothing_to_pay_cannot_be_paid_nor_expire() -> None:
    # Nothing is owed: no authorisation is possible, it never lapses, and it ships at once.
    order = given(confirmed(place(lines=[LineRequest("SKU-1", 2, Decimal(0))]), PICKS[:1]))

    refused(order, lambda: order.authorise_payment(Decimal(0), "PSP-1", LATER), AmountExceeded)
    refused(order, lambda: order.expire(DUE), IllegalTransition)
    shipped(order, "1")
    assert order.status is OrderStatus.SHIPPED


# -- a repeated placement --------------------------------------------------------------------


def test_a_repeated_placement_of_the_same_lines_is_recognised() -> None:
    order = place()
    again = [LineRequest("SKU-1", 2, Decimal("10.0")), LineRequest("SKU-2", 1, Decimal("5.5"))]

    assert order.same_placement(LINES, "EUR")
    assert order.same_placement(again, "EUR")


@pytest.mark.parametrize(
    ("lines", "currency"),
    [
        (LINES, "USD"),
        ([LINES[0]], "EUR"),
        ([*LINES, LINES[1]], "EUR"),
        (list(reversed(LINES)), "EUR"),
        ([LineRequest("SKU-1", 3, Decimal("10.00")), LINES[1]], "EUR"),
        ([LineRequest("SKU-3", 2, Decimal("10.00")), LINES[1]], "EUR"),
        ([LineRequest("SKU-1", 2, Decimal("10.01")), LINES[1]], "EUR"),
    ],
)
def test_a_different_order_under_the_same_number_is_not_the_same_placement(
    lines: list[LineRequest], currency: str
) -> None:
    order = place()

    assert not order.same_placement(lines, currency)


# -- the stock outcome -----------------------------------------------------------------------


def test_confirming_records_the_shipments_and_why_they_go_there() -> None:
    order = given(place())
    shipments = shipments_for(order)

    assert order.confirm(shipments, REASON, LATER) is True

    assert new_events(order) == [
        ("Order.OrderConfirmed", {"shipments": shipments, "reason": REASON, "at": LATER})
    ]
    assert order.status is OrderStatus.CONFIRMED
    assert order.routing_reason == REASON
    assert {name: s["status"] for name, s in order.shipments.items()} == {
        "1": ShipmentStatus.ALLOCATED,
        "2": ShipmentStatus.ALLOCATED,
    }
    assert order.shipments["1"]["location"] == "SOUTH"
    assert order.open_quantities() == {"SKU-1": 2, "SKU-2": 1}


@pytest.mark.parametrize(
    "status", [OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED]
)
def test_a_stock_outcome_for_an_order_no_longer_waiting_records_nothing(
    status: OrderStatus,
) -> None:
    order = given_order_in(status)
    before = state_of(order)

    assert order.confirm(shipments_for(order), REASON, LATER) is False
    assert order.reject("no stock", [], LATER) is False

    assert new_events(order) == []
    assert state_of(order) == before


def test_rejecting_records_the_reason_and_the_shortages() -> None:
    order = given(place())
    shortages = [{"line": 1, "sku": "SKU-1", "requested": 2, "available": 1}]

    assert order.reject("the locations together cannot ship every line", shortages, LATER)

    assert new_events(order) == [
        (
            "Order.OrderRejected",
            {
                "reason": "the locations together cannot ship every line",
                "shortages": shortages,
                "at": LATER,
            },
        )
    ]
    assert order.status is OrderStatus.REJECTED
    assert order.closed_reason == "the locations together cannot ship every line"
    assert order.open_quantities() == {}


def test_a_store_sale_is_handed_over_the_moment_it_is_confirmed() -> None:
    order = given(pos_sale())
    picks = (Pick(1, "SKU-1", "STORE", 2), Pick(2, "SKU-2", "STORE", 1))

    assert order.confirm(shipments_for(order, picks), "whole order from STORE", LATER)

    assert names(new_events(order)) == [
        "Order.OrderConfirmed",
        "Order.ShipmentShipped",
        "Order.ShipmentDelivered",
    ]
    assert order.status is OrderStatus.DELIVERED
    assert order.shipments["1"]["status"] == ShipmentStatus.DELIVERED
    assert order.shipped_quantity(1) == 2
    assert order.open_quantities() == {}


# -- payment ---------------------------------------------------------------------------------


def test_authorising_part_then_the_rest_makes_the_order_paid() -> None:
    order = given(confirmed(place()))

    order.authorise_payment(Decimal("20.00"), "PSP-1", LATER)
    assert not order.paid
    order.authorise_payment(Decimal("5.50"), "PSP-2", LATER)

    assert new_events(order) == [
        (
            "Order.PaymentAuthorised",
            {"amount": Decimal("20.00"), "reference": "PSP-1", "at": LATER},
        ),
        ("Order.PaymentAuthorised", {"amount": Decimal("5.50"), "reference": "PSP-2", "at": LATER}),
    ]
    assert order.authorised == TOTAL
    assert order.paid


@pytest.mark.parametrize("amount", ["25.51", "0", "0.00"])
def test_authorising_beyond_the_total_or_nothing_at_all_is_refused(amount: str) -> None:
    order = given(confirmed(place()))

    refused(
        order,
        lambda: order.authorise_payment(Decimal(amount), "PSP-1", LATER),
        AmountExceeded,
    )


def test_authorising_beyond_what_is_left_of_the_total_is_refused() -> None:
    order = given(paid(confirmed(place()), Decimal("20.00")))

    error = refused(
        order, lambda: order.authorise_payment(Decimal("5.51"), "PSP-2", LATER), AmountExceeded
    )

    assert error.facts == {"amount": "5.51", "total": "25.50"}


@pytest.mark.parametrize("at", [DUE, DUE + timedelta(seconds=1), DUE + timedelta(days=2)])
def test_a_payment_at_or_after_the_deadline_is_refused(at: Any) -> None:
    order = given(confirmed(place()))

    error = refused(
        order, lambda: order.authorise_payment(TOTAL, "PSP-1", at), PaymentDeadlinePassed
    )

    assert error.facts == {"payment_due_by": DUE.isoformat()}


def test_a_payment_just_before_the_deadline_is_accepted() -> None:
    order = given(confirmed(place()))

    order.authorise_payment(TOTAL, "PSP-1", DUE - timedelta(microseconds=1))

    assert order.paid


def test_a_partial_payment_does_not_stop_the_deadline() -> None:
    order = given(paid(confirmed(place()), Decimal("1.00")))

    refused(
        order,
        lambda: order.authorise_payment(Decimal("24.50"), "PSP-2", DUE),
        PaymentDeadlinePassed,
    )


@pytest.mark.parametrize("amount", [Decimal("-1.00"), Decimal("1.001"), "one", None])
def test_a_malformed_amount_is_refused_as_an_invalid_value(amount: Any) -> None:
    order = given(paid(confirmed(place())))

    refused(order, lambda: order.authorise_payment(amount, "PSP-1", LATER), InvalidValue)
    refused(order, lambda: order.capture_payment(amount, "PSP-1", LATER), InvalidValue)
    refused(order, lambda: order.refund("RF-1", amount, "PSP-1", LATER), InvalidValue)


def test_capturing_up_to_what_was_authorised_is_recorded() -> None:
    order = given(paid(confirmed(place()), Decimal("20.00")))

    order.capture_payment(Decimal("15.00"), "PSP-1", LATER)
    order.capture_payment(Decimal("5.00"), "PSP-1", LATER)

    assert names(new_events(order)) == ["Order.PaymentCaptured", "Order.PaymentCaptured"]
    assert order.captured == Decimal("20.00")


@pytest.mark.parametrize(("authorised", "capture"), [("0", "0.01"), ("20.00", "20.01")])
def test_capturing_beyond_what_was_authorised_is_refused(authorised: str, capture: str) -> None:
    order = confirmed(place())
    if Decimal(authorised):
        paid(order, Decimal(authorised))
    given(order)

    error = refused(
        order, lambda: order.capture_payment(Decimal(capture), "PSP-1", LATER), AmountExceeded
    )

    assert error.facts == {"amount": capture, "authorised": authorised}


def test_a_payment_authorised_at_placement_may_be_captured_before_confirmation() -> None:
    order = given(place(payment={"status": "authorised", "reference": "PSP-1", "amount": TOTAL}))

    order.capture_payment(TOTAL, "PSP-1", LATER)

    assert order.captured == TOTAL


def test_refunding_up_to_what_was_captured_is_recorded() -> None:
    order = given(pos_sale())

    order.refund("RF-1", Decimal("10.00"), "PSP-1", LATER)
    order.refund("RF-2", Decimal("15.50"), "PSP-1", LATER)

    assert new_events(order) == [
        (
            "Order.RefundRecorded",
            {"refund_id": "RF-1", "amount": Decimal("10.00"), "reference": "PSP-1", "at": LATER},
        ),
        (
            "Order.RefundRecorded",
            {"refund_id": "RF-2", "amount": Decimal("15.50"), "reference": "PSP-1", "at": LATER},
        ),
    ]
    assert order.refunded == TOTAL


def test_a_repeated_refund_id_records_nothing_and_another_amount_under_it_is_refused() -> None:
    order = given(pos_sale())
    order.refund("RF-1", Decimal("10.00"), "PSP-1", LATER)
    order = given(order)

    order.refund("RF-1", Decimal("10.00"), "PSP-1", LATER)  # a retry

    assert new_events(order) == []
    assert order.refunded == Decimal("10.00")
    refused(order, lambda: order.refund("RF-1", Decimal("5.00"), "PSP-1", LATER), IdReused)


def test_refunding_beyond_what_was_captured_and_not_yet_refunded_is_refused() -> None:
    order = pos_sale()
    order.refund("RF-1", Decimal("20.00"), "PSP-1", LATER)
    given(order)

    error = refused(
        order, lambda: order.refund("RF-2", Decimal("5.51"), "PSP-1", LATER), AmountExceeded
    )

    assert error.facts == {"amount": "5.51", "refundable": "5.50"}


def test_an_authorised_but_uncaptured_payment_cannot_be_refunded() -> None:
    order = given(paid(confirmed(place())))

    refused(order, lambda: order.refund("RF-1", Decimal("0.01"), "PSP-1", LATER), AmountExceeded)


def test_a_cancelled_order_may_still_be_refunded() -> None:
    order = place(payment={"status": "captured", "reference": "PSP-1", "amount": TOTAL})
    order.cancel("customer asked", LATER)
    given(order)

    order.refund("RF-1", TOTAL, "PSP-1", LATER)

    assert order.refunded == TOTAL


@pytest.mark.parametrize("refund_id", ["", "RF 1", None])
def test_a_refund_needs_a_valid_refund_id(refund_id: Any) -> None:
    order = given(pos_sale())

    refused(order, lambda: order.refund(refund_id, Decimal(1), "PSP-1", LATER), InvalidValue)


# -- shipments -------------------------------------------------------------------------------


def test_a_shipment_is_picked_packed_shipped_and_delivered() -> None:
    order = given(paid(confirmed(place())))

    order.pick("1", LATER)
    order.pack("1", LATER)
    order.ship("1", LATER, carrier="DHL", tracking="JJD0001")
    assert order.status is OrderStatus.PARTIALLY_SHIPPED
    order.deliver("1", LATER)

    assert new_events(order) == [
        ("Order.ShipmentPicked", {"shipment": "1", "at": LATER}),
        ("Order.ShipmentPacked", {"shipment": "1", "at": LATER}),
        (
            "Order.ShipmentShipped",
            {"shipment": "1", "carrier": "DHL", "tracking": "JJD0001", "at": LATER},
        ),
        ("Order.ShipmentDelivered", {"shipment": "1", "at": LATER}),
    ]
    assert order.shipments["1"]["status"] == ShipmentStatus.DELIVERED
    assert order.status is OrderStatus.PARTIALLY_SHIPPED
    assert order.open_quantities() == {"SKU-2": 1}
    assert order.shipped_quantity(1) == 2
    assert order.shipped_quantity(2) == 0


def test_picking_or_packing_keeps_the_units_open() -> None:
    order = given(confirmed(place()))

    order.pick("1", LATER)
    order.pack("1", LATER)

    assert order.status is OrderStatus.CONFIRMED
    assert order.open_quantities() == {"SKU-1": 2, "SKU-2": 1}


def test_the_order_is_shipped_once_every_shipment_left_and_delivered_once_all_arrived() -> None:
    order = shipped(paid(confirmed(place())), "1")
    order.deliver("1", LATER)
    given(order)

    shipped(order, "2")
    assert order.status is OrderStatus.SHIPPED
    assert order.open_quantities() == {}
    order.deliver("2", LATER)

    assert status_of(order) is OrderStatus.DELIVERED


def test_shipping_before_payment_is_refused() -> None:
    order = confirmed(place())
    order.pick("1", LATER)
    order.pack("1", LATER)
    paid(order, Decimal("25.49"))  # one cent short
    given(order)

    error = refused(order, lambda: order.ship("1", LATER), IllegalTransition)

    assert error.facts == {"order_status": "confirmed"}


def test_a_captured_payment_is_enough_to_ship() -> None:
    order = given(
        confirmed(place(payment={"status": "captured", "reference": "P", "amount": TOTAL}))
    )

    shipped(order, "1")

    assert order.status is OrderStatus.PARTIALLY_SHIPPED


@pytest.mark.parametrize(
    ("done", "action", "status"),
    [
        ((), "pack", "allocated"),
        ((), "ship", "allocated"),
        ((), "deliver", "allocated"),
        (("pick",), "pick", "picked"),
        (("pick",), "ship", "picked"),
        (("pick",), "deliver", "picked"),
        (("pick", "pack"), "pick", "packed"),
        (("pick", "pack"), "pack", "packed"),
        (("pick", "pack"), "deliver", "packed"),
        (("pick", "pack", "ship"), "pick", "shipped"),
        (("pick", "pack", "ship"), "pack", "shipped"),
        (("pick", "pack", "ship"), "ship", "shipped"),
        (("pick", "pack", "ship", "deliver"), "deliver", "delivered"),
        (("pick", "pack", "ship", "deliver"), "ship", "delivered"),
    ],
)
def test_a_shipment_step_out_of_turn_is_refused(
    done: tuple[str, ...], action: str, status: str
) -> None:
    order = paid(confirmed(place()))
    for step in done:
        getattr(order, step)("1", LATER)
    given(order)

    error = refused(order, lambda: getattr(order, action)("1", LATER), IllegalTransition)

    assert error.facts == {"shipment": "1", "shipment_status": status}


@pytest.mark.parametrize("action", ["pick", "pack", "ship", "deliver"])
def test_a_step_on_an_unknown_shipment_is_refused(action: str) -> None:
    order = given(paid(confirmed(place())))

    error = refused(order, lambda: getattr(order, action)("9", LATER), UnknownShipment)

    assert error.facts == {"shipment": "9"}


def test_a_carrier_that_is_not_text_is_refused() -> None:
    order = paid(confirmed(place()))
    order.pick("1", LATER)
    order.pack("1", LATER)
    given(order)

    refused(order, lambda: order.ship("1", LATER, carrier="x" * 201), InvalidValue)
    refused(order, lambda: order.ship("1", LATER, tracking="\x00"), InvalidValue)


@pytest.mark.parametrize("make", [pickup, pos_sale])
def test_a_store_order_is_never_shipped(make: Callable[..., Order]) -> None:
    order = confirmed(make(payment={"status": "captured", "reference": "P", "amount": TOTAL}))
    given(order)

    refused(order, lambda: order.ship("1", LATER), IllegalTransition)


# -- click & collect -------------------------------------------------------------------------


def test_a_paid_pickup_order_is_handed_over_at_the_store() -> None:
    picks = (Pick(1, "SKU-1", "STORE", 2), Pick(2, "SKU-2", "STORE", 1))
    order = given(paid(confirmed(pickup(), picks)))

    order.collect(LATER)

    assert new_events(order) == [
        (
            "Order.ShipmentShipped",
            {"shipment": "1", "carrier": None, "tracking": None, "at": LATER},
        ),
        ("Order.ShipmentDelivered", {"shipment": "1", "at": LATER}),
    ]
    assert order.status is OrderStatus.DELIVERED
    assert order.open_quantities() == {}


def test_an_unpaid_pickup_order_is_not_handed_over() -> None:
    order = given(confirmed(pickup()))

    error = refused(order, lambda: order.collect(LATER), IllegalTransition)

    assert error.facts == {"order_status": "confirmed"}


def test_a_delivery_order_is_not_handed_over_at_a_store() -> None:
    order = given(paid(confirmed(place())))

    refused(order, lambda: order.collect(LATER), IllegalTransition)


@pytest.mark.parametrize("status", ["placed", "cancelled", "delivered"])
def test_a_pickup_order_is_handed_over_only_when_confirmed(status: str) -> None:
    order = pickup(payment={"status": "captured", "reference": "P", "amount": TOTAL})
    if status != "placed":
        confirmed(order)
    if status == "cancelled":
        order.cancel("not collected", LATER)
    if status == "delivered":
        order.collect(LATER)
    given(order)

    error = refused(order, lambda: order.collect(LATER), IllegalTransition)

    assert error.facts["order_status"] == status


# -- cancelling and expiring -----------------------------------------------------------------


def test_cancelling_a_placed_order_ends_it() -> None:
    order = given(place())

    order.cancel("changed my mind", LATER)

    assert new_events(order) == [
        (
            "Order.OrderCancelled",
            {"reason": "changed my mind", "shipments": [], "at": LATER},
        )
    ]
    assert order.status is OrderStatus.CANCELLED
    assert order.closed_reason == "changed my mind"


def test_cancelling_a_confirmed_order_cancels_every_shipment_and_frees_its_units() -> None:
    order = confirmed(place())
    order.pick("2", LATER)
    given(order)

    order.cancel("changed my mind", LATER)

    assert new_events(order) == [
        (
            "Order.OrderCancelled",
            {"reason": "changed my mind", "shipments": ["1", "2"], "at": LATER},
        )
    ]
    assert order.status is OrderStatus.CANCELLED
    assert {s["status"] for s in order.shipments.values()} == {ShipmentStatus.CANCELLED}
    assert order.open_quantities() == {}


def test_cancelling_a_partly_shipped_order_cancels_only_what_has_not_left() -> None:
    order = given_order_in(OrderStatus.PARTIALLY_SHIPPED)

    order.cancel("rest no longer wanted", LATER)

    assert new_events(order) == [
        (
            "Order.OrderCancelled",
            {"reason": "rest no longer wanted", "shipments": ["2"], "at": LATER},
        )
    ]
    assert order.shipments["1"]["status"] == ShipmentStatus.SHIPPED
    assert order.shipments["2"]["status"] == ShipmentStatus.CANCELLED
    # What left is still on its way: the order is shipped, not cancelled.
    assert order.status is OrderStatus.SHIPPED
    assert order.open_quantities() == {}
    order.deliver("1", LATER)
    assert status_of(order) is OrderStatus.DELIVERED


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_a_cancellation_needs_a_reason(reason: str) -> None:
    order = given(confirmed(place()))

    refused(order, lambda: order.cancel(reason, LATER), InvalidValue)


@pytest.mark.parametrize("at", [DUE, DUE + timedelta(hours=5)])
def test_an_unpaid_order_expires_at_its_deadline(at: Any) -> None:
    order = given(confirmed(place()))

    order.expire(at)

    assert new_events(order) == [
        ("Order.OrderExpired", {"deadline": DUE, "shipments": ["1", "2"], "at": at})
    ]
    assert order.status is OrderStatus.EXPIRED
    assert order.closed_reason == f"not paid by {DUE.isoformat()}"
    assert {s["status"] for s in order.shipments.values()} == {ShipmentStatus.CANCELLED}
    assert order.open_quantities() == {}


def test_a_placed_order_waiting_for_stock_expires_too() -> None:
    order = given(place())

    order.expire(DUE)

    assert order.status is OrderStatus.EXPIRED


def test_an_order_does_not_expire_before_its_deadline() -> None:
    order = given(confirmed(place()))

    error = refused(order, lambda: order.expire(DUE - timedelta(microseconds=1)), IllegalTransition)

    assert error.facts == {"order_status": "confirmed"}


@pytest.mark.parametrize(
    "payment",
    [
        None,  # no deadline was set
        {"status": "authorised", "reference": "P", "amount": TOTAL},  # paid at placement
    ],
)
def test_an_order_with_no_payment_outstanding_never_expires(payment: Any) -> None:
    order = given(confirmed(place(payment_due_by=None, payment=payment)))

    refused(order, lambda: order.expire(DUE + timedelta(days=30)), IllegalTransition)


def test_an_order_paid_after_placement_no_longer_expires() -> None:
    order = given(paid(confirmed(place())))

    refused(order, lambda: order.expire(DUE), IllegalTransition)


# -- every refusal of the order's state -----------------------------------------------------

COMMANDS: dict[str, Callable[[Order], object]] = {
    "authorise": lambda order: order.authorise_payment(Decimal("0.01"), "PSP-9", LATER),
    "capture": lambda order: order.capture_payment(Decimal("0.01"), "PSP-9", LATER),
    "pick": lambda order: order.pick("1", LATER),
    "pack": lambda order: order.pack("1", LATER),
    "ship": lambda order: order.ship("1", LATER),
    "deliver": lambda order: order.deliver("1", LATER),
    "cancel": lambda order: order.cancel("too late?", LATER),
    "expire": lambda order: order.expire(DUE),
}
SHIPPING = {OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED}
ALLOWED_IN: dict[str, set[OrderStatus]] = {
    "authorise": {*SHIPPING, OrderStatus.DELIVERED},
    "capture": set(OrderStatus)
    - {OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED},
    "pick": SHIPPING,
    "pack": SHIPPING,
    "ship": SHIPPING,
    "deliver": SHIPPING,
    "cancel": {OrderStatus.PLACED, OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_SHIPPED},
    "expire": {OrderStatus.PLACED, OrderStatus.CONFIRMED},
}
ILLEGAL = [
    (status, command)
    for status in OrderStatus
    for command in COMMANDS
    if status not in ALLOWED_IN[command]
]


@pytest.mark.parametrize(("status", "command"), ILLEGAL)
def test_a_command_the_orders_state_does_not_allow_is_an_illegal_transition(
    status: OrderStatus, command: str
) -> None:
    order = given_order_in(status)

    error = refused(order, lambda: COMMANDS[command](order), IllegalTransition)

    assert error.facts["order_status"] == status


@pytest.mark.parametrize("status", list(OrderStatus))
def test_a_delivery_order_is_never_handed_over_at_a_store_in_any_state(
    status: OrderStatus,
) -> None:
    order = given_order_in(status)

    refused(order, lambda: order.collect(LATER), IllegalTransition)


# -- returns ---------------------------------------------------------------------------------


def test_a_return_of_shipped_units_is_recorded() -> None:
    order = given(delivered(shipped(paid(confirmed(place())), "1", "2"), "1"))

    order.record_return("RT-1", {1: 1, 2: 1}, "SOUTH", Disposition.SELLABLE, LATER)

    assert new_events(order) == [
        (
            "Order.ReturnRecorded",
            {
                "return_id": "RT-1",
                "lines": [
                    {"line": 1, "sku": "SKU-1", "quantity": 1},
                    {"line": 2, "sku": "SKU-2", "quantity": 1},
                ],
                "location": "SOUTH",
                "disposition": Disposition.SELLABLE,
                "at": LATER,
            },
        )
    ]
    assert order.returned == {1: 1, 2: 1}
    assert order.status is OrderStatus.SHIPPED


def test_a_repeated_return_id_restocks_nothing_twice() -> None:
    order = given(delivered(shipped(paid(confirmed(place())), "1", "2"), "1"))
    order.record_return("RT-1", {1: 1}, "SOUTH", Disposition.SELLABLE, LATER)
    order = given(order)

    order.record_return("RT-1", {1: 1}, "SOUTH", Disposition.SELLABLE, LATER)  # a retry

    assert new_events(order) == []
    assert order.returned == {1: 1}
    refused(
        order,
        lambda: order.record_return("RT-1", {1: 1}, "NORTH", Disposition.DAMAGED, LATER),
        IdReused,
    )


def test_returning_more_than_was_shipped_is_refused() -> None:
    order = given(shipped(paid(confirmed(place())), "1"))

    error = refused(
        order,
        lambda: order.record_return("RT-1", {1: 3}, "SOUTH", Disposition.DAMAGED, LATER),
        AmountExceeded,
    )

    assert error.facts == {"line": 1, "returnable": 2}


def test_returning_a_line_that_has_not_shipped_is_refused_even_beside_one_that_has() -> None:
    order = given(shipped(paid(confirmed(place())), "1"))

    error = refused(
        order,
        lambda: order.record_return("RT-1", {1: 1, 2: 1}, "SOUTH", Disposition.SELLABLE, LATER),
        AmountExceeded,
    )

    assert error.facts == {"line": 2, "returnable": 0}


def test_earlier_returns_count_against_what_may_still_come_back() -> None:
    order = shipped(paid(confirmed(place())), "1")
    order.record_return("RT-1", {1: 1}, "SOUTH", Disposition.SELLABLE, LATER)
    given(order)

    error = refused(
        order,
        lambda: order.record_return("RT-2", {1: 2}, "SOUTH", Disposition.SELLABLE, LATER),
        AmountExceeded,
    )

    assert error.facts == {"line": 1, "returnable": 1}
    order.record_return("RT-2", {1: 1}, "NORTH", Disposition.DAMAGED, LATER)
    assert order.returned == {1: 2}


def test_a_split_line_may_return_everything_that_shipped_from_every_location() -> None:
    picks = (Pick(1, "SKU-1", "SOUTH", 1), Pick(1, "SKU-1", "NORTH", 1), PICKS[1])
    order = given(shipped(paid(confirmed(place(), picks)), "1", "2"))

    order.record_return("RT-1", {1: 2}, "SOUTH", Disposition.SELLABLE, LATER)

    assert order.returned == {1: 2}


@pytest.mark.parametrize(
    ("return_id", "lines", "location", "disposition", "field"),
    [
        ("RT 1", {1: 1}, "SOUTH", Disposition.SELLABLE, "return_id"),
        ("RT-1", {1: 1}, "", Disposition.SELLABLE, "location"),
        ("RT-1", {1: 1}, "SOUTH", "lost", "disposition"),
        ("RT-1", {}, "SOUTH", Disposition.SELLABLE, "lines"),
        ("RT-1", {3: 1}, "SOUTH", Disposition.SELLABLE, "lines"),
        ("RT-1", {1: 0}, "SOUTH", Disposition.SELLABLE, "lines[1].quantity"),
    ],
)
def test_a_malformed_return_is_refused(
    return_id: str, lines: dict[int, int], location: str, disposition: Any, field: str
) -> None:
    order = given(shipped(paid(confirmed(place())), "1", "2"))

    error = refused(
        order,
        lambda: order.record_return(return_id, lines, location, disposition, LATER),
        InvalidValue,
    )

    assert error.facts["field"] == field


# -- replay ----------------------------------------------------------------------------------


def test_replaying_an_orders_events_rebuilds_it() -> None:
    order = place()
    history = list(order.collect_events())
    confirmed(order)
    paid(order)
    shipped(order, "1")
    order.record_return("RT-1", {1: 1}, "SOUTH", Disposition.SELLABLE, LATER)
    order.cancel("rest not wanted", LATER)
    order.capture_payment(TOTAL, "PSP-1", LATER)
    order.refund("RF-1", Decimal("10.00"), "PSP-1", LATER)
    history.extend(order.collect_events())

    rebuilt = replay(history)

    assert rebuilt.version == order.version == len(history)
    assert state_of(rebuilt) == state_of(order)
    assert rebuilt.open_quantities() == order.open_quantities() == {}
