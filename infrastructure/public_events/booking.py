"""Public events of the `booking` stream type: one stream per booking, in the `bookings` log.

A booking's natural key is `<channel>/<reference>`, the channel's own booking reference (its
stream id is derived from it), and every event names both, though the stored events after
`BookingHeld` do not. Amounts are money objects in the booking's currency, which likewise
only `BookingHeld` holds: the key the converters are given is therefore
`<channel>/<reference>:<currency>` (a channel code holds neither `/` nor `:`, and a currency
code no `:`, so it splits back unambiguously whatever the reference holds).

`guest` is personal data, kept in a field of its own (in the event and in each confirmation
document) so that it can be encrypted or withheld without reshaping anything else.

A `ConfirmationDocument` is published exactly as issued: its canonical form (the document
without `digest`, as JSON with sorted keys, no whitespace, UTF-8) hashes with SHA-256 to
`digest`, so a consumer can check it has the document the guest was given.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from infrastructure.envelope import Time
from infrastructure.public_events.base import Money, PublicEvent, StreamType, optional_utc, utc
from infrastructure.public_events.resource import ResourceCode, Slot

LOG = "bookings"
BOOKING = StreamType(
    "booking",
    aggregate="Booking",
    key=lambda e: f"{e.channel}/{e.reference}:{e.currency}",
    log=LOG,
)

Channel = Annotated[str, msgspec.Meta(description="the sales channel's code")]
Reference = Annotated[str, msgspec.Meta(description="the channel's own booking reference")]
ConfirmationNumber = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$",
        description="12 Crockford base-32 characters in groups of four",
        examples=["K7Q2-M9XD-3HPA"],
    ),
]
PERSONAL = "personal data (a Guest: name, email, phone, the channel's customer id)"


def split_key(key: str) -> tuple[str, str, str]:
    """(channel, reference, currency) of a booking stream's key."""
    natural, _, currency = key.rpartition(":")
    channel, _, reference = natural.partition("/")
    return channel, reference, currency


class Guest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Personal data: who the booking is for. Fields not given are left out."""

    name: str
    email: str | None = None
    phone: str | None = None
    customer_id: Annotated[str | None, msgspec.Meta(description="the channel's id for them")] = None


class CancellationTerms(msgspec.Struct, frozen=True, kw_only=True):
    """Free cancellation until `free_cancellation_hours` before the first slot; after
    that a fee of `fee_percent_after` (a decimal string) percent of the price."""

    free_cancellation_hours: int
    fee_percent_after: Annotated[str, msgspec.Meta(pattern=r"^\d+(\.\d+)?$")]


class ConfirmationDocument(msgspec.Struct, frozen=True, kw_only=True):
    """The confirmation the guest was given, immutable. A modification or a rebooking
    issues a new one naming the one it `replaces`; `reason` says why it was issued
    (`confirmed`, `modified`, `rebooked: ...`). `issued_at` is ISO 8601 text exactly as
    issued, since `digest` covers it."""

    confirmation_number: ConfirmationNumber
    replaces: ConfirmationNumber | None
    reason: str
    issued_at: str
    channel: Channel
    booking_reference: Reference
    guest: Annotated[Guest, msgspec.Meta(description=PERSONAL)]
    resource: ResourceCode
    slots: list[Slot]
    quantity: int
    unit_rate: Money
    price: Money
    payment_reference: str | None
    cancellation_terms: CancellationTerms
    digest: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[0-9a-f]{64}$",
            description="SHA-256 (hex) of the canonical document without `digest`",
        ),
    ]


class BookingHeld(PublicEvent, frozen=True, kw_only=True):
    """Capacity is held for the channel's booking `reference`, priced at the channel's
    effective rate for the resource: `total` is `unit_rate` times `quantity` times the
    number of slots. Unless confirmed, the hold lapses at `expires_at`."""

    channel: Channel
    reference: Reference
    resource: ResourceCode
    slots: list[Slot]
    quantity: Annotated[int, msgspec.Meta(ge=1)]
    guest: Annotated[Guest, msgspec.Meta(description=PERSONAL)]
    currency: str
    unit_rate: Money
    total: Money
    expires_at: Time | None = None
    cancellation_terms: CancellationTerms
    recorded_at: Time


class BookingConfirmed(PublicEvent, frozen=True, kw_only=True):
    """Paid (`payment_reference`): the hold no longer lapses. A `ConfirmationIssued`
    follows."""

    channel: Channel
    reference: Reference
    payment_reference: str
    recorded_at: Time


class ConfirmationIssued(PublicEvent, frozen=True, kw_only=True):
    """A confirmation document was issued (on confirmation, modification or rebooking)."""

    channel: Channel
    reference: Reference
    document: ConfirmationDocument


class BookingModified(PublicEvent, frozen=True, kw_only=True):
    """The booking now holds `quantity` units in each of `slots`, for `total`."""

    channel: Channel
    reference: Reference
    slots: list[Slot]
    quantity: Annotated[int, msgspec.Meta(ge=1)]
    total: Money
    recorded_at: Time


class BookingRebooked(PublicEvent, frozen=True, kw_only=True):
    """Moved from `previous_resource` to the equivalent `resource` after a disruption
    (`reason`); any flag is cleared."""

    channel: Channel
    reference: Reference
    previous_resource: ResourceCode
    resource: ResourceCode
    reason: str
    recorded_at: Time


class BookingFlagged(PublicEvent, frozen=True, kw_only=True):
    """An operator must handle the booking (`reason`): no equivalent resource had room."""

    channel: Channel
    reference: Reference
    reason: str
    recorded_at: Time


class BookingCancelled(PublicEvent, frozen=True, kw_only=True):
    """Final: cancelled; `fee` is what the cancellation terms charge (0 within the free
    window). Its capacity is free again."""

    channel: Channel
    reference: Reference
    reason: str
    fee: Money
    recorded_at: Time


class BookingPersonalDataErased(PublicEvent, frozen=True, kw_only=True):
    """The booking's `guest` was erased (a customer's erasure request or a retention rule,
    `legal_basis`): delete any copy you hold, confirmation documents included. From now on
    the guest reads `"[erased]"` everywhere, in earlier events replayed too."""

    channel: Channel
    reference: Reference
    legal_basis: str
    recorded_at: Time


class BookingExpired(PublicEvent, frozen=True, kw_only=True):
    """Final: not confirmed before its hold lapsed."""

    channel: Channel
    reference: Reference
    recorded_at: Time


class BookingProgressed(PublicEvent, frozen=True, kw_only=True):
    """The stay itself: `status` `checked_in`, then `completed`; or `no_show`."""

    channel: Channel
    reference: Reference
    status: str
    recorded_at: Time


_GUEST_FIELDS = tuple(Guest.__struct_fields__)


def guest_of(value: dict[str, Any]) -> Guest:
    """The guest's known fields (the API accepts no others)."""
    return Guest(**{name: value[name] for name in _GUEST_FIELDS if value.get(name) is not None})


