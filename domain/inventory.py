"""Stock of one SKU across every location, and what each channel may promise of it.

Available-to-promise (ATP) for a channel is the sum, over the locations that feed it, of
on hand minus reserved, less the channel's safety buffer for this SKU, never below zero.
Every rule that protects that figure lives here; the aggregate never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    HoldExpired,
    InsufficientStock,
    InvalidValue,
    LocationNotInChannel,
    ReservationExists,
    ReservationNotFound,
    StockBelowReserved,
)
from domain.identity import (
    MAX_QUANTITY,
    check_choice,
    check_code,
    check_gtin,
    check_quantity,
    check_text,
    stream_id,
)

MAX_NAME = 200
MAX_REFERENCE = 200


class AdjustmentReason(StrEnum):
    CYCLE_COUNT = "cycle_count"  # quantity is the counted on-hand figure
    DAMAGE = "damage"  # quantity is a negative delta
    SHRINKAGE = "shrinkage"  # quantity is a negative delta
    CORRECTION = "correction"  # quantity is a non-zero delta


@dataclass
class LocationStock:
    on_hand: int = 0
    reserved: int = 0
    reorder_point: int | None = None
    reorder_quantity: int | None = None

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    location: str
    quantity: int
    channel: str | None
    reference: str
    expires_at: datetime | None


class Inventory(Aggregate):
    """One SKU's stock in every location, its reservations and per-channel safety buffers."""

    @staticmethod
    def create_id(sku: str, **_: Any) -> UUID:
        return stream_id("sku", sku)

    @classmethod
    def register(cls, sku: str, name: str, gtin: str | None = None) -> Inventory:
        check_code(sku, "sku")
        check_text(name, "name", MAX_NAME, allow_empty=True)
        if gtin is not None:
            check_gtin(gtin)
        return cls(sku=sku, name=name, gtin=gtin)

    @event("SkuRegistered")
    def __init__(self, sku: str, name: str, gtin: str | None) -> None:
        self.sku = sku
        self.name = name
        self.gtin = gtin
        self.stock: dict[str, LocationStock] = {}
        self.reservations: dict[str, Reservation] = {}  # held now, with what is left
        self.reservations_made: dict[str, Reservation] = {}  # every hold ever, as made
        self.safety_buffers: dict[str, int] = {}
        # Held now and due to lapse: an expired one counts as free before it is released.
        self.expiring: dict[str, Reservation] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> Inventory:
        """A copy sharing only immutable parts.

        The application copies the cached aggregate before every command. The generic
        deepcopy rebuilt every reservation (frozen, so safely shared), which made each
        command on a hot SKU slower as its reservations grew.
        """
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.stock = {code: replace(stock) for code, stock in self.stock.items()}
        clone.reservations = dict(self.reservations)
        clone.reservations_made = dict(self.reservations_made)
        clone.safety_buffers = dict(self.safety_buffers)
        clone.expiring = dict(self.expiring)
        clone._pending_events = list(self._pending_events)
        return clone

    # -- queries ---------------------------------------------------------------------------

    def at(self, location: str) -> LocationStock:
        return self.stock.get(location) or LocationStock()

    def lapsed(self, location: str, now: datetime | None) -> int:
        """Units held at ``location`` by holds expired at ``now``, not yet released."""
        if now is None or not self.expiring:
            return 0
        return sum(
            held.quantity
            for held in self.expiring.values()
            if held.location == location and held.expires_at is not None and held.expires_at <= now
        )

    def free(self, location: str, now: datetime | None = None) -> int:
        """Units at ``location`` a new hold may take: an expired hold no longer counts, so
        availability never depends on when the expiry timer gets round to releasing it."""
        return self.at(location).available + self.lapsed(location, now)

    def available_to_promise(
        self, channel: str, locations: list[str], now: datetime | None = None
    ) -> int:
        """What ``channel``, fed by ``locations``, may promise of this SKU at ``now``."""
        pooled = sum(self.free(code, now) for code in locations)
        return max(0, pooled - self.safety_buffers.get(channel, 0))

    # -- commands --------------------------------------------------------------------------

    def describe(self, name: str, gtin: str | None) -> None:
        check_text(name, "name", MAX_NAME, allow_empty=True)
        if gtin is not None:
            check_gtin(gtin)
        if (name, gtin) != (self.name, self.gtin):
            self._describe(name=name, gtin=gtin)

    @event("SkuDescribed")
    def _describe(self, name: str, gtin: str | None) -> None:
        self.name = name
        self.gtin = gtin

    def receive(self, location: str, quantity: int) -> None:
        """Goods arrived at ``location``."""
        check_code(location, "location")
        check_quantity(quantity)
        if self.at(location).on_hand + quantity > MAX_QUANTITY:
            raise InvalidValue(f"on hand would exceed {MAX_QUANTITY}", field="quantity")
        self._receive(location=location, quantity=quantity)

    @event("StockReceived")
    def _receive(self, location: str, quantity: int) -> None:
        self._stock(location).on_hand += quantity

    def restock(self, location: str, quantity: int, reference: str) -> None:
        """Sellable goods came back (a customer return) to ``location``."""
        check_code(location, "location")
        check_quantity(quantity)
        check_text(reference, "reference", MAX_REFERENCE)
        if self.at(location).on_hand + quantity > MAX_QUANTITY:
            raise InvalidValue(f"on hand would exceed {MAX_QUANTITY}", field="quantity")
        self._restock(location=location, quantity=quantity, reference=reference)

    @event("StockReturned")
    def _restock(self, location: str, quantity: int, reference: str) -> None:
        self._stock(location).on_hand += quantity

    def adjust(self, location: str, reason: AdjustmentReason, quantity: int) -> None:
        """Correct on hand: a cycle count sets the counted figure, other reasons are deltas.

        On hand may never fall below what is reserved there: reservations are promises to
        customers, so they must be released or moved before the stock that backs them goes.
        """
        check_code(location, "location")
        reason = check_choice(AdjustmentReason, reason, "reason")
        current = self.at(location)
        if reason is AdjustmentReason.CYCLE_COUNT:
            counted = check_quantity(quantity, "quantity", allow_zero=True)
            delta = counted - current.on_hand
        else:
            if isinstance(quantity, bool) or not isinstance(quantity, int):
                raise InvalidValue(
                    f"quantity must be a whole number, got {quantity!r}", field="quantity"
                )
            if reason in (AdjustmentReason.DAMAGE, AdjustmentReason.SHRINKAGE) and quantity >= 0:
                raise InvalidValue(f"a {reason} adjustment is a negative delta", field="quantity")
            if quantity == 0 or abs(quantity) > MAX_QUANTITY:
                raise InvalidValue(
                    f"a {reason} adjustment is a non-zero delta of at most {MAX_QUANTITY} units",
                    field="quantity",
                )
            delta = quantity
        new_on_hand = current.on_hand + delta
        if new_on_hand > MAX_QUANTITY:
            raise InvalidValue(f"on hand would exceed {MAX_QUANTITY}", field="quantity")
        if new_on_hand < 0:
            raise InsufficientStock(
                f"{current.on_hand} of {self.sku} on hand at {location}, cannot remove {-delta}",
                sku=self.sku,
                location=location,
                requested=-delta,
                available=current.on_hand,
            )
        if new_on_hand < current.reserved:
            raise StockBelowReserved(
                f"{self.sku} at {location}: on hand would be {new_on_hand}, "
                f"but {current.reserved} are reserved",
                sku=self.sku,
                location=location,
                on_hand=new_on_hand,
                reserved=current.reserved,
            )
        self._adjust(
            location=location,
            reason=reason,
            delta=delta,
            counted=quantity if reason is AdjustmentReason.CYCLE_COUNT else None,
        )

    @event("StockAdjusted")
    def _adjust(
        self, location: str, reason: AdjustmentReason, delta: int, counted: int | None
    ) -> None:
        self._stock(location).on_hand += delta

    def transfer(self, source: str, destination: str, quantity: int) -> None:
        """Move unreserved units from one location to another."""
        check_code(source, "from_location")
        check_code(destination, "to_location")
        check_quantity(quantity)
        if source == destination:
            raise InvalidValue("a transfer needs two different locations", field="to_location")
        self._require_available(source, quantity)
        if self.at(destination).on_hand + quantity > MAX_QUANTITY:
            raise InvalidValue(f"on hand would exceed {MAX_QUANTITY}", field="quantity")
        self._transfer(source=source, destination=destination, quantity=quantity)

    @event("StockTransferred")
    def _transfer(self, source: str, destination: str, quantity: int) -> None:
        self._stock(source).on_hand -= quantity
        self._stock(destination).on_hand += quantity

    def reserve(
        self,
        reservation_id: str,
        location: str,
        quantity: int,
        *,
        reference: str,
        now: datetime,
        channel: str | None = None,
        channel_locations: list[str] | None = None,
        expires_at: datetime | None = None,
    ) -> bool:
        """Hold units at ``location`` for an order or booking ``reference``.

        A reservation for a channel must come from a location that feeds it and may not
        exceed the channel's available-to-promise. Returns False when the same reservation
        was already made (a repeat is harmless), True when it was recorded now.
        """
        check_code(reservation_id, "reservation_id")
        check_code(location, "location")
        check_quantity(quantity)
        check_text(reference, "reference", MAX_REFERENCE)
        wanted = Reservation(reservation_id, location, quantity, channel, reference, expires_at)
        # A reservation id names one hold forever: a retry after its release or shipment
        # must not hold the stock a second time.
        existing = self.reservations_made.get(reservation_id)
        if existing is not None:
            if existing == wanted:
                return False
            raise ReservationExists(
                f"reservation {reservation_id} of {self.sku} exists with different details",
                sku=self.sku,
                reservation_id=reservation_id,
            )
        if expires_at is not None and expires_at <= now:
            raise InvalidValue("expires_at must be in the future", field="expires_at")
        # The channel's own rules first: a channel learns nothing of locations not its own.
        if channel is not None:
            locations = channel_locations or []
            if location not in locations:
                raise LocationNotInChannel(
                    f"location {location} does not feed channel {channel}",
                    location=location,
                    channel=channel,
                )
            atp = self.available_to_promise(channel, locations, now)
            if quantity > atp:
                raise InsufficientStock(
                    f"channel {channel} may promise {atp} of {self.sku}, {quantity} requested",
                    sku=self.sku,
                    channel=channel,
                    requested=quantity,
                    available=atp,
                )
        self._require_available(location, quantity, now)
        self._reserve(
            reservation_id=reservation_id,
            location=location,
            quantity=quantity,
            channel=channel,
            reference=reference,
            expires_at=expires_at,
        )
        return True

    @event("StockReserved")
    def _reserve(
        self,
        reservation_id: str,
        location: str,
        quantity: int,
        channel: str | None,
        reference: str,
        expires_at: datetime | None,
    ) -> None:
        self._stock(location).reserved += quantity
        held = Reservation(reservation_id, location, quantity, channel, reference, expires_at)
        self.reservations[reservation_id] = self.reservations_made[reservation_id] = held
        if expires_at is not None:
            self.expiring[reservation_id] = held

    def secure(self, reservation_id: str, now: datetime) -> bool:
        """Keep a hold past its expiry (the order was paid); False if it never expired.

        An expired hold may already back someone else's hold, so it cannot be revived.
        """
        held = self._reservation(reservation_id)
        if held.expires_at is None:
            return False
        if held.expires_at <= now:
            raise HoldExpired(
                f"reservation {reservation_id} of {self.sku} expired at "
                f"{held.expires_at.isoformat()}",
                sku=self.sku,
                reservation_id=reservation_id,
                expired_at=held.expires_at.isoformat(),
            )
        self._secure(reservation_id=reservation_id)
        return True

    @event("ReservationSecured")
    def _secure(self, reservation_id: str) -> None:
        held = self.reservations[reservation_id]
        self.reservations[reservation_id] = replace(held, expires_at=None)
        self.expiring.pop(reservation_id, None)

    def release(self, reservation_id: str, channel: str | None = None) -> None:
        """Give reserved units back to the location's available stock.

        With ``channel``, only a reservation made for that channel is found: one channel
        never learns of, or touches, another's holds.
        """
        held = self._reservation(reservation_id, channel)
        self._release(reservation_id=reservation_id, location=held.location, quantity=held.quantity)

    @event("ReservationReleased")
    def _release(self, reservation_id: str, location: str, quantity: int) -> None:
        self._stock(location).reserved -= quantity
        del self.reservations[reservation_id]
        self.expiring.pop(reservation_id, None)

    def commit(
        self,
        reservation_id: str,
        quantity: int | None = None,
        channel: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Units left the building: on hand and the reservation fall together.

        ``quantity`` commits part of the reservation; the rest stays reserved. ``channel``
        limits the search to that channel's reservations, as for :meth:`release`. A hold
        expired at ``now`` may no longer back a shipment: its units may be promised again.
        """
        held = self._reservation(reservation_id, channel)
        if now is not None and held.expires_at is not None and held.expires_at <= now:
            raise HoldExpired(
                f"reservation {reservation_id} of {self.sku} expired at "
                f"{held.expires_at.isoformat()}",
                sku=self.sku,
                reservation_id=reservation_id,
                expired_at=held.expires_at.isoformat(),
            )
        quantity = held.quantity if quantity is None else check_quantity(quantity)
        if quantity > held.quantity:
            raise InvalidValue(
                f"reservation {reservation_id} holds {held.quantity}, cannot commit {quantity}",
                field="quantity",
            )
        self._commit(reservation_id=reservation_id, location=held.location, quantity=quantity)

    @event("ReservationCommitted")
    def _commit(self, reservation_id: str, location: str, quantity: int) -> None:
        stock = self._stock(location)
        stock.on_hand -= quantity
        stock.reserved -= quantity
        held = self.reservations[reservation_id]
        if quantity == held.quantity:
            del self.reservations[reservation_id]
            self.expiring.pop(reservation_id, None)
        else:
            self.reservations[reservation_id] = replace(held, quantity=held.quantity - quantity)
            if reservation_id in self.expiring:
                self.expiring[reservation_id] = self.reservations[reservation_id]

    def set_safety_buffer(self, channel: str, quantity: int) -> None:
        """Hold back ``quantity`` units from what ``channel`` may promise."""
        check_code(channel, "channel")
        check_quantity(quantity, allow_zero=True)
        if self.safety_buffers.get(channel, 0) != quantity:
            self._set_safety_buffer(channel=channel, quantity=quantity)

    @event("SafetyBufferSet")
    def _set_safety_buffer(self, channel: str, quantity: int) -> None:
        if quantity:
            self.safety_buffers[channel] = quantity
        else:
            self.safety_buffers.pop(channel, None)

    def set_reorder_policy(self, location: str, reorder_point: int, reorder_quantity: int) -> None:
        """Reorder ``reorder_quantity`` when available at ``location`` drops below the point."""
        check_code(location, "location")
        check_quantity(reorder_point, "reorder_point", allow_zero=True)
        check_quantity(reorder_quantity, "reorder_quantity")
        current = self.at(location)
        if (current.reorder_point, current.reorder_quantity) != (reorder_point, reorder_quantity):
            self._set_reorder_policy(
                location=location, reorder_point=reorder_point, reorder_quantity=reorder_quantity
            )

    @event("ReorderPolicySet")
    def _set_reorder_policy(self, location: str, reorder_point: int, reorder_quantity: int) -> None:
        stock = self._stock(location)
        stock.reorder_point = reorder_point
        stock.reorder_quantity = reorder_quantity

    # -- helpers ---------------------------------------------------------------------------

    def _stock(self, location: str) -> LocationStock:
        return self.stock.setdefault(location, LocationStock())

    def _reservation(self, reservation_id: str, channel: str | None = None) -> Reservation:
        held = self.reservations.get(reservation_id)
        if held is None or (channel is not None and held.channel != channel):
            raise ReservationNotFound(
                f"{self.sku} has no reservation {reservation_id}",
                sku=self.sku,
                reservation_id=reservation_id,
            )
        return held

    def _require_available(self, location: str, quantity: int, now: datetime | None = None) -> None:
        available = self.free(location, now)
        if quantity > available:
            raise InsufficientStock(
                f"{available} of {self.sku} available at {location}, {quantity} requested",
                sku=self.sku,
                location=location,
                requested=quantity,
                available=available,
            )
