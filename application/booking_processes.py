"""Processes of the bookings log: rebooking after a disruption, and lapsing unconfirmed holds.

Rebooking follows the bookings log (application/processes.py: exactly once, its position
saved with what it writes). When an operator closes slots of a resource, every booking that
held them is moved, in one transaction, to an equivalent resource (same resource class)
with room for its channel, or flagged for manual handling; each move is a BookingRebooked
event with a new confirmation document, so the guest's channel learns of it by event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.domain import Aggregate

from application.bookings import BookingsApp
from application.commands import Request
from application.context import CommandContext
from application.processes import LogProcess
from domain.booking import Booking, BookingStatus
from domain.errors import DomainError
from domain.resource import Resource

log = structlog.get_logger(__name__)

REBOOKING_ACTOR = "process:booking-rebooking"
EXPIRY_ACTOR = "process:booking-expiry"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Rebooking:
    def __init__(self, bookings: BookingsApp, clock: Callable[[], datetime] = _utcnow) -> None:
        self.bookings = bookings
        self.clock = clock
        closed: type = getattr(Resource, "SlotsClosed")  # noqa: B009 - made by @event
        self.process = LogProcess(
            "booking-rebooking",
            upstream=bookings,
            target=bookings,
            reactions={closed: self._rebook},
            actor=REBOOKING_ACTOR,
        )

    def _rebook(self, closed: Any, _: Any) -> Sequence[Aggregate]:
        now = self.clock()
        origin: Resource = self.bookings.repository.get(closed.originator_id)
        shut = set(closed.slots)
        affected = sorted(
            (use for use in origin.uses.values() if set(use.slots) & shut and use.live(now)),
            key=lambda use: use.booking,
        )
        if not affected:
            return []
        candidates = [
            self.bookings.resource(code)
            for code in self.bookings.resource_codes()
            if code != origin.code
        ]
        candidates = [c for c in candidates if c.resource_class == origin.resource_class]
        touched: dict[str, Resource] = {}
        changed: list[Aggregate] = []
        for use in affected:
            booking: Booking = self.bookings.repository.get(UUID(use.booking))
            if booking.status not in (BookingStatus.HELD, BookingStatus.CONFIRMED):
                continue
            for candidate in candidates:
                try:
                    candidate.hold(
                        use.booking, use.channel, list(use.slots), use.quantity, use.expires_at, now
                    )
                except DomainError:
                    continue  # no room there (or not sold on that channel): the next one
                origin.release(use.booking, f"rebooked to {candidate.code}")
                booking.rebook(candidate.code, f"{origin.code} closed: {closed.reason}", now)
                touched[candidate.code] = candidate
                break
            else:
                booking.flag(
                    f"{origin.code} closed for {', '.join(sorted(set(use.slots) & shut))} "
                    f"({closed.reason}); no {origin.resource_class} resource has room",
                    now,
                )
            changed.append(booking)
        return [origin, *touched.values(), *changed]


class BookingExpiry:
    """Lapses unconfirmed holds past their expiry with an explicit event; availability
    already counts them free, this makes the lapse part of the history."""

    def __init__(self, bookings: BookingsApp, clock: Callable[[], datetime] = _utcnow) -> None:
        self.bookings = bookings
        self.clock = clock

    def run_once(self) -> int:
        now = self.clock()
        request = Request(context=CommandContext(actor=EXPIRY_ACTOR))
        expired = 0
        for code in self.bookings.resource_codes():
            resource = self.bookings.resource(code)
            for use in list(resource.uses.values()):
                if use.expires_at is not None and use.expires_at <= now:
                    try:
                        self.bookings.expire(UUID(use.booking), request)
                        expired += 1
                    except DomainError as refused:
                        log.info("booking.expiry_skipped", booking=use.booking, reason=str(refused))
        return expired

    def start(self, interval: float = 1.0) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                try:
                    self.run_once()
                except Exception:
                    log.exception("booking.expiry_failed")
                stop.wait(interval)

        thread = threading.Thread(target=run, name="booking-expiry", daemon=True)
        thread.start()
        return thread, stop
