"""The reservation saga: an order's stock, from placement to shipment, return or release.

Two process managers, each exactly once (application/processes.py):

- ``order-allocation`` follows the orders log and writes into the inventory log. For a
  placed order it routes the order (domain/routing.py) and makes every hold together with
  an Allocation that records the decision, in one transaction — or records a refusal and
  holds nothing. A cancelled or expired order's open holds are released, a shipped
  shipment's holds committed, a sellable return restocked.
- ``order-outcome`` follows the inventory log's allocation decisions and confirms or
  rejects the order.

Neither keeps state of its own beyond its position, so killing either at any moment and
starting it again finishes every order: the position commits with the writes it covers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from application.commands import Request
from application.context import CommandContext
from application.inventory import InventoryApp
from application.orders import OrdersApp
from application.processes import LogProcess
from domain.allocation import Allocation, allocation_id, plan_shipments
from domain.errors import DomainError, ReservationNotFound
from domain.identity import stream_id
from domain.inventory import Inventory
from domain.network import Channel, Location
from domain.order import Disposition, Fulfilment, Order
from domain.routing import Routing, Site, Want, route

log = structlog.get_logger(__name__)

ACTOR = "process:order-saga"
EXPIRY_ACTOR = "process:order-expiry"


def _event(aggregate: type, name: str) -> type:
    found: type = getattr(aggregate, name)
    return found


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OrderSaga:
    def __init__(
        self,
        orders: OrdersApp,
        inventory: InventoryApp,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.orders = orders
        self.inventory = inventory
        self.clock = clock
        self.allocation = LogProcess(
            "order-allocation",
            upstream=orders,
            target=inventory,
            reactions={
                _event(Order, "OrderPlaced"): self._allocate,
                _event(Order, "OrderCancelled"): self._release,
                _event(Order, "OrderExpired"): self._release,
                _event(Order, "ShipmentShipped"): self._commit,
                _event(Order, "ReturnRecorded"): self._restock,
            },
            actor=ACTOR,
        )
        self.outcome = LogProcess(
            "order-outcome",
            upstream=inventory,
            target=orders,
            reactions={_event(Allocation, "AllocationDecided"): self._settle_order},
            actor=ACTOR,
        )

    def processes(self) -> list[LogProcess]:
        return [self.allocation, self.outcome]

    def run_once(self) -> int:
        """Drive both processes until neither finds anything new (tests, tools)."""
        total = 0
        while True:
            done = sum(process.run_once() for process in self.processes())
            total += done
            if done == 0:
                return total

    # -- order-allocation ------------------------------------------------------------------

    def _get(self, kind: str, key: str) -> Any:
        try:
            return self.inventory.repository.get(stream_id(kind, key))
        except AggregateNotFoundError:
            return None

    def _allocation(self, order: UUID) -> Allocation | None:
        try:
            found: Allocation = self.inventory.repository.get(allocation_id(order))
        except AggregateNotFoundError:
            return None
        return found

    def _allocate(self, placed: Any, _: Any) -> Sequence[Aggregate]:
        order = placed.originator_id
        if self._allocation(order) is not None:
            return []  # decided already (a replay after a crash before the position moved)
        now = self.clock()

        def refuse(reason: str, shortages: list[dict[str, Any]] | None = None) -> list[Aggregate]:
            return [
                Allocation.refused(
                    order, placed.channel, placed.order_number, shortages or [], reason, now
                )
            ]

        channel: Channel | None = self._get("channel", placed.channel)
        if channel is None:
            return refuse(f"no channel {placed.channel}")
        feeding = list(channel.locations)
        if Fulfilment(placed.fulfilment) is Fulfilment.DELIVERY:
            candidates = feeding
        elif placed.pickup_location in feeding:
            candidates = [placed.pickup_location]  # the chosen store, and only it
        else:
            return refuse(f"store {placed.pickup_location} does not feed {placed.channel}")
        stock: dict[str, Inventory] = {}
        for line in placed.lines:
            found = stock.get(line["sku"]) or self._get("sku", line["sku"])
            if found is None:
                return refuse(f"no SKU {line['sku']}")
            stock[line["sku"]] = found
        priority = self.orders.settings.location_priority
        sites = []
        for code in candidates:
            location: Location | None = self._get("location", code)
            sites.append(
                Site(
                    code,
                    None if location is None else location.latitude,
                    None if location is None else location.longitude,
                    priority.get(code, 100),
                )
            )
        routing = route(
            [Want(line["line"], line["sku"], line["quantity"]) for line in placed.lines],
            sites,
            {(sku, code): inv.free(code, now) for sku, inv in stock.items() for code in candidates},
            {
                sku: inv.available_to_promise(placed.channel, feeding, now)
                for sku, inv in stock.items()
            },
            _coordinates(placed.ship_to),
            placed.split_allowed,
        )
        if not routing.routed:
            return refuse(routing.reason, _shortages(routing))
        shipments = plan_shipments(order, routing)
        try:
            for shipment in shipments:
                for item in shipment["lines"]:
                    stock[item["sku"]].reserve(
                        item["reservation_id"],
                        shipment["location"],
                        item["quantity"],
                        reference=f"order {placed.channel}/{placed.order_number}",
                        now=now,
                        channel=placed.channel,
                        channel_locations=feeding,
                        expires_at=placed.payment_due_by,
                    )
        except DomainError as refused:  # e.g. its payment deadline passed before now
            return refuse(f"a hold was refused: {refused}")
        made = Allocation.made(
            order, placed.channel, placed.order_number, shipments, routing.reason, now
        )
        return [made, *stock.values()]

    def _release(self, ended: Any, _: Any) -> Sequence[Aggregate]:
        allocation = self._allocation(ended.originator_id)
        if allocation is None or not allocation.reserved:
            return []
        reason = "order expired" if type(ended).__name__ == "OrderExpired" else "order cancelled"
        open_shipments = [name for name in allocation.shipments if name not in allocation.settled]
        changed = self._settle_holds(allocation, open_shipments, "released")
        allocation.settle(open_shipments, "released", reason)
        return [allocation, *changed]

    def _commit(self, shipped: Any, _: Any) -> Sequence[Aggregate]:
        allocation = self._allocation(shipped.originator_id)
        if allocation is None or not allocation.reserved:
            return []
        changed = self._settle_holds(allocation, [shipped.shipment], "committed")
        allocation.settle([shipped.shipment], "committed", "shipment shipped")
        return [allocation, *changed]

    def _settle_holds(
        self, allocation: Allocation, shipments: list[str], how: str
    ) -> list[Inventory]:
        stock: dict[str, Inventory] = {}
        for sku, reservation, _ in allocation.holds(shipments):
            inventory = stock.get(sku) or self._get("sku", sku)
            if inventory is None:
                continue
            stock[sku] = inventory
            try:
                if how == "committed":
                    inventory.commit(reservation)
                else:
                    inventory.release(reservation)
            except ReservationNotFound:
                continue  # already settled by an operator's direct command
        return list(stock.values())

    def _restock(self, returned: Any, _: Any) -> Sequence[Aggregate]:
        if Disposition(returned.disposition) is not Disposition.SELLABLE:
            return []  # damaged goods come back, but not into sellable stock
        stock: dict[str, Inventory] = {}
        for item in returned.lines:
            inventory = stock.get(item["sku"]) or self._get("sku", item["sku"])
            if inventory is None:
                continue
            stock[item["sku"]] = inventory
            inventory.restock(returned.location, item["quantity"], f"return {returned.return_id}")
        return list(stock.values())

    # -- order-outcome ---------------------------------------------------------------------

    def _settle_order(self, decided: Any, _: Any) -> Sequence[Aggregate]:
        try:
            order: Order = self.orders.repository.get(decided.order_id)
        except AggregateNotFoundError:
            return []
        now = self.clock()
        if decided.outcome == "reserved":
            order.confirm(decided.shipments, decided.reason, now)
        else:
            order.reject(decided.reason, decided.shortages, now)
        return [order]


def _coordinates(ship_to: dict[str, Any] | None) -> Any:
    if not ship_to or ship_to.get("latitude") is None or ship_to.get("longitude") is None:
        return None
    return (ship_to["latitude"], ship_to["longitude"])


def _shortages(routing: Routing) -> list[dict[str, Any]]:
    return [
        {"line": s.line, "sku": s.sku, "requested": s.requested, "available": s.available}
        for s in routing.shortages
    ]


class OrderExpiry:
    """Lapses unpaid orders past their deadline with an explicit event.

    Availability does not wait for it (a lapsed hold already counts as free); it makes the
    lapse part of the order's history and releases the holds for good.
    """

    def __init__(
        self,
        orders: OrdersApp,
        due: Callable[[datetime, int], list[UUID]],
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.orders = orders
        self.due = due
        self.clock = clock

    def run_once(self, limit: int = 500) -> int:
        expired = 0
        request = Request(context=CommandContext(actor=EXPIRY_ACTOR))
        for order in self.due(self.clock(), limit):
            try:
                self.orders.expire(order, request)
                expired += 1
            except DomainError as refused:  # paid or cancelled meanwhile
                log.info("order.expiry_skipped", order_id=str(order), reason=str(refused))
        return expired

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("order.expiry_failed")
            stop.wait(interval)

    def start(self, interval: float = 1.0) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run, args=(stop, interval), name="order-expiry", daemon=True
        )
        thread.start()
        return thread, stop
