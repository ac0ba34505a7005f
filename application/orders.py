"""The orders application: placement, payment, shipments, returns — its own log ("orders").

Placement is idempotent by the channel's own order number: the order's stream id derives
from (channel, order number), so a repeat (even a concurrent one) finds the order already
there and is answered with it. Stock is reserved afterwards by the reservation saga
(application/order_saga.py), which also routes the order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Protocol
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from application.commands import ANONYMOUS, CommandRunner, Outcome, Request
from application.inventory import InventoryApp
from domain.allocation import Allocation, allocation_id
from domain.errors import LocationNotInChannel
from domain.identity import check_code
from domain.money import minor_units, quantum
from domain.order import (
    Disposition,
    Fulfilment,
    LineRequest,
    Order,
    OrderNumberReused,
    PriceEvidence,
    UnknownOrder,
    check_order_number,
    order_id,
)


class PriceBook(Protocol):
    """The effective prices a channel shows at a moment, with what made them."""

    def evidence(
        self, channel: str, currency: str, skus: Sequence[str], at: datetime
    ) -> dict[str, PriceEvidence]: ...


@dataclass(frozen=True)
class OrderSettings:
    # How far a shown unit price may differ from the effective one (percent of it).
    price_tolerance_percent: Decimal = Decimal(0)
    # An unpaid order's holds lapse after this long unless the channel gives a deadline.
    payment_window: timedelta = timedelta(minutes=30)
    # Routing's tie-breaker after distance: lower first; unlisted locations get 100.
    location_priority: Mapping[str, int] = field(default_factory=dict)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _money(amount: Decimal | None, currency: str) -> dict[str, str] | None:
    if amount is None:
        return None
    # Shown with the currency's decimals (0 as 0.00); an amount is never rounded.
    if int(amount.as_tuple().exponent) >= -minor_units(currency):
        amount = amount.quantize(quantum(currency))
    return {"amount": str(amount), "currency": currency}


def order_view(order: Order) -> dict[str, Any]:
    currency = order.currency
    return {
        "order_id": str(order.id),
        "channel": order.channel,
        "order_number": order.order_number,
        "status": order.status.value,
        "fulfilment": order.fulfilment.value,
        "pickup_location": order.pickup_location,
        "split_allowed": order.split_allowed,
        "total": _money(order.total, currency),
        "lines": [
            {
                "line": line["line"],
                "sku": line["sku"],
                "quantity": line["quantity"],
                "unit_price": _money(line["unit_price"], currency),
                "effective_price": _money(line["effective_price"], currency),
                "list_price": _money(line["list_price"], currency),
                "promotion_ids": list(line["promotion_ids"]),
                "price_list_version": line["price_list_version"],
            }
            for line in order.lines
        ],
        "customer": order.customer,
        "ship_to": order.ship_to,
        "payment": {
            "due_by": None if order.payment_due_by is None else order.payment_due_by.isoformat(),
            "authorised": _money(order.authorised, currency),
            "captured": _money(order.captured, currency),
            "refunded": _money(order.refunded, currency),
        },
        "routing_reason": order.routing_reason,
        "shipments": [
            {
                "shipment": name,
                "location": shipment["location"],
                "status": str(shipment["status"]),
                "lines": [
                    {
                        "line": item["line"],
                        "sku": item["sku"],
                        "quantity": item["quantity"],
                        "reservation_id": item["reservation_id"],
                    }
                    for item in shipment["lines"]
                ],
            }
            for name, shipment in sorted(order.shipments.items())
        ],
        "closed_reason": order.closed_reason,
        "placed_at": order.placed_at.isoformat(),
        "version": order.version,
    }


class OrdersApp(Application[UUID]):
    """Order commands. Every method is safe to call from many threads."""

    name = "orders"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }

    def __init__(
        self,
        env: dict[str, str] | None,
        inventory: InventoryApp,
        prices: PriceBook,
        settings: OrderSettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(env)
        self.commands = CommandRunner(self)
        self.inventory = inventory
        self.prices = prices
        self.settings = settings or OrderSettings()
        self.clock = clock

    # -- placement --------------------------------------------------------------------------

    def place(
        self,
        *,
        channel: str,
        order_number: str,
        lines: list[LineRequest],
        currency: str,
        customer: dict[str, Any] | None = None,
        ship_to: dict[str, Any] | None = None,
        fulfilment: Fulfilment = Fulfilment.DELIVERY,
        pickup_location: str | None = None,
        split_allowed: bool = False,
        payment_due_by: datetime | None = None,
        payment: dict[str, Any] | None = None,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Place an order, or answer with the one already placed under this number."""
        check_code(channel, "channel")
        check_order_number(order_number)
        locations = self.inventory.channel(channel).locations
        if pickup_location is not None:
            self.inventory.require_location(pickup_location)
            if pickup_location not in locations:
                raise LocationNotInChannel(
                    f"location {pickup_location} does not feed channel {channel}",
                    location=pickup_location,
                    channel=channel,
                )
        now = self.clock()

        def decide(order: Order | None) -> tuple[Order, dict[str, Any]]:
            if order is not None:
                if not order.same_placement(lines, currency):
                    raise OrderNumberReused(
                        f"order {order_number} of channel {channel} exists with other lines",
                        channel=channel,
                        order_number=order_number,
                    )
                return order, order_view(order)
            skus = sorted({line.sku for line in lines if isinstance(line.sku, str)})
            found = self.prices.evidence(channel, currency, skus, now)
            missing = PriceEvidence(None, None, (), None, None)
            deadline = payment_due_by
            if deadline is None and payment is None and fulfilment is not Fulfilment.POS:
                deadline = now + self.settings.payment_window
            order = Order.place(
                channel=channel,
                order_number=order_number,
                lines=lines,
                evidence=[found.get(line.sku, missing) for line in lines],
                currency=currency,
                customer=customer,
                ship_to=ship_to,
                fulfilment=fulfilment,
                pickup_location=pickup_location,
                split_allowed=split_allowed,
                payment_due_by=deadline,
                payment=payment,
                now=now,
                tolerance_percent=self.settings.price_tolerance_percent,
            )
            return order, order_view(order)

        return self.commands.run(order_id(channel, order_number), decide, request)

    # -- the rest of the lifecycle ----------------------------------------------------------

    def _on_order(
        self,
        channel: str,
        order_number: str,
        act: Callable[[Order, datetime], Any],
        request: Request,
    ) -> Outcome:
        check_code(channel, "channel")
        check_order_number(order_number)
        viewer = request.context.channel

        def missing() -> UnknownOrder:
            return UnknownOrder(
                f"channel {channel} has no order {order_number!r}",
                channel=channel,
                order_number=order_number,
            )

        def decide(order: Order | None) -> tuple[Order, dict[str, Any]]:
            assert order is not None
            # A channel never learns of another channel's orders.
            if viewer is not None and viewer != order.channel:
                raise missing()
            act(order, self.clock())
            return order, order_view(order)

        return self.commands.run(order_id(channel, order_number), decide, request, missing)

    def order(self, channel: str, order_number: str) -> Order:
        try:
            found: Order = self.repository.get(order_id(channel, order_number))
        except AggregateNotFoundError:
            raise UnknownOrder(
                f"channel {channel} has no order {order_number!r}",
                channel=channel,
                order_number=order_number,
            ) from None
        return found

    def authorise_payment(
        self,
        channel: str,
        order_number: str,
        amount: Decimal,
        reference: str,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Record an authorisation; first keep the order's holds past their expiry.

        The holds are secured before the payment is recorded: once a hold has lapsed its
        units may back another order, so a payment after the deadline is refused rather
        than honoured with stock that is no longer there.
        """
        if request.idempotency_key is not None:
            earlier = self.commands.replay(request)
            if earlier is not None:
                return earlier
        now = self.clock()
        probe = self.order(channel, order_number)
        if request.context.channel not in (None, probe.channel):
            raise UnknownOrder(
                f"channel {channel} has no order {order_number!r}",
                channel=channel,
                order_number=order_number,
            )
        probe.authorise_payment(amount, reference, now)  # refuses before anything is written
        try:
            allocation: Allocation = self.inventory.repository.get(allocation_id(probe.id))
        except AggregateNotFoundError:
            allocation = None  # type: ignore[assignment]
        if allocation is not None:
            for sku, reservation, _ in allocation.holds():
                self.inventory.secure_hold(sku, reservation, now, Request(context=request.context))
        return self._on_order(
            channel,
            order_number,
            lambda order, at: order.authorise_payment(amount, reference, at),
            request,
        )

    def capture_payment(
        self,
        channel: str,
        order_number: str,
        amount: Decimal,
        reference: str,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        return self._on_order(
            channel, order_number, lambda o, at: o.capture_payment(amount, reference, at), request
        )

    def refund(
        self,
        channel: str,
        order_number: str,
        refund_id: str,
        amount: Decimal,
        reference: str,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        return self._on_order(
            channel, order_number, lambda o, at: o.refund(refund_id, amount, reference, at), request
        )

    def advance_shipment(
        self,
        channel: str,
        order_number: str,
        shipment: str,
        step: str,
        carrier: str | None = None,
        tracking: str | None = None,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """``step`` is pick, pack, ship or deliver."""

        def act(order: Order, at: datetime) -> None:
            if step == "pick":
                order.pick(shipment, at)
            elif step == "pack":
                order.pack(shipment, at)
            elif step == "ship":
                order.ship(shipment, at, carrier, tracking)
            elif step == "deliver":
                order.deliver(shipment, at)
            else:
                raise ValueError(step)

        return self._on_order(channel, order_number, act, request)

    def collect(self, channel: str, order_number: str, request: Request = ANONYMOUS) -> Outcome:
        return self._on_order(channel, order_number, lambda o, at: o.collect(at), request)

    def cancel(
        self, channel: str, order_number: str, reason: str, request: Request = ANONYMOUS
    ) -> Outcome:
        return self._on_order(channel, order_number, lambda o, at: o.cancel(reason, at), request)

    def record_return(
        self,
        channel: str,
        order_number: str,
        return_id: str,
        lines: dict[int, int],
        location: str,
        disposition: Disposition,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        self.inventory.require_location(location)
        return self._on_order(
            channel,
            order_number,
            lambda o, at: o.record_return(return_id, lines, location, disposition, at),
            request,
        )

    def erase_personal_data(
        self, order: UUID, legal_basis: str, request: Request = ANONYMOUS
    ) -> Outcome:
        """Show the order's customer and ship-to as erased (the privacy process, before the
        keys go: a cached order must not keep them readable)."""

        def decide(found: Order | None) -> tuple[Order, dict[str, Any]]:
            assert found is not None
            found.erase_personal_data(legal_basis, self.clock())
            return found, order_view(found)

        return self.commands.run(
            order, decide, request, lambda: UnknownOrder(f"no order {order}", order_id=str(order))
        )

    def erase_ship_to(self, order: UUID, legal_basis: str, request: Request = ANONYMOUS) -> Outcome:
        """Show the order's ship-to address as erased (the retention process, before its key
        goes)."""

        def decide(found: Order | None) -> tuple[Order, dict[str, Any]]:
            assert found is not None
            found.erase_ship_to(legal_basis, self.clock())
            return found, order_view(found)

        return self.commands.run(
            order, decide, request, lambda: UnknownOrder(f"no order {order}", order_id=str(order))
        )

    def expire(self, order: UUID, request: Request = ANONYMOUS) -> Outcome:
        """Lapse an unpaid order past its deadline (the expiry timer's command)."""

        def decide(found: Order | None) -> tuple[Order, dict[str, Any]]:
            assert found is not None
            found.expire(self.clock())
            return found, order_view(found)

        return self.commands.run(
            order, decide, request, lambda: UnknownOrder(f"no order {order}", order_id=str(order))
        )
