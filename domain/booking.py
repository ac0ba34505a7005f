"""A booking of a resource by a channel, and the confirmation documents it is issued.

A confirmation is a formal record: its canonical form (sorted-key JSON, no spaces, UTF-8) is
digested with SHA-256 and the document is never changed. A modification or a rebooking
issues a new document that names the one it replaces; every document stays retrievable.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.customer import erased
from domain.errors import Conflict, InvalidValue, NotFound
from domain.identity import check_code, check_quantity, check_text, stream_id
from domain.money import check_amount, check_currency, round_money

MAX_TEXT = 200
# Crockford's base 32: no I, L, O or U, so a number read out over the phone is unambiguous.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class BookingStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


FINAL = frozenset(
    {BookingStatus.COMPLETED, BookingStatus.NO_SHOW, BookingStatus.CANCELLED, BookingStatus.EXPIRED}
)


class IllegalBookingTransition(Conflict):
    code = "illegal-transition"
    title = "The booking cannot do that in its current state"


class BookingReferenceReused(Conflict):
    code = "booking-reference-reused"
    title = "The channel's booking reference was used for a different booking"


class UnknownBooking(NotFound):
    code = "unknown-booking"
    title = "No such booking"


def booking_id(channel: str, reference: str) -> UUID:
    return stream_id("booking", f"{channel}/{reference}")


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes a digest is taken over: sorted keys, no whitespace, UTF-8, no floats."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(document: dict[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "digest"}
    return hashlib.sha256(canonical(body)).hexdigest()


def confirmation_number(booking: UUID, sequence: int) -> str:
    """12 Crockford characters (60 bits) in groups of four, e.g. ``K7Q2-M9XD-3HPA``."""
    raw = hashlib.sha256(f"{booking}:{sequence}".encode()).digest()
    bits = int.from_bytes(raw[:8], "big") >> 4  # 60 bits
    chars = "".join(CROCKFORD[(bits >> (5 * i)) & 31] for i in reversed(range(12)))
    return "-".join(chars[i : i + 4] for i in range(0, 12, 4))


def _text(value: Any) -> Any:
    """Document values as JSON-safe text: decimals and times never become floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return value


GUEST_FIELDS = frozenset({"name", "email", "phone", "customer_id"})


