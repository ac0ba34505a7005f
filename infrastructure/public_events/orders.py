"""Public events of the `order` stream type: one stream per order, in the `orders` log.

An order's natural key is `<channel>/<order_number>`, the channel's own order number (its
stream id is derived from it), and every event names both, though the stored events after
`OrderPlaced` do not. Amounts are money objects in the order's currency, which likewise only
`OrderPlaced` holds: the key the converters are given is therefore
`<channel>/<order_number>:<currency>` (a channel code holds neither `/` nor `:`, and a
currency code no `:`, so it splits back unambiguously whatever the order number holds).

`customer` and `ship_to` are personal data, kept in fields of their own so that they can be
encrypted or withheld without reshaping anything else.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from infrastructure.envelope import Time
from infrastructure.public_events.base import (
    Money,
    PublicEvent,
    StreamType,
    optional_utc,
    utc,
)
from infrastructure.public_events.network import Coordinate

LOG = "orders"
ORDER = StreamType(
    "order",
    aggregate="Order",
    key=lambda e: f"{e.channel}/{e.order_number}:{e.currency}",
    log=LOG,
)

Channel = Annotated[str, msgspec.Meta(description="the sales channel's code")]
OrderNumber = Annotated[str, msgspec.Meta(description="the channel's own order number")]
ShipmentName = Annotated[str, msgspec.Meta(description="the shipment's number within the order")]
Units = Annotated[int, msgspec.Meta(ge=0, description="whole units")]
PERSONAL = "personal data (a Contact: name, email, phone, address, coordinates)"


def split_key(key: str) -> tuple[str, str, str]:
    """(channel, order number, currency) of an order stream's key."""
    natural, _, currency = key.rpartition(":")
    channel, _, order_number = natural.partition("/")
    return channel, order_number, currency


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    """Personal data: a person and (for a ship-to) where they are. Fields not given are null.

    `country` is an ISO 3166-1 alpha-2 code; `latitude`/`longitude` decimal degrees as
    strings."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    region: str | None = None
    country: str | None = None
    latitude: Coordinate = None
    longitude: Coordinate = None


class Customer(Contact, frozen=True, kw_only=True):
    """The buyer: a `Contact`, and the channel's own id for them, if it has one."""

    customer_id: str | None = None


class OrderLine(msgspec.Struct, frozen=True, kw_only=True):
    """A line as placed: the unit price the channel showed, and the effective price it was
    checked against (with what made it: the list price, promotions, price list versions)."""

    line: Annotated[int, msgspec.Meta(ge=1, description="1, 2, ... in the order's order")]
    sku: str
    quantity: Units
    unit_price: Money
    effective_price: Money | None = None
    list_price: Money | None = None
    promotion_ids: list[str]
    price_list_version: int | None = None
    price_entry_version: int | None = None


class Payment(msgspec.Struct, frozen=True, kw_only=True):
    """A payment taken before placement: `status` `authorised` or `captured`."""

    status: str
    reference: str
    amount: Money


