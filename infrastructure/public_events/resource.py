"""Public events of the `resource` stream type: one stream per bookable resource (a room, a
table, a seat block), keyed by its code, in the `bookings` log.

A resource decides every race for its slots: each unit of a slot is in one channel's
allotment or in the shared pool, and a booking's hold (`CapacityHeld`) takes units from the
channel's allotment first, then from the pool. Every event names its `resource`, though the
stored events after the first do not. A booking is named by `booking_id`, the `stream_id`
of that booking's own `booking` events, written in the same transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from infrastructure.envelope import Time
from infrastructure.public_events.base import PublicEvent, StreamType, optional_utc

LOG = "bookings"
RESOURCE = StreamType("resource", aggregate="Resource", key="code", log=LOG)

ResourceCode = Annotated[str, msgspec.Meta(description="the resource's code")]
BookingId = Annotated[str, msgspec.Meta(description="the booking's stream id (a UUID)")]
Channel = Annotated[str, msgspec.Meta(description="the sales channel's code")]
Slot = Annotated[
    str,
    msgspec.Meta(
        description="a night `YYYY-MM-DD` or a UTC start time `YYYY-MM-DDTHH:MMZ`",
        examples=["2026-12-01", "2026-12-01T10:00Z"],
    ),
]
Units = Annotated[int, msgspec.Meta(ge=0, description="whole units")]


class ResourceRegistered(PublicEvent, frozen=True, kw_only=True):
    """A bookable resource became known: `capacity` units per slot, all in the shared pool.

    `slot_kind` `night` (a slot is the night starting on a date) or `timed` (a slot is a
    start time in UTC). A confirmed booking may be cancelled free of charge until
    `free_cancellation_hours` before its first slot; after that the fee is
    `cancellation_fee_percent` (a decimal string) of its price."""

    resource: ResourceCode
    name: str
    resource_class: Annotated[
        str, msgspec.Meta(description="resources of one class are equivalent")
    ]
    slot_kind: str
    capacity: Units
    free_cancellation_hours: Units
    cancellation_fee_percent: Annotated[str, msgspec.Meta(pattern=r"^\d+(\.\d+)?$")]


class CapacitySet(PublicEvent, frozen=True, kw_only=True):
    """The units per slot changed to `capacity` (the pool changes by the same amount)."""

    resource: ResourceCode
    capacity: Units


class AllotmentSet(PublicEvent, frozen=True, kw_only=True):
    """`quantity` units per slot are kept for `channel` alone (0: no allotment); they
    leave the shared pool."""

    resource: ResourceCode
    channel: Channel
    quantity: Units


class ChannelRulesSet(PublicEvent, frozen=True, kw_only=True):
    """`channel` may not sell the `stop_sell` slots (the whole set, sorted), and sells
    stays of at least `min_stay` nights."""

    resource: ResourceCode
    channel: Channel
    stop_sell: list[Slot]
    min_stay: Annotated[int, msgspec.Meta(ge=1)]


class SlotsClosed(PublicEvent, frozen=True, kw_only=True):
    """The slots are out of service for every channel (a disruption); bookings that held
    them are rebooked to an equivalent resource or flagged."""

    resource: ResourceCode
    slots: list[Slot]
    reason: str


class CapacityHeld(PublicEvent, frozen=True, kw_only=True):
    """A booking holds `quantity` units in each of `slots` for `channel`. The hold counts
    as free again once `expires_at` has passed (null: it never lapses)."""

    resource: ResourceCode
    booking_id: BookingId
    channel: Channel
    slots: list[Slot]
    quantity: Annotated[int, msgspec.Meta(ge=1)]
    expires_at: Time | None = None


class CapacityConfirmed(PublicEvent, frozen=True, kw_only=True):
    """The booking was confirmed: its hold no longer lapses."""

    resource: ResourceCode
    booking_id: BookingId


class CapacitySwapped(PublicEvent, frozen=True, kw_only=True):
    """The booking now holds `quantity` units in each of `slots` instead (a modification),
    with the same channel and expiry."""

    resource: ResourceCode
    booking_id: BookingId
    slots: list[Slot]
    quantity: Annotated[int, msgspec.Meta(ge=1)]


class CapacityReleased(PublicEvent, frozen=True, kw_only=True):
    """The booking's units are free again (`reason`: cancelled, expired, rebooked...)."""

    resource: ResourceCode
    booking_id: BookingId
    reason: str


@RESOURCE.event(ResourceRegistered)
def _registered(event: Any, code: str) -> ResourceRegistered:
    return ResourceRegistered(
        resource=code,
        name=event.name,
        resource_class=event.resource_class,
        slot_kind=str(event.slot_kind),
        capacity=event.capacity,
        free_cancellation_hours=event.free_cancellation_hours,
        cancellation_fee_percent=str(event.cancellation_fee_percent),
    )


@RESOURCE.event(CapacitySet)
def _capacity_set(event: Any, code: str) -> CapacitySet:
    return CapacitySet(resource=code, capacity=event.capacity)


@RESOURCE.event(AllotmentSet)
def _allotment_set(event: Any, code: str) -> AllotmentSet:
    return AllotmentSet(resource=code, channel=event.channel, quantity=event.quantity)


@RESOURCE.event(ChannelRulesSet)
def _rules_set(event: Any, code: str) -> ChannelRulesSet:
    return ChannelRulesSet(
        resource=code,
        channel=event.channel,
        stop_sell=sorted(event.stop_sell),
        min_stay=event.min_stay,
    )


@RESOURCE.event(SlotsClosed)
def _closed(event: Any, code: str) -> SlotsClosed:
    return SlotsClosed(resource=code, slots=list(event.slots), reason=event.reason)


@RESOURCE.event(CapacityHeld)
def _held(event: Any, code: str) -> CapacityHeld:
    return CapacityHeld(
        resource=code,
        booking_id=str(event.booking),
        channel=event.channel,
        slots=list(event.slots),
        quantity=event.quantity,
        expires_at=optional_utc(event.expires_at),
    )


@RESOURCE.event(CapacityConfirmed)
def _confirmed(event: Any, code: str) -> CapacityConfirmed:
    return CapacityConfirmed(resource=code, booking_id=str(event.booking))


@RESOURCE.event(CapacitySwapped)
def _swapped(event: Any, code: str) -> CapacitySwapped:
    return CapacitySwapped(
        resource=code,
        booking_id=str(event.booking),
        slots=list(event.slots),
        quantity=event.quantity,
    )


@RESOURCE.event(CapacityReleased)
def _released(event: Any, code: str) -> CapacityReleased:
    return CapacityReleased(resource=code, booking_id=str(event.booking), reason=event.reason)
