"""Public events of the `inventory` stream type: one stream per SKU, all its locations.

Every event names its `sku`, though the stored events after the first do not: a consumer
that starts mid-stream must still know what an event is about.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from infrastructure.envelope import Time
from infrastructure.public_events.base import PublicEvent, StreamType, optional_utc

INVENTORY = StreamType("inventory", aggregate="Inventory", key="sku")

Sku = Annotated[str, msgspec.Meta(description="the merchant's SKU code")]
Location = Annotated[str, msgspec.Meta(description="a location code")]
Units = Annotated[int, msgspec.Meta(ge=0, description="whole units")]


class SkuRegistered(PublicEvent, frozen=True, kw_only=True):
    """A SKU became known to the stock network."""

    sku: Sku
    name: str
    gtin: str | None = None


class SkuDescribed(PublicEvent, frozen=True, kw_only=True):
    """A SKU's name or GTIN changed."""

    sku: Sku
    name: str
    gtin: str | None = None


class StockReceived(PublicEvent, frozen=True, kw_only=True):
    """Goods arrived at a location: on hand there rose by `quantity`."""

    sku: Sku
    location: Location
    quantity: Units


class StockReturned(PublicEvent, frozen=True, kw_only=True):
    """Sellable goods came back to a location (a customer return): on hand there rose by
    `quantity`. `reference` says which return (e.g. `return R-1`)."""

    sku: Sku
    location: Location
    quantity: Units
    reference: str


class StockAdjusted(PublicEvent, frozen=True, kw_only=True):
    """On hand at a location was corrected by `delta` units.

    `reason` is one of `cycle_count` (then `counted` is the counted figure),
    `damage`, `shrinkage` or `correction`.
    """

    sku: Sku
    location: Location
    reason: str
    delta: int
    counted: int | None = None


class StockTransferred(PublicEvent, frozen=True, kw_only=True):
    """Unreserved units moved from one location to another."""

    sku: Sku
    from_location: Location
    to_location: Location
    quantity: Units


class StockReserved(PublicEvent, frozen=True, kw_only=True):
    """Units at a location were held for an order or booking (`reference`)."""

    sku: Sku
    reservation_id: str
    location: Location
    quantity: Units
    channel: str | None = None
    reference: str
    expires_at: Time | None = None


class ReservationSecured(PublicEvent, frozen=True, kw_only=True):
    """A hold will no longer lapse: its expiry was lifted (its order was paid in time)."""

    sku: Sku
    reservation_id: str


class ReservationReleased(PublicEvent, frozen=True, kw_only=True):
    """Held units went back to the location's available stock."""

    sku: Sku
    reservation_id: str
    location: Location
    quantity: Units


class ReservationCommitted(PublicEvent, frozen=True, kw_only=True):
    """Held units left the building: on hand and reserved both fell by `quantity`."""

    sku: Sku
    reservation_id: str
    location: Location
    quantity: Units


class SafetyBufferSet(PublicEvent, frozen=True, kw_only=True):
    """`quantity` units are held back from what `channel` may promise (0: no buffer)."""

    sku: Sku
    channel: str
    quantity: Units


class ReorderPolicySet(PublicEvent, frozen=True, kw_only=True):
    """Reorder `reorder_quantity` when available at `location` drops below the point."""

    sku: Sku
    location: Location
    reorder_point: Units
    reorder_quantity: Units


@INVENTORY.event(SkuRegistered)
def _sku_registered(event: Any, sku: str) -> SkuRegistered:
    return SkuRegistered(sku=sku, name=event.name, gtin=event.gtin)


@INVENTORY.event(SkuDescribed)
def _sku_described(event: Any, sku: str) -> SkuDescribed:
    return SkuDescribed(sku=sku, name=event.name, gtin=event.gtin)


@INVENTORY.event(StockReceived)
def _stock_received(event: Any, sku: str) -> StockReceived:
    return StockReceived(sku=sku, location=event.location, quantity=event.quantity)


@INVENTORY.event(StockReturned)
def _stock_returned(event: Any, sku: str) -> StockReturned:
    return StockReturned(
        sku=sku, location=event.location, quantity=event.quantity, reference=event.reference
    )


@INVENTORY.event(StockAdjusted)
def _stock_adjusted(event: Any, sku: str) -> StockAdjusted:
    return StockAdjusted(
        sku=sku,
        location=event.location,
        reason=str(event.reason),
        delta=event.delta,
        counted=event.counted,
    )


@INVENTORY.event(StockTransferred)
def _stock_transferred(event: Any, sku: str) -> StockTransferred:
    return StockTransferred(
        sku=sku,
        from_location=event.source,
        to_location=event.destination,
        quantity=event.quantity,
    )


@INVENTORY.event(StockReserved)
def _stock_reserved(event: Any, sku: str) -> StockReserved:
    return StockReserved(
        sku=sku,
        reservation_id=event.reservation_id,
        location=event.location,
        quantity=event.quantity,
        channel=event.channel,
        reference=event.reference,
        expires_at=optional_utc(event.expires_at),
    )


@INVENTORY.event(ReservationSecured)
def _reservation_secured(event: Any, sku: str) -> ReservationSecured:
    return ReservationSecured(sku=sku, reservation_id=event.reservation_id)


@INVENTORY.event(ReservationReleased)
def _reservation_released(event: Any, sku: str) -> ReservationReleased:
    return ReservationReleased(
        sku=sku,
        reservation_id=event.reservation_id,
        location=event.location,
        quantity=event.quantity,
    )


@INVENTORY.event(ReservationCommitted)
def _reservation_committed(event: Any, sku: str) -> ReservationCommitted:
    return ReservationCommitted(
        sku=sku,
        reservation_id=event.reservation_id,
        location=event.location,
        quantity=event.quantity,
    )


@INVENTORY.event(SafetyBufferSet)
def _safety_buffer_set(event: Any, sku: str) -> SafetyBufferSet:
    return SafetyBufferSet(sku=sku, channel=event.channel, quantity=event.quantity)


@INVENTORY.event(ReorderPolicySet)
def _reorder_policy_set(event: Any, sku: str) -> ReorderPolicySet:
    return ReorderPolicySet(
        sku=sku,
        location=event.location,
        reorder_point=event.reorder_point,
        reorder_quantity=event.reorder_quantity,
    )
