"""Request and response bodies (msgspec). Unknown fields are refused, numbers are exact."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, TypeVar

import msgspec

from domain.identity import MAX_QUANTITY
from domain.inventory import AdjustmentReason
from domain.network import ChannelKind, LocationKind

Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY, description="whole units, >= 1")]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY, description="whole units, >= 0")]
Delta = Annotated[int, msgspec.Meta(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]
Code = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
MAX_LIST = 500


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    pass


class LocationPut(Strict):
    name: Name
    kind: LocationKind
    latitude: Decimal | None = None
    longitude: Decimal | None = None


class ChannelPut(Strict):
    name: Name
    kind: ChannelKind
    locations: Annotated[list[Code], msgspec.Meta(max_length=MAX_LIST)]


class SkuPut(Strict):
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    gtin: Annotated[str, msgspec.Meta(min_length=8, max_length=14)] | None = None


class Receipt(Strict):
    location: Code
    quantity: Quantity


class Adjustment(Strict):
    location: Code
    reason: AdjustmentReason
    quantity: Delta


class Transfer(Strict):
    from_location: Code
    to_location: Code
    quantity: Quantity


class ReservationCreate(Strict):
    reservation_id: Code
    location: Code
    quantity: Quantity
    reference: Reference
    channel: Code | None = None
    expires_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class Commitment(Strict):
    quantity: Quantity | None = None


class SafetyBufferPut(Strict):
    quantity: Count


class ReorderPolicyPut(Strict):
    reorder_point: Count
    reorder_quantity: Quantity


T = TypeVar("T", bound=Strict)


def decode_strict(raw: bytes, model: type[T]) -> T:
    """Decode without coercion: "5" is not 5 and 1.0 is not a quantity."""
    return msgspec.json.decode(raw, type=model, strict=True)
