"""A customer across channels, and the erasure of their personal data.

A customer has a stable id of their own; each channel's reference for them (a marketplace
buyer id, a loyalty number) is linked to it, so one erasure covers every channel. Orders and
bookings name the customer by ``customer_id`` (the channel's reference or the stable id):
that id is pseudonymous and stays readable, while the personal values beside it (name,
e-mail, phone, address) are what erasure removes.

Erasure itself destroys the keys the personal values were encrypted with (infrastructure,
decision 0018); this aggregate records who asked for it, when, and on which legal basis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.identity import check_code, check_instant, check_text, stream_id

ERASED = "[erased]"
PSEUDONYMOUS = frozenset({"customer_id"})  # stays readable after erasure
MAX_TEXT = 500


# Personal data kept under a key of its own per order or booking, not the customer's, so a
# retention rule can erase it alone (ship-to addresses, some days after delivery).
SEPARATE_CATEGORIES = ("ship_to",)


def category_key(category: str, stream: UUID | str) -> str:
    """The key id a category's data in one stream is sealed under, e.g. ``ship_to:<id>``."""
    return f"{category}:{stream}"


def customer_stream(customer: str) -> UUID:
    return stream_id("customer", customer)


def erased(contact: Any) -> Any:
    """``contact`` as it reads after erasure: every personal value shown as erased."""
    if contact is None:
        return None
    if isinstance(contact, dict):
        return {
            key: value if key in PSEUDONYMOUS or value is None else ERASED
            for key, value in contact.items()
        }
    return ERASED


class Customer(Aggregate):
    """One customer's identity across channels, and their erasure record."""

    @staticmethod
    def create_id(customer_id: str, **_: Any) -> UUID:
        return customer_stream(customer_id)

    @classmethod
    def register(cls, customer: str, now: datetime) -> Customer:
        check_code(customer, "customer_id")
        # Named customer_id, not customer: a "customer" is personal data (it gets sealed).
        return cls(customer_id=customer, at=check_instant(now, "now"))

    @event("CustomerRegistered")
    def __init__(self, customer_id: str, at: datetime) -> None:
        self.customer_id = customer_id
        self.references: dict[str, str] = {}  # "<channel>/<reference>" -> channel
        self.erasures: list[dict[str, Any]] = []

    @staticmethod
    def reference_key(channel: str, reference: str) -> str:
        return f"{channel}/{reference}"

    @property
    def subjects(self) -> list[str]:
        """Every id the customer's data may be filed under: theirs and each channel's."""
        return [self.customer_id, *sorted({key.split("/", 1)[1] for key in self.references})]

    @property
    def erased(self) -> bool:
        return bool(self.erasures)

    def link(self, channel: str, reference: str, now: datetime) -> bool:
        """Link a channel's reference for this customer; False if already linked."""
        check_code(channel, "channel")
        check_code(reference, "reference")
        if self.reference_key(channel, reference) in self.references:
            return False
        self._link(channel=channel, reference=reference, at=check_instant(now, "now"))
        return True

    @event("ChannelReferenceLinked")
    def _link(self, channel: str, reference: str, at: datetime) -> None:
        self.references[self.reference_key(channel, reference)] = channel

    def erase(
        self, by: str, legal_basis: str, subjects: list[str], streams: int, now: datetime
    ) -> None:
        """Record that the customer's personal data was erased, by whom and why."""
        check_text(by, "by", MAX_TEXT)
        check_text(legal_basis, "legal_basis", MAX_TEXT)
        self._erase(
            by=by,
            legal_basis=legal_basis,
            subjects=list(subjects),
            streams=streams,
            at=check_instant(now, "now"),
        )

    @event("CustomerErased")
    def _erase(
        self, by: str, legal_basis: str, subjects: list[str], streams: int, at: datetime
    ) -> None:
        self.erasures.append(
            {
                "by": by,
                "legal_basis": legal_basis,
                "subjects": subjects,
                "streams": streams,
                "at": at,
            }
        )
