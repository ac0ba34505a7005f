"""The bookings application: resources, holds, confirmations, changes — its own log.

A command that changes capacity saves the Resource and the Booking together in one
transaction, so a booking never holds capacity its resource does not know of. Writers of
one resource in this process take turns on a lock (no wasted work); writers in other
processes are caught by the event store's optimistic concurrency and decide again.
A booking is addressed by the channel's own reference: holding it again answers with it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from application.commands import ANONYMOUS, CommandRunner, Outcome, Request, WriteContention
from application.context import acting_per_event
from application.idempotency import PendingAnswer
from application.orders import PriceBook
from domain.booking import (
    Booking,
    BookingReferenceReused,
    UnknownBooking,
    booking_id,
)
from domain.identity import check_code, stream_id
from domain.order import PriceUnavailable
from domain.resource import Resource, SlotKind, UnknownResource

MAX_ATTEMPTS = 200


def _utcnow() -> datetime:
    return datetime.now(UTC)


def resource_view(resource: Resource) -> dict[str, Any]:
    return {
        "code": resource.code,
        "name": resource.name,
        "resource_class": resource.resource_class,
        "slot_kind": resource.slot_kind.value,
        "capacity": resource.capacity,
        "allotments": dict(sorted(resource.allotments.items())),
        "pool": resource.pool,
        "min_stay": dict(sorted(resource.min_stay.items())),
        "stop_sell": {c: sorted(s) for c, s in sorted(resource.stop_sell.items())},
        "closed": sorted(resource.closed),
        "cancellation_terms": resource.cancellation_terms(),
        "version": resource.version,
    }


def booking_view(booking: Booking) -> dict[str, Any]:
    return {
        "booking_id": str(booking.id),
        "channel": booking.channel,
        "reference": booking.reference,
        "status": booking.status.value,
        "resource": booking.resource,
        "slots": list(booking.slots),
        "quantity": booking.quantity,
        "guest": booking.guest,
        "unit_rate": {"amount": str(booking.unit_rate), "currency": booking.currency},
        "total": {"amount": str(booking.total), "currency": booking.currency},
        "expires_at": None if booking.expires_at is None else booking.expires_at.isoformat(),
        "confirmation": booking.document,
        "documents": [doc["confirmation_number"] for doc in booking.documents],
        "flagged": booking.flagged,
        "version": booking.version,
    }


@dataclass(frozen=True)
class BookingSettings:
    hold_window: timedelta = timedelta(minutes=15)  # a hold lapses unless confirmed by then


class _Moved(Exception):
    """The booking moved to another resource between its lookup and the lock."""

    def __init__(self, resource: str) -> None:
        super().__init__(resource)
        self.resource = resource


def _render(outcome: Outcome) -> Callable[[int | None], bytes]:
    return lambda position: msgspec.json.encode(replace(outcome, position=position))


class BookingsApp(Application[UUID]):
    name = "bookings"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }

    def __init__(
        self,
        env: dict[str, str] | None,
        prices: PriceBook,
        settings: BookingSettings | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(env)
        self.commands = CommandRunner(self)
        self.prices = prices
        self.settings = settings or BookingSettings()
        self.clock = clock
        self._locks: dict[UUID, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- resources -------------------------------------------------------------------------

    def put_resource(
        self,
        code: str,
        name: str,
        resource_class: str,
        slot_kind: SlotKind,
        capacity: int,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        check_code(code, "resource")

        def decide(found: Resource | None) -> tuple[Resource, dict[str, Any]]:
            if found is None:
                found = Resource.register(code, name, resource_class, slot_kind, capacity)
            else:
                found.set_capacity(capacity, self.clock())
            return found, resource_view(found)

        return self.commands.run(stream_id("resource", code), decide, request)

    def _on_resource(self, code: str, act: Callable[[Resource], Any], request: Request) -> Outcome:
        check_code(code, "resource")

        def decide(found: Resource | None) -> tuple[Resource, dict[str, Any]]:
            assert found is not None
            act(found)
            return found, resource_view(found)

        return self.commands.run(
            stream_id("resource", code),
            decide,
            request,
            lambda: UnknownResource(f"no resource {code!r}", resource=code),
        )

    def set_allotment(
        self, code: str, channel: str, quantity: int, request: Request = ANONYMOUS
    ) -> Outcome:
        return self._on_resource(
            code, lambda r: r.set_allotment(channel, quantity, self.clock()), request
        )

    def set_channel_rules(
        self,
        code: str,
        channel: str,
        stop_sell: list[str],
        min_stay: int,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        return self._on_resource(
            code, lambda r: r.set_channel_rules(channel, stop_sell, min_stay), request
        )

    def resource(self, code: str) -> Resource:
        check_code(code, "resource")
        try:
            found: Resource = self.repository.get(stream_id("resource", code))
        except AggregateNotFoundError:
            raise UnknownResource(f"no resource {code!r}", resource=code) from None
        return found

    def booking(self, channel: str, reference: str) -> Booking:
        try:
            found: Booking = self.repository.get(booking_id(channel, reference))
        except AggregateNotFoundError:
            raise UnknownBooking(
                f"channel {channel} has no booking {reference!r}",
                channel=channel,
                reference=reference,
            ) from None
        return found

    # -- bookings --------------------------------------------------------------------------

    def hold(
        self,
        *,
        channel: str,
        reference: str,
        resource: str,
        slots: list[str],
        quantity: int,
        guest: dict[str, Any],
        currency: str,
        expires_at: datetime | None = None,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Hold capacity for the channel's booking ``reference`` (again: the same answer)."""
        check_code(channel, "channel")
        check_code(resource, "resource")
        now = self.clock()
        rate = self.prices.evidence(channel, currency, [resource], now).get(resource)
        lapse = expires_at if expires_at is not None else now + self.settings.hold_window

        def decide(found: Resource, booking: Booking | None) -> tuple[list[Aggregate], Booking]:
            if booking is not None:
                if not booking.same_hold(resource, slots, quantity):
                    raise BookingReferenceReused(
                        f"booking {reference} of channel {channel} exists with other details",
                        channel=channel,
                        reference=reference,
                    )
                return [], booking
            if rate is None or rate.effective is None:
                raise PriceUnavailable(
                    f"no {currency} rate for {resource} on channel {channel}",
                    resource=resource,
                    currency=currency,
                )
            booking = Booking.hold(
                channel=channel,
                reference=reference,
                resource=resource,
                slots=sorted(slots),
                quantity=quantity,
                guest=guest,
                unit_rate=rate.effective,
                currency=currency,
                expires_at=lapse,
                terms=found.cancellation_terms(),
                now=now,
            )
            found.hold(str(booking.id), channel, slots, quantity, lapse, now)
            return [found, booking], booking

        return self._together(resource, booking_id(channel, reference), decide, request, new=True)

    def confirm(
        self, channel: str, reference: str, payment_reference: str, request: Request = ANONYMOUS
    ) -> Outcome:
        now = self.clock()

        def decide(found: Resource, booking: Booking | None) -> tuple[list[Aggregate], Booking]:
            assert booking is not None
            found.secure(str(booking.id), now)  # refused once the hold has lapsed
            booking.confirm(payment_reference, now)
            return [found, booking], booking

        return self._on_booking(channel, reference, decide, request)

    def modify(
        self,
        channel: str,
        reference: str,
        slots: list[str],
        quantity: int,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Hold the new slots and give back the old in one step, or change nothing."""
        now = self.clock()

        def decide(found: Resource, booking: Booking | None) -> tuple[list[Aggregate], Booking]:
            assert booking is not None
            found.swap(str(booking.id), slots, quantity, now)
            booking.modify(sorted(slots), quantity, now)
            return [found, booking], booking

        return self._on_booking(channel, reference, decide, request)

    def cancel(
        self, channel: str, reference: str, reason: str, request: Request = ANONYMOUS
    ) -> Outcome:
        """Cancel: the capacity is back for every channel in the same transaction."""
        now = self.clock()

        def decide(found: Resource, booking: Booking | None) -> tuple[list[Aggregate], Booking]:
            assert booking is not None
            booking.cancel(reason, now)
            found.release(str(booking.id), "cancelled")
            return [found, booking], booking

        return self._on_booking(channel, reference, decide, request)

    def expire(self, booking: UUID, request: Request = ANONYMOUS) -> Outcome:
        now = self.clock()
        try:
            found: Booking = self.repository.get(booking)
        except AggregateNotFoundError:
            raise UnknownBooking(f"no booking {booking}", booking_id=str(booking)) from None

        def decide(res: Resource, current: Booking | None) -> tuple[list[Aggregate], Booking]:
            assert current is not None
            current.expire(now)
            res.release(str(current.id), "hold expired")
            return [res, current], current

        return self._together(found.resource, booking, decide, request)

    def progress(
        self, channel: str, reference: str, step: str, request: Request = ANONYMOUS
    ) -> Outcome:
        """``check_in``, ``complete`` or ``no_show``: the stay itself."""
        now = self.clock()

        def decide(found: Resource, booking: Booking | None) -> tuple[list[Aggregate], Booking]:
            assert booking is not None
            {
                "check_in": booking.check_in,
                "complete": booking.complete,
                "no_show": booking.no_show,
            }[step](now)
            return [booking], booking

        return self._on_booking(channel, reference, decide, request)

    def erase_personal_data(
        self, booking: UUID, legal_basis: str, request: Request = ANONYMOUS
    ) -> Outcome:
        """Show the booking's guest as erased (the privacy process, before keys go)."""
        now = self.clock()
        try:
            found: Booking = self.repository.get(booking)
        except AggregateNotFoundError:
            raise UnknownBooking(f"no booking {booking}", booking_id=str(booking)) from None

        def decide(res: Resource, current: Booking | None) -> tuple[list[Aggregate], Booking]:
            assert current is not None
            current.erase_personal_data(legal_basis, now)
            return [current], current

        return self._together(found.resource, booking, decide, request)

    def close_slots(
        self, code: str, slots: list[str], reason: str, request: Request = ANONYMOUS
    ) -> Outcome:
        """A disruption: the slots are out of service; the rebooking process moves or flags
        the bookings that held them."""
        return self._on_resource(code, lambda r: r.close(slots, reason), request)

    def resource_codes(self) -> list[str]:
        """Every resource, from the log (a small table: resources are few)."""
        codes: list[str] = []
        topic = f"{Resource.__module__}:{Resource.__qualname__}.ResourceRegistered"
        start = 0
        while True:
            notes = self.recorder.select_notifications(
                start, 500, topics=[topic], inclusive_of_start=False
            )
            for note in notes:
                first: Resource = self.repository.get(UUID(str(note.originator_id)), version=1)
                codes.append(first.code)
            if len(notes) < 500:
                return sorted(codes)
            start = notes[-1].id

    # -- running a two-aggregate command ---------------------------------------------------

    def _on_booking(
        self,
        channel: str,
        reference: str,
        decide: Callable[[Resource, Booking | None], tuple[list[Aggregate], Booking]],
        request: Request,
    ) -> Outcome:
        check_code(channel, "channel")
        viewer = request.context.channel
        found = self.booking(channel, reference)
        if viewer is not None and viewer != found.channel:
            raise UnknownBooking(f"channel {channel} has no booking {reference!r}")
        return self._together(found.resource, found.id, decide, request)

    def _lock(self, key: UUID) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _contexts(self, aggregates: Sequence[Aggregate], request: Request) -> dict[int, Any]:
        context = replace(request.context, idempotency_key=request.idempotency_key)
        return {id(e): context for agg in aggregates for e in agg.pending_events}

    def _together(
        self,
        resource: str,
        booking: UUID,
        decide: Callable[[Resource, Booking | None], tuple[list[Aggregate], Booking]],
        request: Request,
        new: bool = False,
    ) -> Outcome:
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._together_on(resource, booking, decide, request, new)
            except _Moved as moved:
                resource = moved.resource
        raise WriteContention("the booking kept moving between resources")

    def _together_on(
        self,
        resource: str,
        booking: UUID,
        decide: Callable[[Resource, Booking | None], tuple[list[Aggregate], Booking]],
        request: Request,
        new: bool = False,
    ) -> Outcome:
        """Load the resource and the booking, decide, save both in one transaction."""
        if (earlier := self.commands.replay(request)) is not None:
            return earlier
        key = self.commands.scoped_key(request)
        with self._lock(stream_id("resource", resource)):
            for attempt in range(1, MAX_ATTEMPTS + 1):
                found = self.resource(resource)
                try:
                    current: Booking | None = self.repository.get(booking)
                except AggregateNotFoundError:
                    if not new:
                        raise UnknownBooking(f"no booking {booking}") from None
                    current = None
                if current is not None and current.resource != resource:
                    raise _Moved(current.resource)  # rebooked meanwhile: lock the new one
                changed, result = decide(found, current)
                pending = [agg for agg in changed if agg.pending_events]
                body = booking_view(result)
                outcome = Outcome(body=body, position=None, version=result.version)
                if not pending:
                    return outcome
                count = sum(len(agg.pending_events) for agg in pending)
                answers = []
                if key is not None:
                    answers.append(
                        PendingAnswer(key, request.fingerprint, _render(outcome), count - 1)
                    )
                try:
                    with acting_per_event(self._contexts(pending, request)):
                        recordings = self.save(*pending, idempotency=answers)
                except IntegrityError:
                    if (earlier := self.commands.replay(request)) is not None:
                        return earlier
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))  # noqa: S311
                    continue
                return replace(outcome, position=recordings[-1].notification.id)
        raise WriteContention(f"gave up after {MAX_ATTEMPTS} conflicting attempts")
