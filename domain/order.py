"""An order from a channel: placement, the stock outcome, payment, shipments, returns.

The channel's own order number is the order's identity: the stream id is derived from
(channel, order number), so a repeated placement lands on the same stream and is answered
with the order already there. Every transition is a named event and every refusal a named
error; the aggregate never reads a clock (``now`` is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.customer import erased
from domain.errors import Conflict, InvalidValue, NotFound
from domain.identity import (
    check_choice,
    check_code,
    check_instant,
    check_quantity,
    check_text,
    stream_id,
)
from domain.money import check_amount, check_currency
from domain.network import check_coordinates

MAX_LINES = 200
MAX_TEXT = 200
MAX_REFERENCE = 200


class OrderStatus(StrEnum):
    PLACED = "placed"  # waiting for the stock outcome
    CONFIRMED = "confirmed"  # stock reserved, shipments planned
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    REJECTED = "rejected"  # final: stock could not be reserved
    CANCELLED = "cancelled"  # final
    EXPIRED = "expired"  # final: not paid by its deadline


FINAL = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED})
OPEN = frozenset({OrderStatus.PLACED, OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_SHIPPED})


class Fulfilment(StrEnum):
    DELIVERY = "delivery"  # shipped to the ship-to address
    PICKUP = "pickup"  # click & collect at a chosen store
    POS = "pos"  # a store sale: handed over at the till


class ShipmentStatus(StrEnum):
    ALLOCATED = "allocated"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class ShipmentAction(StrEnum):
    PICK = "pick"
    PACK = "pack"
    SHIP = "ship"
    DELIVER = "deliver"


class Disposition(StrEnum):
    SELLABLE = "sellable"  # back into available stock
    DAMAGED = "damaged"  # received, but not sellable


class IllegalTransition(Conflict):
    code = "illegal-transition"
    title = "The order cannot do that in its current state"


class OrderNumberReused(Conflict):
    code = "order-number-reused"
    title = "The channel's order number was used for a different order"


class IdReused(Conflict):
    code = "id-reused"
    title = "The id was already used for something else on this order"


class PriceMismatch(Conflict):
    code = "price-mismatch"
    title = "The price the channel showed differs from the effective price"


class PriceUnavailable(Conflict):
    code = "price-unavailable"
    title = "The SKU has no effective price on the channel in that currency"


class PaymentDeadlinePassed(Conflict):
    code = "payment-deadline-passed"
    title = "The order was not paid by its deadline"


class AmountExceeded(Conflict):
    code = "amount-exceeded"
    title = "The amount exceeds what the order allows"


class UnknownOrder(NotFound):
    code = "unknown-order"
    title = "No such order"


class UnknownShipment(NotFound):
    code = "unknown-shipment"
    title = "No such shipment on the order"


@dataclass(frozen=True)
class LineRequest:
    """A line as the channel sent it: what was bought and the unit price it showed."""

    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class PriceEvidence:
    """The effective price at placement, and what made it (the pricing read model)."""

    effective: Decimal | None
    list_price: Decimal | None
    promotion_ids: tuple[str, ...]
    list_version: int | None
    entry_version: int | None


def order_id(channel: str, order_number: str) -> UUID:
    return stream_id("order", f"{channel}/{order_number}")


def check_order_number(value: str) -> str:
    return check_text(value, "order_number", 100)


def _check_contact(value: dict[str, Any] | None, what: str, required: tuple[str, ...]) -> None:
    if value is None:
        return
    for name in required:
        if not value.get(name):
            raise InvalidValue(f"{what}.{name} is required", field=f"{what}.{name}")
    for name, item in value.items():
        if isinstance(item, str):
            check_text(item, f"{what}.{name}", MAX_TEXT, allow_empty=True)
        elif item is not None and not isinstance(item, Decimal):
            raise InvalidValue(f"{what}.{name} must be text", field=f"{what}.{name}")
    if "latitude" in value or "longitude" in value:
        check_coordinates(value.get("latitude"), value.get("longitude"))
    country = value.get("country")
    if country is not None and not (
        isinstance(country, str) and len(country) == 2 and country.isascii() and country.isupper()
    ):
        raise InvalidValue("country must be an ISO 3166-1 alpha-2 code", field=f"{what}.country")


def check_price(
    line: int, shown: Decimal, evidence: PriceEvidence, currency: str, tolerance_percent: Decimal
) -> None:
    """The shown unit price must be within ``tolerance_percent`` of the effective price."""
    if evidence.effective is None:
        raise PriceUnavailable(
            f"line {line}: no effective {currency} price on this channel",
            line=line,
            currency=currency,
        )
    allowed = evidence.effective * tolerance_percent / Decimal(100)
    if abs(shown - evidence.effective) > allowed:
        raise PriceMismatch(
            f"line {line}: shown {shown} {currency}, effective {evidence.effective} {currency}",
            line=line,
            shown=str(shown),
            effective=str(evidence.effective),
            currency=currency,
            tolerance_percent=str(tolerance_percent),
        )


class Order(Aggregate):
    @staticmethod
    def create_id(channel: str, order_number: str, **_: Any) -> UUID:
        return order_id(channel, order_number)

    @classmethod
    def place(
        cls,
        *,
        channel: str,
        order_number: str,
        lines: list[LineRequest],
        evidence: list[PriceEvidence],
        currency: str,
        customer: dict[str, Any] | None,
        ship_to: dict[str, Any] | None,
        fulfilment: Fulfilment,
        pickup_location: str | None,
        split_allowed: bool,
        payment_due_by: datetime | None,
        payment: dict[str, Any] | None,
        now: datetime,
        tolerance_percent: Decimal = Decimal(0),
    ) -> Order:
        """Validate a placement and price-check every line; raise to refuse it whole."""
        check_code(channel, "channel")
        check_order_number(order_number)
        currency = check_currency(currency)
        fulfilment = check_choice(Fulfilment, fulfilment, "fulfilment")
        now = check_instant(now, "now")
        if not lines or len(lines) > MAX_LINES:
            raise InvalidValue(f"an order has 1 to {MAX_LINES} lines", field="lines")
        if len(evidence) != len(lines):
            raise InvalidValue("every line needs its price evidence", field="lines")
        recorded = []
        total = Decimal(0)
        for number, (line, found) in enumerate(zip(lines, evidence, strict=True), start=1):
            check_code(line.sku, f"lines[{number}].sku")
            check_quantity(line.quantity, f"lines[{number}].quantity")
            price = check_amount(line.unit_price, currency, f"lines[{number}].unit_price")
            check_price(number, price, found, currency, tolerance_percent)
            total += price * line.quantity
            recorded.append(
                {
                    "line": number,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": price,
                    "effective_price": found.effective,
                    "list_price": found.list_price,
                    "promotion_ids": list(found.promotion_ids),
                    "price_list_version": found.list_version,
                    "price_entry_version": found.entry_version,
                }
            )
        _check_contact(customer, "customer", ("name",))
        if customer is not None and customer.get("customer_id") is not None:
            check_code(customer["customer_id"], "customer.customer_id")
        if fulfilment is Fulfilment.DELIVERY:
            if ship_to is None:
                raise InvalidValue("a delivery needs a ship_to address", field="ship_to")
            _check_contact(ship_to, "ship_to", ("name", "line1", "city", "country"))
            if pickup_location is not None:
                raise InvalidValue("a delivery has no pickup location", field="pickup_location")
        else:
            _check_contact(ship_to, "ship_to", ())
            if pickup_location is None:
                raise InvalidValue(
                    f"a {fulfilment} order names its store location", field="pickup_location"
                )
            check_code(pickup_location, "pickup_location")
        if payment_due_by is not None:
            payment_due_by = check_instant(payment_due_by, "payment_due_by")
            if payment_due_by <= now:
                raise InvalidValue("payment_due_by must be in the future", field="payment_due_by")
        if payment is not None:
            payment = cls._check_payment(payment, currency, total)
            payment_due_by = None  # paid: nothing can lapse
        elif total == 0:
            payment_due_by = None  # nothing to pay: nothing can lapse
        elif fulfilment is Fulfilment.POS:
            raise InvalidValue("a store sale is paid at the till", field="payment")
        return cls(
            channel=channel,
            order_number=order_number,
            fulfilment=fulfilment,
            lines=recorded,
            currency=currency,
            total=total,
            customer=customer,
            ship_to=ship_to,
            pickup_location=pickup_location,
            split_allowed=split_allowed and fulfilment is Fulfilment.DELIVERY,
            payment_due_by=payment_due_by,
            payment=payment,
            placed_at=now,
        )

    @staticmethod
    def _check_payment(payment: dict[str, Any], currency: str, total: Decimal) -> dict[str, Any]:
        status = payment.get("status")
        if status not in ("authorised", "captured"):
            raise InvalidValue("payment.status must be authorised or captured", field="payment")
        reference = check_text(payment.get("reference", ""), "payment.reference", MAX_REFERENCE)
        amount = check_amount(payment.get("amount"), currency, "payment.amount")
        if amount != total:
            raise AmountExceeded(
                f"payment of {amount} {currency} does not match the order total {total}",
                amount=str(amount),
                total=str(total),
            )
        return {"status": status, "reference": reference, "amount": amount}

    @event("OrderPlaced")
    def __init__(
        self,
        channel: str,
        order_number: str,
        fulfilment: Fulfilment,
        lines: list[dict[str, Any]],
        currency: str,
        total: Decimal,
        customer: dict[str, Any] | None,
        ship_to: dict[str, Any] | None,
        pickup_location: str | None,
        split_allowed: bool,
        payment_due_by: datetime | None,
        payment: dict[str, Any] | None,
        placed_at: datetime,
    ) -> None:
        self.channel = channel
        self.order_number = order_number
        self.fulfilment = Fulfilment(fulfilment)
        self.lines = lines
        self.currency = currency
        self.total = total
        self.customer = customer
        self.ship_to = ship_to
        self.pickup_location = pickup_location
        self.split_allowed = split_allowed
        self.payment_due_by = payment_due_by
        self.placed_at = placed_at
        self.status = OrderStatus.PLACED
        self.authorised = Decimal(0)
        self.captured = Decimal(0)
        self.refunded = Decimal(0)
        if payment is not None:
            self.authorised = payment["amount"]
            if payment["status"] == "captured":
                self.captured = payment["amount"]
        self.shipments: dict[str, dict[str, Any]] = {}
        self.routing_reason: str | None = None
        self.returned: dict[int, int] = {}  # line -> units returned
        self.refunds: dict[str, tuple[Decimal, str]] = {}  # refund id -> amount, reference
        self.returns: dict[str, tuple[Any, ...]] = {}  # return id -> what came back
        self.closed_reason: str | None = None

    # -- queries ---------------------------------------------------------------------------

    def same_placement(self, lines: list[LineRequest], currency: str) -> bool:
        """Whether a repeated placement asks for what this order holds."""
        mine = [(line["sku"], line["quantity"], line["unit_price"]) for line in self.lines]
        theirs = [(line.sku, line.quantity, line.unit_price) for line in lines]
        return currency == self.currency and mine == theirs

    @property
    def paid(self) -> bool:
        return self.authorised >= self.total or self.captured >= self.total

    def shipped_quantity(self, line: int) -> int:
        return sum(
            item["quantity"]
            for shipment in self.shipments.values()
            if shipment["status"] in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED)
            for item in shipment["lines"]
            if item["line"] == line
        )

    def open_quantities(self) -> dict[str, int]:
        """Units per SKU this order still holds in reserve (not shipped, not cancelled)."""
        held: dict[str, int] = {}
        if self.status not in OPEN:
            return held
        for shipment in self.shipments.values():
            if shipment["status"] in (
                ShipmentStatus.ALLOCATED,
                ShipmentStatus.PICKED,
                ShipmentStatus.PACKED,
            ):
                for item in shipment["lines"]:
                    held[item["sku"]] = held.get(item["sku"], 0) + item["quantity"]
        return held

    # -- the stock outcome (from the reservation saga) ------------------------------------

    def confirm(self, shipments: list[dict[str, Any]], reason: str, now: datetime) -> bool:
        """Stock is reserved: record the shipments and why they go where they go.

        False (and nothing recorded) if the order is no longer waiting: a cancellation
        got there first, and the saga releases what it reserved.
        """
        if self.status is not OrderStatus.PLACED:
            return False
        self._confirm(shipments=shipments, reason=reason, at=now)
        if self.fulfilment is Fulfilment.POS:
            # Handed over at the till: the sale is fulfilled the moment it is confirmed.
            for shipment in list(self.shipments):
                self._ship(shipment=shipment, carrier=None, tracking=None, at=now)
                self._deliver(shipment=shipment, at=now)
        return True

    @event("OrderConfirmed")
    def _confirm(self, shipments: list[dict[str, Any]], reason: str, at: datetime) -> None:
        self.status = OrderStatus.CONFIRMED
        self.routing_reason = reason
        self.shipments = {
            item["shipment"]: {
                "location": item["location"],
                "lines": item["lines"],
                "status": ShipmentStatus.ALLOCATED,
            }
            for item in shipments
        }

    def reject(self, reason: str, shortages: list[dict[str, Any]], now: datetime) -> bool:
        if self.status is not OrderStatus.PLACED:
            return False
        self._reject(reason=reason, shortages=shortages, at=now)
        return True

    @event("OrderRejected")
    def _reject(self, reason: str, shortages: list[dict[str, Any]], at: datetime) -> None:
        self.status = OrderStatus.REJECTED
        self.closed_reason = reason

    # -- payment (recorded; the payment itself happens elsewhere) ---------------------------

    def authorise_payment(self, amount: Decimal, reference: str, now: datetime) -> None:
        self._require(
            OrderStatus.CONFIRMED,
            OrderStatus.PARTIALLY_SHIPPED,
            OrderStatus.SHIPPED,
            OrderStatus.DELIVERED,
            action="authorise a payment",
        )
        amount = check_amount(amount, self.currency, "amount")
        check_text(reference, "reference", MAX_REFERENCE)
        if self.payment_due_by is not None and now >= self.payment_due_by and not self.paid:
            raise PaymentDeadlinePassed(
                f"order {self.order_number} was due for payment by "
                f"{self.payment_due_by.isoformat()}",
                payment_due_by=self.payment_due_by.isoformat(),
            )
        if amount <= 0 or self.authorised + amount > self.total:
            raise AmountExceeded(
                f"authorising {amount} would exceed the order total {self.total}",
                amount=str(amount),
                total=str(self.total),
            )
        self._authorise(amount=amount, reference=reference, at=now)

    @event("PaymentAuthorised")
    def _authorise(self, amount: Decimal, reference: str, at: datetime) -> None:
        self.authorised += amount

    def capture_payment(self, amount: Decimal, reference: str, now: datetime) -> None:
        if self.status in FINAL:
            self._illegal("capture a payment")
        amount = check_amount(amount, self.currency, "amount")
        check_text(reference, "reference", MAX_REFERENCE)
        if amount <= 0 or self.captured + amount > self.authorised:
            raise AmountExceeded(
                f"capturing {amount} would exceed the {self.authorised} authorised",
                amount=str(amount),
                authorised=str(self.authorised),
            )
        self._capture(amount=amount, reference=reference, at=now)

    @event("PaymentCaptured")
    def _capture(self, amount: Decimal, reference: str, at: datetime) -> None:
        self.captured += amount

    def refund(self, refund_id: str, amount: Decimal, reference: str, now: datetime) -> None:
        """Record a refund; the same refund id again is a harmless repeat."""
        check_code(refund_id, "refund_id")
        amount = check_amount(amount, self.currency, "amount")
        check_text(reference, "reference", MAX_REFERENCE)
        if refund_id in self.refunds:
            if self.refunds[refund_id] == (amount, reference):
                return
            raise IdReused(
                f"refund {refund_id} was recorded with other details", refund_id=refund_id
            )
        if amount <= 0 or self.refunded + amount > self.captured:
            raise AmountExceeded(
                f"refunding {amount} would exceed the {self.captured - self.refunded} "
                "captured and not yet refunded",
                amount=str(amount),
                refundable=str(self.captured - self.refunded),
            )
        self._refund(refund_id=refund_id, amount=amount, reference=reference, at=now)

    @event("RefundRecorded")
    def _refund(self, refund_id: str, amount: Decimal, reference: str, at: datetime) -> None:
        self.refunded += amount
        self.refunds[refund_id] = (amount, reference)

    # -- shipments --------------------------------------------------------------------------

    def pick(self, shipment: str, now: datetime) -> None:
        self._advance(shipment, ShipmentStatus.ALLOCATED, "pick")
        self._pick(shipment=shipment, at=now)

    @event("ShipmentPicked")
    def _pick(self, shipment: str, at: datetime) -> None:
        self.shipments[shipment]["status"] = ShipmentStatus.PICKED

    def pack(self, shipment: str, now: datetime) -> None:
        self._advance(shipment, ShipmentStatus.PICKED, "pack")
        self._pack(shipment=shipment, at=now)

    @event("ShipmentPacked")
    def _pack(self, shipment: str, at: datetime) -> None:
        self.shipments[shipment]["status"] = ShipmentStatus.PACKED

    def ship(
        self, shipment: str, now: datetime, carrier: str | None = None, tracking: str | None = None
    ) -> None:
        """The parcel left: its reservations are committed (stock leaves on hand)."""
        if self.fulfilment is not Fulfilment.DELIVERY:
            self._illegal(f"ship a {self.fulfilment} order (it is collected)")
        self._advance(shipment, ShipmentStatus.PACKED, "ship")
        if not self.paid:
            raise IllegalTransition(
                f"order {self.order_number} is not paid: authorise the payment before shipping",
                order_status=str(self.status),
            )
        for what, value in (("carrier", carrier), ("tracking", tracking)):
            if value is not None:
                check_text(value, what, MAX_REFERENCE)
        self._ship(shipment=shipment, carrier=carrier, tracking=tracking, at=now)

    def collect(self, now: datetime) -> None:
        """Click & collect: the customer took the goods at the store."""
        if self.fulfilment is not Fulfilment.PICKUP:
            self._illegal("hand over a non-pickup order at a store")
        self._require(OrderStatus.CONFIRMED, action="hand over")
        if not self.paid:
            raise IllegalTransition(
                f"order {self.order_number} is not paid: take the payment before handing over",
                order_status=str(self.status),
            )
        for shipment in list(self.shipments):
            self._ship(shipment=shipment, carrier=None, tracking=None, at=now)
            self._deliver(shipment=shipment, at=now)

    @event("ShipmentShipped")
    def _ship(self, shipment: str, carrier: str | None, tracking: str | None, at: datetime) -> None:
        self.shipments[shipment]["status"] = ShipmentStatus.SHIPPED
        self._settle_status()

    def deliver(self, shipment: str, now: datetime) -> None:
        self._advance(shipment, ShipmentStatus.SHIPPED, "mark delivered")
        self._deliver(shipment=shipment, at=now)

    @event("ShipmentDelivered")
    def _deliver(self, shipment: str, at: datetime) -> None:
        self.shipments[shipment]["status"] = ShipmentStatus.DELIVERED
        self._settle_status()

    # -- ending early -----------------------------------------------------------------------

    def cancel(self, reason: str, now: datetime) -> None:
        """Cancel what is not shipped; its reservations are released by the saga."""
        check_text(reason, "reason", MAX_TEXT)
        self._require(
            OrderStatus.PLACED,
            OrderStatus.CONFIRMED,
            OrderStatus.PARTIALLY_SHIPPED,
            action="cancel",
        )
        self._cancel(reason=reason, shipments=self._unshipped(), at=now)

    @event("OrderCancelled")
    def _cancel(self, reason: str, shipments: list[str], at: datetime) -> None:
        for shipment in shipments:
            self.shipments[shipment]["status"] = ShipmentStatus.CANCELLED
        self.closed_reason = reason
        if any(
            s["status"] in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED)
            for s in self.shipments.values()
        ):
            self._settle_status()
        else:
            self.status = OrderStatus.CANCELLED

    def expire(self, now: datetime) -> None:
        """Not paid by its deadline: the order lapses and its holds are released."""
        self._require(OrderStatus.PLACED, OrderStatus.CONFIRMED, action="expire")
        if self.payment_due_by is None or self.paid:
            self._illegal("expire an order with no payment outstanding")
        assert self.payment_due_by is not None
        if now < self.payment_due_by:
            raise IllegalTransition(
                f"order {self.order_number} is due for payment by "
                f"{self.payment_due_by.isoformat()}",
                order_status=str(self.status),
            )
        self._expire(deadline=self.payment_due_by, shipments=self._unshipped(), at=now)

    @event("OrderExpired")
    def _expire(self, deadline: datetime, shipments: list[str], at: datetime) -> None:
        for shipment in shipments:
            self.shipments[shipment]["status"] = ShipmentStatus.CANCELLED
        self.status = OrderStatus.EXPIRED
        self.closed_reason = f"not paid by {deadline.isoformat()}"

    def record_return(
        self,
        return_id: str,
        lines: dict[int, int],
        location: str,
        disposition: Disposition,
        now: datetime,
    ) -> None:
        """Goods came back to ``location``; sellable ones are restocked by the saga."""
        check_code(return_id, "return_id")
        check_code(location, "location")
        disposition = check_choice(Disposition, disposition, "disposition")
        if not lines:
            raise InvalidValue("a return names at least one line", field="lines")
        if return_id in self.returns:
            if self.returns[return_id] == (tuple(sorted(lines.items())), location, disposition):
                return  # a retried request: the goods came back once
            raise IdReused(
                f"return {return_id} was recorded with other details", return_id=return_id
            )
        items = []
        for line, quantity in sorted(lines.items()):
            check_quantity(quantity, f"lines[{line}].quantity")
            found = next((item for item in self.lines if item["line"] == line), None)
            if found is None:
                raise InvalidValue(f"the order has no line {line}", field="lines")
            returnable = self.shipped_quantity(line) - self.returned.get(line, 0)
            if quantity > returnable:
                raise AmountExceeded(
                    f"line {line}: {returnable} unit(s) shipped and not yet returned, "
                    f"{quantity} returned",
                    line=line,
                    returnable=returnable,
                )
            items.append({"line": line, "sku": found["sku"], "quantity": quantity})
        self._return(
            return_id=return_id,
            lines=items,
            location=location,
            disposition=disposition,
            at=now,
        )

    @event("ReturnRecorded")
    def _return(
        self,
        return_id: str,
        lines: list[dict[str, Any]],
        location: str,
        disposition: Disposition,
        at: datetime,
    ) -> None:
        for item in lines:
            self.returned[item["line"]] = self.returned.get(item["line"], 0) + item["quantity"]
        self.returns[return_id] = (
            tuple(sorted((item["line"], item["quantity"]) for item in lines)),
            location,
            Disposition(disposition),
        )

    # -- helpers ----------------------------------------------------------------------------

    # -- privacy ----------------------------------------------------------------------------

    def erase_personal_data(self, legal_basis: str, now: datetime) -> bool:
        """The customer and ship-to read as erased from here on (their encryption keys are
        destroyed next, decision 0018); False if they already do."""
        if getattr(self, "personal_data_erased", False):
            return False
        check_text(legal_basis, "legal_basis", MAX_TEXT)
        self._erase_personal_data(legal_basis=legal_basis, at=now)
        return True

    @event("PersonalDataErased")
    def _erase_personal_data(self, legal_basis: str, at: datetime) -> None:
        self.customer = erased(self.customer)
        self.ship_to = erased(self.ship_to)
        self.personal_data_erased = True

    def erase_ship_to(self, legal_basis: str, now: datetime) -> bool:
        """A retention rule: the ship-to address reads as erased from here on (its own key is
        destroyed next); False if it has none or already does."""
        if self.ship_to is None or getattr(self, "ship_to_erased", False):
            return False
        if getattr(self, "personal_data_erased", False):
            return False
        check_text(legal_basis, "legal_basis", MAX_TEXT)
        self._erase_ship_to(legal_basis=legal_basis, at=now)
        return True

    @event("ShipToErased")
    def _erase_ship_to(self, legal_basis: str, at: datetime) -> None:
        self.ship_to = erased(self.ship_to)
        self.ship_to_erased = True

    def _unshipped(self) -> list[str]:
        return sorted(
            name
            for name, shipment in self.shipments.items()
            if shipment["status"]
            in (ShipmentStatus.ALLOCATED, ShipmentStatus.PICKED, ShipmentStatus.PACKED)
        )

    def _settle_status(self) -> None:
        states = [s["status"] for s in self.shipments.values() if s["status"] != "cancelled"]
        if states and all(state == ShipmentStatus.DELIVERED for state in states):
            self.status = OrderStatus.DELIVERED
        elif states and all(
            state in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED) for state in states
        ):
            self.status = OrderStatus.SHIPPED
        else:
            self.status = OrderStatus.PARTIALLY_SHIPPED

    def _advance(self, shipment: str, expected: ShipmentStatus, action: str) -> None:
        self._require(
            OrderStatus.CONFIRMED,
            OrderStatus.PARTIALLY_SHIPPED,
            OrderStatus.SHIPPED,
            action=action,
        )
        found = self.shipments.get(shipment)
        if found is None:
            raise UnknownShipment(
                f"order {self.order_number} has no shipment {shipment!r}", shipment=shipment
            )
        if found["status"] != expected:
            raise IllegalTransition(
                f"cannot {action} shipment {shipment}: it is {found['status']}",
                shipment=shipment,
                shipment_status=str(found["status"]),
            )

    def _require(self, *allowed: OrderStatus, action: str) -> None:
        if self.status not in allowed:
            self._illegal(action)

    def _illegal(self, action: str) -> None:
        raise IllegalTransition(
            f"cannot {action}: order {self.order_number} is {self.status}",
            order_status=str(self.status),
            action=action,
        )
