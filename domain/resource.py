"""A bookable resource: capacity per slot, channel allotments, holds and confirmations.

Every unit of a slot is either in a channel's allotment (only that channel may sell it) or
in the shared pool. A channel sells from its allotment first, then from the pool; so for
every slot: Σ over channels of max(0, used - allotment) ≤ pool, where pool = capacity - Σ
allotments. A hold past its expiry counts as free at once, before any timer releases it.
The resource holds every use of its slots, so one aggregate decides every race for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, HoldExpired, InvalidValue, NotFound
from domain.identity import (
    check_choice,
    check_code,
    check_instant,
    check_quantity,
    check_text,
    stream_id,
)

MAX_SLOTS = 62  # two months of nights, or a day of quarter-hours
MAX_NAME = 200
TIMED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$")
NIGHTLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # not an ISO week date: one spelling per night


class SlotKind(StrEnum):
    NIGHT = "night"  # a slot is a date: the night starting that day
    TIMED = "timed"  # a slot is a start time in UTC, e.g. 2026-12-01T10:00Z


class CapacityUnavailable(Conflict):
    code = "capacity-unavailable"
    title = "Not enough capacity for the channel in a slot"


class SlotClosed(Conflict):
    code = "slot-closed"
    title = "The slot is closed or stop-sold for the channel"


class MinimumStay(Conflict):
    code = "minimum-stay"
    title = "The stay is shorter than the channel's minimum"


class UnknownResource(NotFound):
    code = "unknown-resource"
    title = "No such resource"


@dataclass(frozen=True)
class Use:
    """A booking's units in the slots it holds."""

    booking: str
    channel: str
    slots: tuple[str, ...]
    quantity: int
    expires_at: datetime | None  # None: confirmed (or a hold that never lapses)

    def live(self, now: datetime | None) -> bool:
        return self.expires_at is None or now is None or self.expires_at > now


def check_slots(kind: SlotKind, slots: list[str]) -> tuple[str, ...]:
    """Slots are distinct and sorted; nights must be consecutive dates (one stay)."""
    if not isinstance(slots, list) or not 1 <= len(slots) <= MAX_SLOTS:
        raise InvalidValue(f"give 1 to {MAX_SLOTS} slots", field="slots")
    for slot in slots:
        if not isinstance(slot, str):
            raise InvalidValue(f"slot {slot!r} is not text", field="slots")
        if kind is SlotKind.NIGHT:
            if not NIGHTLY.fullmatch(slot):
                raise InvalidValue(f"night {slot!r} is not a date YYYY-MM-DD", field="slots")
            try:
                date.fromisoformat(slot)
            except ValueError:
                raise InvalidValue(
                    f"night {slot!r} is not a date YYYY-MM-DD", field="slots"
                ) from None
            if len(slot) != 10:
                raise InvalidValue(f"night {slot!r} is not a date YYYY-MM-DD", field="slots")
        elif not TIMED.fullmatch(slot) or not _valid_time(slot):
            raise InvalidValue(
                f"slot {slot!r} is not a UTC start time like 2026-12-01T10:00Z", field="slots"
            )
    ordered = tuple(sorted(set(slots)))
    if len(ordered) != len(slots):
        raise InvalidValue("slots repeat", field="slots")
    if kind is SlotKind.NIGHT:
        days = [date.fromisoformat(slot) for slot in ordered]
        if any(b - a != timedelta(days=1) for a, b in pairwise(days)):
            raise InvalidValue("the nights of a stay are consecutive", field="slots")
    return ordered


