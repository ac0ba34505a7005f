"""Request bodies of the pricing API (msgspec). Money amounts are exact decimals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from api.schemas import MAX_LIST, Code, Strict
from domain.price_list import ListStatus, MapPolicy
from domain.promotion import PromotionKind, Stacking

Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Instant = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 with a time zone")]
Text = Annotated[str, msgspec.Meta(max_length=200)]
MAX_ROWS = 20_000


class PriceListPut(Strict):
    name: Text = ""
    map_policy: MapPolicy = MapPolicy.REJECT


class PriceListStatusPut(Strict):
    status: ListStatus


class PriceRow(Strict):
    sku: Code
    amount: Decimal | None  # null removes the SKU's price within the window
    valid_from: Instant | None = None
    valid_until: Instant | None = None


class PricesPost(Strict):
    prices: Annotated[list[PriceRow], msgspec.Meta(min_length=1, max_length=MAX_ROWS)]
    partial: bool = False


class Rollback(Strict):
    to_version: Annotated[int, msgspec.Meta(ge=1)]


class FloorsPut(Strict):
    floors: Annotated[dict[Code, Decimal | None], msgspec.Meta(min_length=1, max_length=10_000)]


class PromotionPut(Strict):
    kind: PromotionKind
    value: Decimal
    name: Text = ""
    currency: Currency | None = None
    channels: Annotated[list[Code], msgspec.Meta(max_length=MAX_LIST)] | None = None
    skus: Annotated[list[Code], msgspec.Meta(max_length=MAX_LIST)] | None = None
    priority: int = 0
    stacking: Stacking = Stacking.EXCLUSIVE
    stacks_with: Annotated[list[Code], msgspec.Meta(max_length=MAX_LIST)] = msgspec.field(
        default_factory=list
    )
    valid_from: Instant | None = None
    valid_until: Instant | None = None


def promotion_definition(body: PromotionPut) -> dict[str, Any]:
    """A promotion body as the keyword arguments of the pricing application."""
    return {
        "name": body.name,
        "kind": body.kind,
        "value": body.value,
        "currency": body.currency,
        "channels": body.channels,
        "skus": body.skus,
        "priority": body.priority,
        "stacking": body.stacking,
        "stacks_with": list(body.stacks_with),
        "valid_from": body.valid_from,
        "valid_until": body.valid_until,
    }


class PricingRulePut(Strict):
    channel: Code
    currency: Currency
    skus: Annotated[list[Code], msgspec.Meta(min_length=1, max_length=MAX_LIST)]
    base: Decimal
    floor: Decimal
    ceiling: Decimal
    low_atp: Annotated[int, msgspec.Meta(ge=0)]
    high_atp: Annotated[int, msgspec.Meta(ge=0)]
    step_percent: Decimal


class SimulatedPrices(Strict):
    channel: Code
    currency: Currency
    prices: Annotated[list[PriceRow], msgspec.Meta(min_length=1, max_length=MAX_LIST)]


class SimulatedPromotion(PromotionPut):
    promotion_id: Code = "SIMULATED"


class SimulationPost(Strict):
    at: Instant | None = None
    prices: SimulatedPrices | None = None
    promotion: SimulatedPromotion | None = None