def _check_guest(guest: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(guest, dict) or not guest.get("name"):
        raise InvalidValue("guest.name is required", field="guest.name")
    if unknown := set(guest) - GUEST_FIELDS:
        # A field the public document does not carry would break its digest downstream.
        raise InvalidValue(f"guest has unknown fields {sorted(unknown)}", field="guest")
    for key, value in guest.items():
        if value is not None:
            check_text(value, f"guest.{key}", MAX_TEXT)
    return {k: v for k, v in guest.items() if v is not None}


class Booking(Aggregate):
    @staticmethod
    def create_id(channel: str, reference: str, **_: Any) -> UUID:
        return booking_id(channel, reference)

    @classmethod
    def hold(
        cls,
        *,
        channel: str,
        reference: str,
        resource: str,
        slots: list[str],
        quantity: int,
        guest: dict[str, Any],
        unit_rate: Decimal,
        currency: str,
        expires_at: datetime | None,
        terms: dict[str, Any],
        now: datetime,
    ) -> Booking:
        check_code(channel, "channel")
        check_text(reference, "reference", 100)
        check_code(resource, "resource")
        check_quantity(quantity)
        currency = check_currency(currency)
        rate = check_amount(unit_rate, currency, "unit_rate")
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in terms.values()):
            raise InvalidValue("cancellation terms are text or whole numbers", field="terms")
        return cls(
            channel=channel,
            reference=reference,
            resource=resource,
            slots=list(slots),
            quantity=quantity,
            guest=_check_guest(guest),
            unit_rate=rate,
            currency=currency,
            total=rate * quantity * len(slots),
            expires_at=expires_at,
            terms=terms,
            at=now,
        )

    @event("BookingHeld")
    def __init__(
        self,
        channel: str,
        reference: str,
        resource: str,
        slots: list[str],
        quantity: int,
        guest: dict[str, Any],
        unit_rate: Decimal,
        currency: str,
        total: Decimal,
        expires_at: datetime | None,
        terms: dict[str, Any],
        at: datetime,
    ) -> None:
        self.channel = channel
        self.reference = reference
        self.resource = resource
        self.slots = list(slots)
        self.quantity = quantity
        self.guest = guest
        self.unit_rate = unit_rate
        self.currency = currency
        self.total = total
        self.expires_at = expires_at
        self.terms = terms
        self.status = BookingStatus.HELD
        self.payment_reference: str | None = None
        self.documents: list[dict[str, Any]] = []  # every confirmation issued, oldest first
        self.flagged: str | None = None

    def same_hold(self, resource: str, slots: list[str], quantity: int) -> bool:
        return (resource, sorted(slots), quantity) == (
            self.resource,
            sorted(self.slots),
            self.quantity,
        )

    @property
    def document(self) -> dict[str, Any] | None:
        return self.documents[-1] if self.documents else None

    # -- confirmation ----------------------------------------------------------------------

    def confirm(self, payment_reference: str, now: datetime) -> None:
        self._require(BookingStatus.HELD, action="confirm")
        check_text(payment_reference, "payment_reference", MAX_TEXT)
        self._confirm(payment_reference=payment_reference, at=now)
        self._issue(now, replaces=None, why="confirmed")

    @event("BookingConfirmed")
    def _confirm(self, payment_reference: str, at: datetime) -> None:
        self.status = BookingStatus.CONFIRMED
        self.payment_reference = payment_reference
        self.expires_at = None

    def _issue(self, now: datetime, replaces: str | None, why: str) -> None:
        number = confirmation_number(self.id, len(self.documents) + 1)
        document: dict[str, Any] = _text(
            {
                "confirmation_number": number,
                "replaces": replaces,
                "reason": why,
                "issued_at": now,
                "channel": self.channel,
                "booking_reference": self.reference,
                "guest": self.guest,
                "resource": self.resource,
                "slots": self.slots,
                "quantity": self.quantity,
                "unit_rate": {"amount": self.unit_rate, "currency": self.currency},
                "price": {"amount": self.total, "currency": self.currency},
                "payment_reference": self.payment_reference,
                "cancellation_terms": self.terms,
            }
        )
        document["digest"] = digest(document)
        self._issue_document(document=document)

    @event("ConfirmationIssued")
    def _issue_document(self, document: dict[str, Any]) -> None:
        self.documents.append(document)

    # -- changes ---------------------------------------------------------------------------

    def modify(self, slots: list[str], quantity: int, now: datetime) -> None:
        """Record a change already made on the resource (a hold-and-swap)."""
        self._require(BookingStatus.HELD, BookingStatus.CONFIRMED, action="modify")
        if (sorted(slots), quantity) == (sorted(self.slots), self.quantity):
            return  # nothing changes: no event, no new document
        self._modify(
            slots=list(slots),
            quantity=quantity,
            total=self.unit_rate * quantity * len(slots),
            at=now,
        )
        if self.status is BookingStatus.CONFIRMED:
            self._issue(now, replaces=self._number(), why="modified")

    @event("BookingModified")
    def _modify(self, slots: list[str], quantity: int, total: Decimal, at: datetime) -> None:
        self.slots = list(slots)
        self.quantity = quantity
        self.total = total

    def rebook(self, resource: str, reason: str, now: datetime) -> None:
        """Moved to an equivalent resource after a disruption."""
        self._require(BookingStatus.HELD, BookingStatus.CONFIRMED, action="rebook")
        self._rebook(previous=self.resource, resource=resource, reason=reason, at=now)
        if self.status is BookingStatus.CONFIRMED:
            self._issue(now, replaces=self._number(), why=f"rebooked: {reason}")

    @event("BookingRebooked")
    def _rebook(self, previous: str, resource: str, reason: str, at: datetime) -> None:
        self.resource = resource
        self.flagged = None

    def flag(self, reason: str, now: datetime) -> None:
        """No equivalent capacity: an operator must handle it."""
        check_text(reason, "reason", MAX_TEXT)
        if self.flagged != reason:
            self._flag(reason=reason, at=now)

    @event("BookingFlagged")
    def _flag(self, reason: str, at: datetime) -> None:
        self.flagged = reason

    def cancel(self, reason: str, now: datetime) -> Decimal:
        """Cancel; returns the fee the cancellation terms charge (recorded in the event)."""
        self._require(BookingStatus.HELD, BookingStatus.CONFIRMED, action="cancel")
        check_text(reason, "reason", MAX_TEXT)
        fee = Decimal(0)
        if self.status is BookingStatus.CONFIRMED and self._starts_within_free_window(now):
            fee = round_money(
                self.total * Decimal(self.terms["fee_percent_after"]) / 100, self.currency
            )
        self._cancel(reason=reason, fee=fee, at=now)
        return fee

    def _starts_within_free_window(self, now: datetime) -> bool:
        first = self.slots[0]
        start = datetime.fromisoformat(
            first.replace("Z", "+00:00") if "T" in first else first + "T00:00+00:00"
        )
        return now > start - timedelta(hours=int(self.terms["free_cancellation_hours"]))

    @event("BookingCancelled")
    def _cancel(self, reason: str, fee: Decimal, at: datetime) -> None:
        self.status = BookingStatus.CANCELLED

    def expire(self, now: datetime) -> None:
        self._require(BookingStatus.HELD, action="expire")
        if self.expires_at is None or now < self.expires_at:
            raise IllegalBookingTransition(
                f"booking {self.reference}'s hold has not lapsed", booking_status=str(self.status)
            )
        self._expire(at=now)

    @event("BookingExpired")
    def _expire(self, at: datetime) -> None:
        self.status = BookingStatus.EXPIRED

    def check_in(self, now: datetime) -> None:
        self._require(BookingStatus.CONFIRMED, action="check in")
        self._progress(status=BookingStatus.CHECKED_IN, at=now)

    def complete(self, now: datetime) -> None:
        self._require(BookingStatus.CHECKED_IN, action="complete")
        self._progress(status=BookingStatus.COMPLETED, at=now)

    def no_show(self, now: datetime) -> None:
        self._require(BookingStatus.CONFIRMED, action="record a no-show")
        self._progress(status=BookingStatus.NO_SHOW, at=now)

    @event("BookingProgressed")
    def _progress(self, status: BookingStatus, at: datetime) -> None:
        self.status = BookingStatus(status)

    # -- helpers ---------------------------------------------------------------------------

    def erase_personal_data(self, legal_basis: str, now: datetime) -> bool:
        """The guest reads as erased from here on, in the booking and in every confirmation
        document (their encryption key is destroyed next, decision 0018); False if already."""
        if getattr(self, "personal_data_erased", False):
            return False
        check_text(legal_basis, "legal_basis", MAX_TEXT)
        self._erase_personal_data(legal_basis=legal_basis, at=now)
        return True

    @event("PersonalDataErased")
    def _erase_personal_data(self, legal_basis: str, at: datetime) -> None:
        self.guest = erased(self.guest)
        self.documents = [{**doc, "guest": erased(doc.get("guest"))} for doc in self.documents]
        self.personal_data_erased = True

    def _number(self) -> str | None:
        return None if self.document is None else self.document["confirmation_number"]

    def _require(self, *allowed: BookingStatus, action: str) -> None:
        if self.status not in allowed:
            raise IllegalBookingTransition(
                f"cannot {action}: booking {self.reference} is {self.status}",
                booking_status=str(self.status),
                action=action,
            )
