"""The stock side of one order: the routing decision and the holds made for it.

An Allocation lives in the inventory log, next to the reservations it explains, and is saved
in the same transaction as them: an order's holds are made all together or not at all, so
no order is ever left half-reserved. The order side learns the outcome from its events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.identity import stream_id
from domain.routing import Routing


def allocation_id(order_id: UUID) -> UUID:
    return stream_id("allocation", str(order_id))


def reservation_id(order_id: UUID, shipment: str, line: int) -> str:
    """A hold's id: stable, so a retried allocation finds the hold it already made."""
    return f"o-{order_id.hex[:24]}-{shipment}-{line}"


def plan_shipments(order_id: UUID, routing: Routing) -> list[dict[str, Any]]:
    """One shipment per location, numbered in the order the routing chose them."""
    numbers: dict[str, str] = {}
    for pick in routing.picks:
        numbers.setdefault(pick.location, str(len(numbers) + 1))
    shipments: list[dict[str, Any]] = [
        {"shipment": number, "location": location, "lines": []}
        for location, number in numbers.items()
    ]
    by_number = {item["shipment"]: item for item in shipments}
    for pick in routing.picks:
        number = numbers[pick.location]
        by_number[number]["lines"].append(
            {
                "line": pick.line,
                "sku": pick.sku,
                "quantity": pick.quantity,
                "reservation_id": reservation_id(order_id, number, pick.line),
            }
        )
    return shipments


class Allocation(Aggregate):
    @staticmethod
    def create_id(order_id: UUID, **_: Any) -> UUID:
        return allocation_id(order_id)

    @classmethod
    def made(
        cls,
        order_id: UUID,
        channel: str,
        order_number: str,
        shipments: list[dict[str, Any]],
        reason: str,
        now: datetime,
    ) -> Allocation:
        return cls(
            order_id=order_id,
            channel=channel,
            order_number=order_number,
            outcome="reserved",
            shipments=shipments,
            shortages=[],
            reason=reason,
            at=now,
        )

    @classmethod
    def refused(
        cls,
        order_id: UUID,
        channel: str,
        order_number: str,
        shortages: list[dict[str, Any]],
        reason: str,
        now: datetime,
    ) -> Allocation:
        return cls(
            order_id=order_id,
            channel=channel,
            order_number=order_number,
            outcome="refused",
            shipments=[],
            shortages=shortages,
            reason=reason,
            at=now,
        )

    @event("AllocationDecided")
    def __init__(
        self,
        order_id: UUID,
        channel: str,
        order_number: str,
        outcome: str,
        shipments: list[dict[str, Any]],
        shortages: list[dict[str, Any]],
        reason: str,
        at: datetime,
    ) -> None:
        self.order_id = order_id
        self.channel = channel
        self.order_number = order_number
        self.outcome = outcome
        self.shipments = {item["shipment"]: item for item in shipments}
        self.shortages = shortages
        self.reason = reason
        self.settled: set[str] = set()  # shipments whose holds were committed or released

    @property
    def reserved(self) -> bool:
        return self.outcome == "reserved"

    def holds(self, shipments: list[str] | None = None) -> list[tuple[str, str, int]]:
        """(sku, reservation id, quantity) of the open holds of ``shipments`` (all if None)."""
        names = sorted(self.shipments) if shipments is None else shipments
        return [
            (item["sku"], item["reservation_id"], item["quantity"])
            for name in names
            if name in self.shipments and name not in self.settled
            for item in self.shipments[name]["lines"]
        ]

    def settle(self, shipments: list[str], how: str, reason: str) -> None:
        """Record that ``shipments``' holds were ``committed`` or ``released``."""
        todo = [name for name in shipments if name in self.shipments and name not in self.settled]
        if todo:
            self._settle(shipments=todo, how=how, reason=reason)

    @event("AllocationSettled")
    def _settle(self, shipments: list[str], how: str, reason: str) -> None:
        self.settled.update(shipments)