class ShipmentLine(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    sku: str
    quantity: Units
    reservation_id: Annotated[str, msgspec.Meta(description="the hold made for it")]


class Shipment(msgspec.Struct, frozen=True, kw_only=True):
    """One parcel: the lines (or parts of lines) one location ships."""

    shipment: ShipmentName
    location: str
    lines: list[ShipmentLine]


class Shortage(msgspec.Struct, frozen=True, kw_only=True):
    """A line that could not be promised: `available` of the `requested` units."""

    line: int
    sku: str
    requested: Units
    available: Units


class ReturnLine(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    sku: str
    quantity: Units


class OrderPlaced(PublicEvent, frozen=True, kw_only=True):
    """A channel placed an order, every line price-checked; stock is not reserved yet.

    `fulfilment`: `delivery` (to `ship_to`), `pickup` (click & collect at
    `pickup_location`) or `pos` (a store sale, paid at the till). An unpaid order lapses
    at `payment_due_by`; `payment` is a payment the channel had taken already.
    `recorded_at` is when it was placed."""

    channel: Channel
    order_number: OrderNumber
    fulfilment: str
    currency: str
    total: Money
    lines: list[OrderLine]
    customer: Annotated[Customer | None, msgspec.Meta(description=PERSONAL)] = None
    ship_to: Annotated[Contact | None, msgspec.Meta(description=PERSONAL)] = None
    pickup_location: str | None = None
    split_allowed: bool
    payment_due_by: Time | None = None
    payment: Payment | None = None
    recorded_at: Time


class OrderConfirmed(PublicEvent, frozen=True, kw_only=True):
    """Stock is reserved: the order ships as `shipments`, routed as `reason` says."""

    channel: Channel
    order_number: OrderNumber
    shipments: list[Shipment]
    reason: str
    recorded_at: Time


class OrderRejected(PublicEvent, frozen=True, kw_only=True):
    """Final: stock could not be reserved (`shortages` lists the lines short, if any)."""

    channel: Channel
    order_number: OrderNumber
    reason: str
    shortages: list[Shortage]
    recorded_at: Time


class PaymentAuthorised(PublicEvent, frozen=True, kw_only=True):
    """A payment of `amount` was authorised (the payment itself happens elsewhere)."""

    channel: Channel
    order_number: OrderNumber
    amount: Money
    reference: str
    recorded_at: Time


class PaymentCaptured(PublicEvent, frozen=True, kw_only=True):
    """`amount` of what was authorised was captured."""

    channel: Channel
    order_number: OrderNumber
    amount: Money
    reference: str
    recorded_at: Time


class RefundRecorded(PublicEvent, frozen=True, kw_only=True):
    """`amount` of what was captured was refunded."""

    channel: Channel
    order_number: OrderNumber
    refund_id: str
    amount: Money
    reference: str
    recorded_at: Time


class ShipmentPicked(PublicEvent, frozen=True, kw_only=True):
    channel: Channel
    order_number: OrderNumber
    shipment: ShipmentName
    recorded_at: Time


class ShipmentPacked(PublicEvent, frozen=True, kw_only=True):
    channel: Channel
    order_number: OrderNumber
    shipment: ShipmentName
    recorded_at: Time


class ShipmentShipped(PublicEvent, frozen=True, kw_only=True):
    """The shipment left (or, for `pickup` and `pos`, was handed over): its holds are
    committed, so its units leave on hand."""

    channel: Channel
    order_number: OrderNumber
    shipment: ShipmentName
    carrier: str | None = None
    tracking: str | None = None
    recorded_at: Time


class ShipmentDelivered(PublicEvent, frozen=True, kw_only=True):
    channel: Channel
    order_number: OrderNumber
    shipment: ShipmentName
    recorded_at: Time


class OrderCancelled(PublicEvent, frozen=True, kw_only=True):
    """The order was cancelled: `shipments` (those not shipped yet) are cancelled and their
    holds released. With shipments already shipped, the order stays open for them."""

    channel: Channel
    order_number: OrderNumber
    reason: str
    shipments: list[ShipmentName]
    recorded_at: Time


class OrderExpired(PublicEvent, frozen=True, kw_only=True):
    """Final: not paid by `payment_due_by`; `shipments` are cancelled, their holds released."""

    channel: Channel
    order_number: OrderNumber
    payment_due_by: Time
    shipments: list[ShipmentName]
    recorded_at: Time


class ReturnRecorded(PublicEvent, frozen=True, kw_only=True):
    """Goods came back to `location`. `disposition` `sellable` goes back into stock
    (a `StockReturned` follows); `damaged` does not."""

    channel: Channel
    order_number: OrderNumber
    return_id: str
    lines: list[ReturnLine]
    location: str
    disposition: str
    recorded_at: Time


class OrderPersonalDataErased(PublicEvent, frozen=True, kw_only=True):
    """The order's `customer` and `ship_to` were erased (a customer's erasure request or a
    retention rule, `legal_basis`): delete any copy of them you hold. From now on they read
    `"[erased]"` everywhere, in earlier events replayed too; `customer_id` stays."""

    channel: Channel
    order_number: OrderNumber
    legal_basis: str
    recorded_at: Time


class OrderShipToErased(PublicEvent, frozen=True, kw_only=True):
    """A retention rule (`legal_basis`) erased the order's `ship_to` address: delete any copy
    you hold. From now on it reads `"[erased]"` everywhere, in earlier events replayed too."""

    channel: Channel
    order_number: OrderNumber
    legal_basis: str
    recorded_at: Time


def _money(amount: Any, currency: str) -> Money | None:
    return None if amount is None else Money.of(amount, currency)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


_CONTACT_FIELDS = tuple(Contact.__struct_fields__)


def _contact(value: dict[str, Any] | None) -> Contact | None:
    if value is None:
        return None
    return Contact(**{name: _text(value.get(name)) for name in _CONTACT_FIELDS})


def _customer(value: dict[str, Any] | None) -> Customer | None:
    if value is None:
        return None
    names = (*_CONTACT_FIELDS, "customer_id")
    return Customer(**{name: _text(value.get(name)) for name in names})


def shipments_of(items: list[dict[str, Any]]) -> list[Shipment]:
    return [
        Shipment(
            shipment=str(item["shipment"]),
            location=item["location"],
            lines=[
                ShipmentLine(
                    line=line["line"],
                    sku=line["sku"],
                    quantity=line["quantity"],
                    reservation_id=line["reservation_id"],
                )
                for line in item["lines"]
            ],
        )
        for item in items
    ]


def shortages_of(items: list[dict[str, Any]]) -> list[Shortage]:
    return [
        Shortage(
            line=item["line"],
            sku=item["sku"],
            requested=item["requested"],
            available=item["available"],
        )
        for item in items
    ]


@ORDER.event(OrderPlaced)
def _placed(event: Any, key: str) -> OrderPlaced:
    currency = event.currency
    payment = event.payment
    return OrderPlaced(
        channel=event.channel,
        order_number=event.order_number,
        fulfilment=str(event.fulfilment),
        currency=currency,
        total=Money.of(event.total, currency),
        lines=[
            OrderLine(
                line=line["line"],
                sku=line["sku"],
                quantity=line["quantity"],
                unit_price=Money.of(line["unit_price"], currency),
                effective_price=_money(line["effective_price"], currency),
                list_price=_money(line["list_price"], currency),
                promotion_ids=list(line["promotion_ids"]),
                price_list_version=line["price_list_version"],
                price_entry_version=line["price_entry_version"],
            )
            for line in event.lines
        ],
        customer=_customer(event.customer),
        ship_to=_contact(event.ship_to),
        pickup_location=event.pickup_location,
        split_allowed=event.split_allowed,
        payment_due_by=optional_utc(event.payment_due_by),
        payment=None
        if payment is None
        else Payment(
            status=payment["status"],
            reference=payment["reference"],
            amount=Money.of(payment["amount"], currency),
        ),
        recorded_at=utc(event.placed_at),
    )


@ORDER.event(OrderConfirmed)
def _confirmed(event: Any, key: str) -> OrderConfirmed:
    channel, order_number, _ = split_key(key)
    return OrderConfirmed(
        channel=channel,
        order_number=order_number,
        shipments=shipments_of(event.shipments),
        reason=event.reason,
        recorded_at=utc(event.at),
    )


@ORDER.event(OrderRejected)
def _rejected(event: Any, key: str) -> OrderRejected:
    channel, order_number, _ = split_key(key)
    return OrderRejected(
        channel=channel,
        order_number=order_number,
        reason=event.reason,
        shortages=shortages_of(event.shortages),
        recorded_at=utc(event.at),
    )


@ORDER.event(PaymentAuthorised)
def _authorised(event: Any, key: str) -> PaymentAuthorised:
    channel, order_number, currency = split_key(key)
    return PaymentAuthorised(
        channel=channel,
        order_number=order_number,
        amount=Money.of(event.amount, currency),
        reference=event.reference,
        recorded_at=utc(event.at),
    )


@ORDER.event(PaymentCaptured)
def _captured(event: Any, key: str) -> PaymentCaptured:
    channel, order_number, currency = split_key(key)
    return PaymentCaptured(
        channel=channel,
        order_number=order_number,
        amount=Money.of(event.amount, currency),
        reference=event.reference,
        recorded_at=utc(event.at),
    )


@ORDER.event(RefundRecorded)
def _refunded(event: Any, key: str) -> RefundRecorded:
    channel, order_number, currency = split_key(key)
    return RefundRecorded(
        channel=channel,
        order_number=order_number,
        refund_id=event.refund_id,
        amount=Money.of(event.amount, currency),
        reference=event.reference,
        recorded_at=utc(event.at),
    )


@ORDER.event(ShipmentPicked)
def _picked(event: Any, key: str) -> ShipmentPicked:
    channel, order_number, _ = split_key(key)
    return ShipmentPicked(
        channel=channel,
        order_number=order_number,
        shipment=event.shipment,
        recorded_at=utc(event.at),
    )


@ORDER.event(ShipmentPacked)
def _packed(event: Any, key: str) -> ShipmentPacked:
    channel, order_number, _ = split_key(key)
    return ShipmentPacked(
        channel=channel,
        order_number=order_number,
        shipment=event.shipment,
        recorded_at=utc(event.at),
    )


@ORDER.event(ShipmentShipped)
def _shipped(event: Any, key: str) -> ShipmentShipped:
    channel, order_number, _ = split_key(key)
    return ShipmentShipped(
        channel=channel,
        order_number=order_number,
        shipment=event.shipment,
        carrier=event.carrier,
        tracking=event.tracking,
        recorded_at=utc(event.at),
    )


@ORDER.event(ShipmentDelivered)
def _delivered(event: Any, key: str) -> ShipmentDelivered:
    channel, order_number, _ = split_key(key)
    return ShipmentDelivered(
        channel=channel,
        order_number=order_number,
        shipment=event.shipment,
        recorded_at=utc(event.at),
    )


@ORDER.event(OrderCancelled)
def _cancelled(event: Any, key: str) -> OrderCancelled:
    channel, order_number, _ = split_key(key)
    return OrderCancelled(
        channel=channel,
        order_number=order_number,
        reason=event.reason,
        shipments=list(event.shipments),
        recorded_at=utc(event.at),
    )


@ORDER.event(OrderExpired)
def _expired(event: Any, key: str) -> OrderExpired:
    channel, order_number, _ = split_key(key)
    return OrderExpired(
        channel=channel,
        order_number=order_number,
        payment_due_by=utc(event.deadline),
        shipments=list(event.shipments),
        recorded_at=utc(event.at),
    )


@ORDER.event(ReturnRecorded)
def _returned(event: Any, key: str) -> ReturnRecorded:
    channel, order_number, _ = split_key(key)
    return ReturnRecorded(
        channel=channel,
        order_number=order_number,
        return_id=event.return_id,
        lines=[
            ReturnLine(line=item["line"], sku=item["sku"], quantity=item["quantity"])
            for item in event.lines
        ],
        location=event.location,
        disposition=str(event.disposition),
        recorded_at=utc(event.at),
    )


@ORDER.event(OrderPersonalDataErased, stored="Order.PersonalDataErased")
def _personal_data_erased(event: Any, key: str) -> OrderPersonalDataErased:
    channel, order_number, _ = split_key(key)
    return OrderPersonalDataErased(
        channel=channel,
        order_number=order_number,
        legal_basis=event.legal_basis,
        recorded_at=utc(event.at),
    )


@ORDER.event(OrderShipToErased, stored="Order.ShipToErased")
def _ship_to_erased(event: Any, key: str) -> OrderShipToErased:
    channel, order_number, _ = split_key(key)
    return OrderShipToErased(
        channel=channel,
        order_number=order_number,
        legal_basis=event.legal_basis,
        recorded_at=utc(event.at),
    )
