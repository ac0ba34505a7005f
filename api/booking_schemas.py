"""Request bodies of the bookings API (msgspec, strict)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from api.price_schemas import Currency, Instant
from api.schemas import Code, Count, Name, Quantity, Reference, Strict
from domain.resource import SlotKind

Slot = Annotated[
    str, msgspec.Meta(min_length=10, max_length=17, description="YYYY-MM-DD or YYYY-MM-DDTHH:MMZ")
]
Slots = Annotated[list[Slot], msgspec.Meta(min_length=1, max_length=62)]
BookingReference = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Field = Annotated[str, msgspec.Meta(max_length=200)]


class ResourcePut(Strict):
    name: Name
    resource_class: Code
    slot_kind: SlotKind
    capacity: Count


class AllotmentPut(Strict):
    quantity: Count


class ChannelRulesPut(Strict):
    stop_sell: Annotated[list[Slot], msgspec.Meta(max_length=366)] = msgspec.field(
        default_factory=list
    )
    min_stay: Quantity = 1


class ClosurePost(Strict):
    slots: Annotated[list[Slot], msgspec.Meta(min_length=1, max_length=366)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Guest(Strict):
    name: Field
    email: Field | None = None
    phone: Field | None = None
    customer_id: Code | None = None


class BookingPost(Strict):
    reference: BookingReference  # the channel's own: holding it again answers with the booking
    resource: Code
    slots: Slots
    quantity: Quantity
    guest: Guest
    currency: Currency
    expires_at: Instant | None = None


class ConfirmPost(Strict):
    payment_reference: Reference


class ModifyPost(Strict):
    slots: Slots
    quantity: Quantity


class CancelBookingPost(Strict):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