def _valid_time(slot: str) -> bool:
    try:
        datetime.fromisoformat(slot.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class Resource(Aggregate):
    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return stream_id("resource", code)

    @classmethod
    def register(
        cls,
        code: str,
        name: str,
        resource_class: str,
        slot_kind: SlotKind,
        capacity: int,
        free_cancellation_hours: int = 24,
        cancellation_fee_percent: Decimal = Decimal(100),
    ) -> Resource:
        check_code(code, "resource")
        check_text(name, "name", MAX_NAME)
        check_code(resource_class, "resource_class")
        slot_kind = check_choice(SlotKind, slot_kind, "slot_kind")
        check_quantity(capacity, "capacity", allow_zero=True)
        check_quantity(free_cancellation_hours, "free_cancellation_hours", allow_zero=True)
        if not (
            isinstance(cancellation_fee_percent, Decimal)
            and cancellation_fee_percent.is_finite()
            and 0 <= cancellation_fee_percent <= 100
        ):
            raise InvalidValue(
                "cancellation_fee_percent is 0 to 100", field="cancellation_fee_percent"
            )
        return cls(
            code=code,
            name=name,
            resource_class=resource_class,
            slot_kind=slot_kind,
            capacity=capacity,
            free_cancellation_hours=free_cancellation_hours,
            cancellation_fee_percent=cancellation_fee_percent,
        )

    @event("ResourceRegistered")
    def __init__(
        self,
        code: str,
        name: str,
        resource_class: str,
        slot_kind: SlotKind,
        capacity: int,
        free_cancellation_hours: int,
        cancellation_fee_percent: Decimal,
    ) -> None:
        self.code = code
        self.name = name
        self.resource_class = resource_class
        self.slot_kind = SlotKind(slot_kind)
        self.capacity = capacity
        self.free_cancellation_hours = free_cancellation_hours
        self.cancellation_fee_percent = cancellation_fee_percent
        self.allotments: dict[str, int] = {}
        self.stop_sell: dict[str, set[str]] = {}
        self.min_stay: dict[str, int] = {}
        self.closed: set[str] = set()
        self.uses: dict[str, Use] = {}  # booking -> its use of this resource

    # -- queries ---------------------------------------------------------------------------

    @property
    def pool(self) -> int:
        return self.capacity - sum(self.allotments.values())

    def used(self, slot: str, now: datetime | None, excluding: str | None = None) -> dict[str, int]:
        """Live units per channel in ``slot``."""
        found: dict[str, int] = {}
        for use in self.uses.values():
            if use.booking != excluding and slot in use.slots and use.live(now):
                found[use.channel] = found.get(use.channel, 0) + use.quantity
        return found

    def free_for(
        self, channel: str, slot: str, now: datetime | None, excluding: str | None = None
    ) -> int:
        """Units ``channel`` may still take in ``slot``: its allotment left, plus the pool."""
        if slot in self.closed or slot in self.stop_sell.get(channel, set()):
            return 0
        used = self.used(slot, now, excluding)
        pool_used = sum(max(0, n - self.allotments.get(c, 0)) for c, n in used.items())
        own_left = max(0, self.allotments.get(channel, 0) - used.get(channel, 0))
        return max(0, own_left + self.pool - pool_used)

    def cancellation_terms(self) -> dict[str, Any]:
        return {
            "free_cancellation_hours": self.free_cancellation_hours,
            "fee_percent_after": str(self.cancellation_fee_percent),
        }

    # -- holds -----------------------------------------------------------------------------

    def hold(
        self,
        booking: str,
        channel: str,
        slots: list[str],
        quantity: int,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        check_code(channel, "channel")
        check_quantity(quantity)
        ordered = check_slots(self.slot_kind, slots)
        if expires_at is not None and check_instant(expires_at, "expires_at") <= now:
            raise InvalidValue("expires_at must be in the future", field="expires_at")
        if booking in self.uses and self.uses[booking].live(now):
            raise Conflict(f"booking {booking} already holds {self.code}", booking=booking)
        self._check_room(booking, channel, ordered, quantity, now)
        self._hold(
            booking=booking,
            channel=channel,
            slots=list(ordered),
            quantity=quantity,
            expires_at=expires_at,
        )

    @event("CapacityHeld")
    def _hold(
        self,
        booking: str,
        channel: str,
        slots: list[str],
        quantity: int,
        expires_at: datetime | None,
    ) -> None:
        self.uses[booking] = Use(booking, channel, tuple(slots), quantity, expires_at)

    def secure(self, booking: str, now: datetime) -> None:
        """The booking was confirmed: its hold no longer lapses (refused once it has)."""
        use = self._use(booking)
        if use.expires_at is None:
            return
        if use.expires_at <= now:
            raise HoldExpired(
                f"the hold of booking {booking} on {self.code} expired at "
                f"{use.expires_at.isoformat()}",
                booking=booking,
                expired_at=use.expires_at.isoformat(),
            )
        self._secure(booking=booking)

    @event("CapacityConfirmed")
    def _secure(self, booking: str) -> None:
        self.uses[booking] = replace(self.uses[booking], expires_at=None)

    def release(self, booking: str, reason: str) -> bool:
        """Give the booking's units back to the channel's allotment and the pool at once."""
        if booking not in self.uses:
            return False
        self._release(booking=booking, reason=reason)
        return True

    @event("CapacityReleased")
    def _release(self, booking: str, reason: str) -> None:
        del self.uses[booking]

    def swap(self, booking: str, slots: list[str], quantity: int, now: datetime) -> None:
        """Move a booking to other slots or another quantity, or refuse and keep the old."""
        use = self._use(booking)
        check_quantity(quantity)
        ordered = check_slots(self.slot_kind, slots)
        if not use.live(now):
            raise HoldExpired(
                f"the hold of booking {booking} on {self.code} has lapsed", booking=booking
            )
        self._check_room(booking, use.channel, ordered, quantity, now, excluding=booking)
        if (ordered, quantity) == (use.slots, use.quantity):
            return  # nothing changes (still refused above if it could not be held today)
        self._swap(booking=booking, slots=list(ordered), quantity=quantity)

    @event("CapacitySwapped")
    def _swap(self, booking: str, slots: list[str], quantity: int) -> None:
        self.uses[booking] = replace(self.uses[booking], slots=tuple(slots), quantity=quantity)

    def _check_room(
        self,
        booking: str,
        channel: str,
        slots: tuple[str, ...],
        quantity: int,
        now: datetime,
        excluding: str | None = None,
    ) -> None:
        minimum = self.min_stay.get(channel, 1)
        if self.slot_kind is SlotKind.NIGHT and len(slots) < minimum:
            raise MinimumStay(
                f"channel {channel} sells stays of at least {minimum} nights on {self.code}",
                minimum=minimum,
            )
        for slot in slots:
            if slot in self.closed or slot in self.stop_sell.get(channel, set()):
                raise SlotClosed(f"{self.code} is not for sale on {channel} for {slot}", slot=slot)
            free = self.free_for(channel, slot, now, excluding)
            if quantity > free:
                raise CapacityUnavailable(
                    f"{free} of {self.code} free for {channel} in {slot}, {quantity} wanted",
                    slot=slot,
                    available=free,
                    requested=quantity,
                )

    def _use(self, booking: str) -> Use:
        if booking not in self.uses:
            raise NotFound(f"booking {booking} holds nothing on {self.code}", booking=booking)
        return self.uses[booking]

    # -- the operator's settings -----------------------------------------------------------

    def set_capacity(self, capacity: int, now: datetime | None = None) -> None:
        """Change the units per slot; refused if units held at ``now`` would not fit."""
        check_quantity(capacity, "capacity", allow_zero=True)
        if capacity < sum(self.allotments.values()):
            raise InvalidValue("capacity is below the channel allotments", field="capacity")
        self._check_uses_fit(capacity, self.allotments, now)
        if capacity != self.capacity:
            self._set_capacity(capacity=capacity)

    @event("CapacitySet")
    def _set_capacity(self, capacity: int) -> None:
        self.capacity = capacity

    def set_allotment(self, channel: str, quantity: int, now: datetime | None = None) -> None:
        """Units of every slot only ``channel`` may sell; refused if units held at ``now``
        would break the allotment-and-pool rule."""
        check_code(channel, "channel")
        check_quantity(quantity, allow_zero=True)
        others = sum(n for c, n in self.allotments.items() if c != channel)
        if others + quantity > self.capacity:
            raise InvalidValue(
                f"allotments would exceed the capacity of {self.capacity}", field="quantity"
            )
        self._check_uses_fit(self.capacity, {**self.allotments, channel: quantity}, now)
        if self.allotments.get(channel, 0) != quantity:
            self._set_allotment(channel=channel, quantity=quantity)

    def _check_uses_fit(
        self, capacity: int, allotments: dict[str, int], now: datetime | None
    ) -> None:
        """Refuse a setting under which units held at ``now`` would break the invariant
        (without ``now``, every hold counts, lapsed or not)."""
        pool = capacity - sum(allotments.values())
        for slot in sorted({slot for use in self.uses.values() for slot in use.slots}):
            used = self.used(slot, now)
            over = sum(max(0, n - allotments.get(c, 0)) for c, n in used.items())
            if over > pool:
                raise CapacityUnavailable(
                    f"{slot} of {self.code} has {sum(used.values())} units held; "
                    "release some before this change",
                    slot=slot,
                    held=sum(used.values()),
                )

    @event("AllotmentSet")
    def _set_allotment(self, channel: str, quantity: int) -> None:
        if quantity:
            self.allotments[channel] = quantity
        else:
            self.allotments.pop(channel, None)

    def set_channel_rules(self, channel: str, stop_sell: list[str], min_stay: int) -> None:
        check_code(channel, "channel")
        check_quantity(min_stay, "min_stay")
        slots = check_stop_sell(self.slot_kind, stop_sell)
        if (set(slots), min_stay) != (
            self.stop_sell.get(channel, set()),
            self.min_stay.get(channel, 1),
        ):
            self._set_channel_rules(channel=channel, stop_sell=list(slots), min_stay=min_stay)

    @event("ChannelRulesSet")
    def _set_channel_rules(self, channel: str, stop_sell: list[str], min_stay: int) -> None:
        self.stop_sell[channel] = set(stop_sell)
        self.min_stay[channel] = min_stay

    def close(self, slots: list[str], reason: str) -> list[str]:
        """Take slots out of service (a disruption); returns the bookings affected."""
        check_text(reason, "reason", MAX_NAME)
        wanted = check_stop_sell(self.slot_kind, slots)
        new = sorted(set(wanted) - self.closed)
        if new:
            self._close(slots=new, reason=reason)
        return sorted(use.booking for use in self.uses.values() if set(use.slots) & set(wanted))

    @event("SlotsClosed")
    def _close(self, slots: list[str], reason: str) -> None:
        self.closed.update(slots)


def check_stop_sell(kind: SlotKind, slots: list[str]) -> tuple[str, ...]:
    """A set of slots, not necessarily one stay."""
    if not isinstance(slots, list) or len(slots) > 366:
        raise InvalidValue("give at most 366 slots", field="slots")
    checked: set[str] = set()
    for slot in slots:
        checked.update(check_slots(SlotKind.TIMED if kind is SlotKind.TIMED else kind, [slot]))
    return tuple(sorted(checked))
