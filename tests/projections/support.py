"""Inventory commands the application has no method for yet, run through its command runner.

InventoryApp gains ``secure_hold`` and ``restock`` separately; until then the tests act on the
aggregate the way those methods will: load, call the domain, save in one command.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from application.commands import ANONYMOUS
from application.inventory import InventoryApp
from domain.allocation import Allocation, allocation_id, plan_shipments
from domain.identity import stream_id
from domain.inventory import Inventory
from domain.routing import Pick, Routing


def secure(app: InventoryApp, sku: str, reservation_id: str, now: datetime) -> None:
    """The order behind the hold was paid: the hold stops expiring."""

    def decide(inventory: Inventory | None) -> tuple[Inventory, dict[str, object]]:
        assert inventory is not None
        inventory.secure(reservation_id, now)
        return inventory, {}

    app.commands.run(stream_id("sku", sku), decide, ANONYMOUS)


def restock(app: InventoryApp, sku: str, location: str, quantity: int, reference: str) -> None:
    """A customer return went back on the shelf at ``location``."""

    def decide(inventory: Inventory | None) -> tuple[Inventory, dict[str, object]]:
        assert inventory is not None
        inventory.restock(location, quantity, reference)
        return inventory, {}

    app.commands.run(stream_id("sku", sku), decide, ANONYMOUS)


def record_allocation(
    app: InventoryApp, channel: str, sku: str, location: str, quantity: int, now: datetime
) -> UUID:
    """Write an order's Allocation (decided, then settled) into the inventory log."""
    order_id = uuid4()
    routing = Routing(
        picks=(Pick(line=1, sku=sku, location=location, quantity=quantity),),
        shortages=(),
        reason="test",
    )
    shipments = plan_shipments(order_id, routing)

    def decide(allocation: Allocation | None) -> tuple[Allocation, dict[str, object]]:
        assert allocation is None
        made = Allocation.made(
            order_id, channel, f"N-{order_id.hex[:8]}", shipments, "nearest", now
        )
        made.settle(["1"], "released", "test")
        return made, {}

    app.commands.run(allocation_id(order_id), decide, ANONYMOUS)
    return order_id