def _terms(value: dict[str, Any]) -> CancellationTerms:
    return CancellationTerms(
        free_cancellation_hours=int(value["free_cancellation_hours"]),
        fee_percent_after=str(value["fee_percent_after"]),
    )


def _money(value: dict[str, Any]) -> Money:
    return Money(amount=str(value["amount"]), currency=value["currency"])


def document_of(value: dict[str, Any]) -> ConfirmationDocument:
    return ConfirmationDocument(
        confirmation_number=value["confirmation_number"],
        replaces=value["replaces"],
        reason=value["reason"],
        issued_at=value["issued_at"],
        channel=value["channel"],
        booking_reference=value["booking_reference"],
        guest=guest_of(value["guest"]),
        resource=value["resource"],
        slots=list(value["slots"]),
        quantity=value["quantity"],
        unit_rate=_money(value["unit_rate"]),
        price=_money(value["price"]),
        payment_reference=value["payment_reference"],
        cancellation_terms=_terms(value["cancellation_terms"]),
        digest=value["digest"],
    )


@BOOKING.event(BookingHeld)
def _held(event: Any, key: str) -> BookingHeld:
    currency = event.currency
    return BookingHeld(
        channel=event.channel,
        reference=event.reference,
        resource=event.resource,
        slots=list(event.slots),
        quantity=event.quantity,
        guest=guest_of(event.guest),
        currency=currency,
        unit_rate=Money.of(event.unit_rate, currency),
        total=Money.of(event.total, currency),
        expires_at=optional_utc(event.expires_at),
        cancellation_terms=_terms(event.terms),
        recorded_at=utc(event.at),
    )


@BOOKING.event(BookingConfirmed)
def _confirmed(event: Any, key: str) -> BookingConfirmed:
    channel, reference, _ = split_key(key)
    return BookingConfirmed(
        channel=channel,
        reference=reference,
        payment_reference=event.payment_reference,
        recorded_at=utc(event.at),
    )


@BOOKING.event(ConfirmationIssued)
def _issued(event: Any, key: str) -> ConfirmationIssued:
    channel, reference, _ = split_key(key)
    return ConfirmationIssued(
        channel=channel, reference=reference, document=document_of(event.document)
    )


@BOOKING.event(BookingModified)
def _modified(event: Any, key: str) -> BookingModified:
    channel, reference, currency = split_key(key)
    return BookingModified(
        channel=channel,
        reference=reference,
        slots=list(event.slots),
        quantity=event.quantity,
        total=Money.of(event.total, currency),
        recorded_at=utc(event.at),
    )


@BOOKING.event(BookingRebooked)
def _rebooked(event: Any, key: str) -> BookingRebooked:
    channel, reference, _ = split_key(key)
    return BookingRebooked(
        channel=channel,
        reference=reference,
        previous_resource=event.previous,
        resource=event.resource,
        reason=event.reason,
        recorded_at=utc(event.at),
    )


@BOOKING.event(BookingFlagged)
def _flagged(event: Any, key: str) -> BookingFlagged:
    channel, reference, _ = split_key(key)
    return BookingFlagged(
        channel=channel, reference=reference, reason=event.reason, recorded_at=utc(event.at)
    )


@BOOKING.event(BookingCancelled)
def _cancelled(event: Any, key: str) -> BookingCancelled:
    channel, reference, currency = split_key(key)
    return BookingCancelled(
        channel=channel,
        reference=reference,
        reason=event.reason,
        fee=Money.of(event.fee, currency),
        recorded_at=utc(event.at),
    )


@BOOKING.event(BookingExpired)
def _expired(event: Any, key: str) -> BookingExpired:
    channel, reference, _ = split_key(key)
    return BookingExpired(channel=channel, reference=reference, recorded_at=utc(event.at))


@BOOKING.event(BookingProgressed)
def _progressed(event: Any, key: str) -> BookingProgressed:
    channel, reference, _ = split_key(key)
    return BookingProgressed(
        channel=channel, reference=reference, status=str(event.status), recorded_at=utc(event.at)
    )


@BOOKING.event(BookingPersonalDataErased, stored="Booking.PersonalDataErased")
def _personal_data_erased(event: Any, key: str) -> BookingPersonalDataErased:
    channel, reference, _ = split_key(key)
    return BookingPersonalDataErased(
        channel=channel,
        reference=reference,
        legal_basis=event.legal_basis,
        recorded_at=utc(event.at),
    )
