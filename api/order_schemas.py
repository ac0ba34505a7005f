"""Request bodies of the orders API (msgspec). Money is {"amount": "12.50", "currency": "EUR"}."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

from api.price_schemas import Currency, Instant, Text
from api.schemas import Code, Quantity, Reference, Strict
from domain.order import Disposition, Fulfilment

MAX_LINES = 200
OrderNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Field = Annotated[str, msgspec.Meta(max_length=200)]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class Money(Strict):
    amount: Decimal
    currency: Currency


class OrderLine(Strict):
    sku: Code
    quantity: Quantity
    unit_price: Money  # the price the channel showed the customer


class Customer(Strict):
    name: Field
    customer_id: Code | None = None
    email: Field | None = None
    phone: Field | None = None


class Address(Strict):
    name: Field
    line1: Field
    city: Field
    country: Country
    line2: Field | None = None
    postal_code: Field | None = None
    region: Field | None = None
    phone: Field | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None


class Payment(Strict):
    status: Annotated[str, msgspec.Meta(pattern=r"^(authorised|captured)$")]
    reference: Reference
    amount: Money


class OrderPost(Strict):
    order_number: OrderNumber  # the channel's own number: placing it again returns the order
    lines: Annotated[list[OrderLine], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
    customer: Customer | None = None
    ship_to: Address | None = None
    fulfilment: Fulfilment = Fulfilment.DELIVERY
    pickup_location: Code | None = None
    split_allowed: bool = False
    payment_due_by: Instant | None = None
    payment: Payment | None = None  # already paid (e.g. marketplace orders)


class PosSalePost(Strict):
    sale_number: OrderNumber
    location: Code
    lines: Annotated[list[OrderLine], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
    payment_reference: Reference
    customer: Customer | None = None


class PaymentPost(Strict):
    amount: Money
    reference: Reference


class RefundPost(Strict):
    refund_id: Code
    amount: Money
    reference: Reference


class ShipmentStep(Strict):
    carrier: Text | None = None
    tracking: Text | None = None


class CancelPost(Strict):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ReturnLine(Strict):
    line: Annotated[int, msgspec.Meta(ge=1, le=MAX_LINES)]
    quantity: Quantity


class ReturnPost(Strict):
    return_id: Code
    location: Code
    disposition: Disposition
    lines: Annotated[list[ReturnLine], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


def plain(value: msgspec.Struct | None) -> dict[str, object] | None:
    """A struct as the dict the domain records, without unset optional fields."""
    if value is None:
        return None
    return {k: v for k, v in msgspec.structs.asdict(value).items() if v is not None}
