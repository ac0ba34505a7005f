"""Allocation: the stock side of one order -- its shipments, their holds and how they settled."""

from __future__ import annotations

from uuid import UUID

from domain.allocation import Allocation, allocation_id, plan_shipments, reservation_id
from domain.identity import stream_id
from domain.routing import Pick, Routing
from tests.domain.support import NOW, new_events

ORDER = UUID("12345678-1234-5678-1234-567812345678")
ROUTING = Routing(
    (
        Pick(1, "A", "STORE", 2),
        Pick(1, "A", "NORTH", 1),
        Pick(2, "B", "STORE", 4),
        Pick(3, "C", "SOUTH", 1),
    ),
    (),
    "split over 3 locations (NORTH, SOUTH, STORE)",
)


def test_a_reservation_id_is_stable_and_names_order_shipment_and_line() -> None:
    assert reservation_id(ORDER, "2", 3) == "o-123456781234567812345678-2-3"
    assert reservation_id(ORDER, "2", 3) == reservation_id(ORDER, "2", 3)
    assert reservation_id(ORDER, "1", 3) != reservation_id(ORDER, "2", 3)


def test_shipments_are_one_per_location_numbered_in_the_order_routing_chose_them() -> None:
    shipments = plan_shipments(ORDER, ROUTING)

    assert shipments == [
        {
            "shipment": "1",
            "location": "STORE",
            "lines": [
                {
                    "line": 1,
                    "sku": "A",
                    "quantity": 2,
                    "reservation_id": reservation_id(ORDER, "1", 1),
                },
                {
                    "line": 2,
                    "sku": "B",
                    "quantity": 4,
                    "reservation_id": reservation_id(ORDER, "1", 2),
                },
            ],
        },
        {
            "shipment": "2",
            "location": "NORTH",
            "lines": [
                {
                    "line": 1,
                    "sku": "A",
                    "quantity": 1,
                    "reservation_id": reservation_id(ORDER, "2", 1),
                },
            ],
        },
        {
            "shipment": "3",
            "location": "SOUTH",
            "lines": [
                {
                    "line": 3,
                    "sku": "C",
                    "quantity": 1,
                    "reservation_id": reservation_id(ORDER, "3", 3),
                },
            ],
        },
    ]


def test_nothing_routed_plans_no_shipments() -> None:
    assert plan_shipments(ORDER, Routing((), (), "nothing to route")) == []


def test_a_reserved_allocation_lists_the_open_holds_of_its_shipments() -> None:
    allocation = Allocation.made(
        ORDER, "web", "W-1", plan_shipments(ORDER, ROUTING), ROUTING.reason, NOW
    )

    assert allocation.id == allocation_id(ORDER) == stream_id("allocation", str(ORDER))
    assert allocation.reserved
    assert allocation.holds(["2", "9"]) == [("A", reservation_id(ORDER, "2", 1), 1)]
    assert [hold[1] for hold in allocation.holds()] == [
        reservation_id(ORDER, "1", 1),
        reservation_id(ORDER, "1", 2),
        reservation_id(ORDER, "2", 1),
        reservation_id(ORDER, "3", 3),
    ]


def test_settling_a_shipment_records_it_once_and_closes_its_holds() -> None:
    allocation = Allocation.made(
        ORDER, "web", "W-1", plan_shipments(ORDER, ROUTING), ROUTING.reason, NOW
    )
    allocation.collect_events()

    allocation.settle(["1"], "committed", "shipment shipped")
    allocation.settle(["1"], "committed", "shipment shipped")  # a redelivery: nothing new
    allocation.settle(["1", "2", "7"], "released", "order cancelled")

    assert new_events(allocation) == [
        (
            "Allocation.AllocationSettled",
            {"shipments": ["1"], "how": "committed", "reason": "shipment shipped"},
        ),
        (
            "Allocation.AllocationSettled",
            {"shipments": ["2"], "how": "released", "reason": "order cancelled"},
        ),
    ]
    assert allocation.settled == {"1", "2"}
    assert allocation.holds() == [("C", reservation_id(ORDER, "3", 3), 1)]


def test_a_refused_allocation_holds_nothing() -> None:
    shortages = [{"line": 1, "sku": "A", "requested": 3, "available": 1}]

    allocation = Allocation.refused(ORDER, "web", "W-1", shortages, "no stock", NOW)

    assert not allocation.reserved
    assert allocation.shortages == shortages
    assert allocation.holds() == []
