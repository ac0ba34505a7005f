"""Customers' privacy: channel references linked to one customer, erasure, and export.

Erasure (``erase``) runs in three steps, each safe to repeat, so a crash part-way is finished
by asking again:

1. every order and booking holding the customer's data records ``PersonalDataErased``: from
   then on its aggregate (also a cached one), read models and public events show the
   personal fields as erased;
2. the customer's data keys are destroyed (:class:`KeyShredder`, infrastructure): the
   ciphertext in the log can never be opened again, while the hash chain over it still
   verifies (decision 0018);
3. ``CustomerErased`` is recorded in the privacy log: who asked, when, on which legal basis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, runtime_checkable
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application

from application.bookings import BookingsApp, booking_view
from application.commands import ANONYMOUS, Request
from application.context import acting_per_event
from application.orders import OrdersApp, order_view
from domain.customer import (
    MAX_TEXT,
    SEPARATE_CATEGORIES,
    Customer,
    category_key,
    customer_stream,
)
from domain.errors import NotFound
from domain.identity import check_code, check_text


@runtime_checkable
class KeyShredder(Protocol):
    """Where customers' data keys live (the event store's recorder)."""

    def personal_streams(self, subjects: list[str]) -> list[tuple[str, UUID]]:
        """(log, stream id) of every stream holding data of ``subjects``."""
        ...

    def destroy_keys(self, subjects: list[str]) -> list[str]:
        """Destroy the subjects' data keys; the subjects that had a live one."""
        ...


class UnknownCustomer(NotFound):
    code = "unknown-customer"
    title = "No such customer"


@dataclass(frozen=True)
class Erasure:
    customer: str
    subjects: list[str]
    streams: list[dict[str, str]]
    keys_destroyed: list[str]
    erased_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PrivacyApp(Application[UUID]):
    """The privacy log: customers, their channel references and their erasures."""

    name = "privacy"
    env: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        env: dict[str, str] | None,
        orders: OrdersApp,
        bookings: BookingsApp,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        super().__init__(env)
        self.orders = orders
        self.bookings = bookings
        self.clock = clock
        if not isinstance(self.recorder, KeyShredder):
            raise TypeError("the privacy log needs a recorder that holds customers' keys")
        self.keys: KeyShredder = self.recorder

    def customer(self, customer: str) -> Customer:
        check_code(customer, "customer_id")
        try:
            found: Customer = self.repository.get(customer_stream(customer))
        except AggregateNotFoundError:
            raise UnknownCustomer(f"no customer {customer!r}", customer_id=customer) from None
        return found

    def _customer_or_new(self, customer: str) -> Customer:
        try:
            return self.customer(customer)
        except UnknownCustomer:
            return Customer.register(customer, self.clock())

    def _save(self, customer: Customer, request: Request) -> None:
        if customer.pending_events:
            with acting_per_event({id(e): request.context for e in customer.pending_events}):
                self.save(customer)

    def link(
        self, customer: str, channel: str, reference: str, request: Request = ANONYMOUS
    ) -> Customer:
        """Link a channel's own reference for the customer (made if new) to their id."""
        found = self._customer_or_new(customer)
        found.link(channel, reference, self.clock())
        self._save(found, request)
        return found

    def subjects(self, customer: str) -> list[str]:
        """Every id the customer's data is filed under (theirs, and each linked one)."""
        try:
            return self.customer(customer).subjects
        except UnknownCustomer:
            return [customer]

    def streams(self, customer: str) -> list[tuple[str, UUID]]:
        return self.keys.personal_streams(self.subjects(customer))

    def find(self, reference: str) -> list[dict[str, Any]]:
        """Customers known by ``reference`` (their id or a channel's linked reference), each
        with every id their data is filed under and the orders and bookings holding it.

        Reads the privacy log from the start: it holds one registration and a few links per
        customer, so it stays small next to the orders it describes."""
        check_code(reference, "reference")
        found: set[str] = set()
        start = 1
        while True:
            notes = self.recorder.select_notifications(start, 500)
            for note in notes:
                event: Any = self.mapper.to_domain_event(note)
                if type(event).__name__ == "CustomerRegistered" and event.customer_id == reference:
                    found.add(event.customer_id)
                elif (
                    type(event).__name__ == "ChannelReferenceLinked"
                    and event.reference == reference
                ):
                    found.add(self.repository.get(event.originator_id).customer_id)
            if len(notes) < 500:
                break
            start = notes[-1].id + 1
        return [
            {
                "customer_id": customer,
                "customer_ids": self.subjects(customer),
                "streams": [
                    {"log": log, "stream_id": str(stream)} for log, stream in self.streams(customer)
                ],
            }
            for customer in sorted(found)
        ]

    def erase(
        self, customer: str, *, by: str, legal_basis: str, request: Request = ANONYMOUS
    ) -> Erasure:
        """Erase the customer's personal data everywhere; the audit proofs stay valid."""
        check_text(by, "by", MAX_TEXT)
        check_text(legal_basis, "legal_basis", MAX_TEXT)
        found = self._customer_or_new(customer)
        subjects = found.subjects
        streams = self.keys.personal_streams(subjects)
        for log, stream in streams:
            # Before the keys go: an aggregate cached by a writer holds the plain values,
            # and its next answer must not seal them again under a fresh key.
            if log == OrdersApp.name:
                self.orders.erase_personal_data(stream, legal_basis, request)
            elif log == BookingsApp.name:
                self.bookings.erase_personal_data(stream, legal_basis, request)
        destroyed = self.keys.destroy_keys(
            [
                *subjects,
                *(category_key(c, stream) for _, stream in streams for c in SEPARATE_CATEGORIES),
            ]
        )
        now = self.clock()
        if destroyed or not found.erased:
            found.erase(by, legal_basis, subjects, len(streams), now)
            self._save(found, request)
        return Erasure(
            customer=customer,
            subjects=subjects,
            streams=[{"log": log, "stream_id": str(stream)} for log, stream in streams],
            keys_destroyed=destroyed,
            erased_at=now,
        )

    def erasures(self, customer: str) -> list[dict[str, Any]]:
        return list(self.customer(customer).erasures)

    def export(self, customer: str, now: datetime | None = None) -> dict[str, Any]:
        """Everything held about the customer, decrypted, as JSON builtins (a portability
        request): their orders and bookings as they read now, and the events they came from.
        Erased fields read ``"[erased]"``: what is erased is gone for everyone."""
        check_code(customer, "customer_id")
        try:
            found: Customer | None = self.customer(customer)
        except UnknownCustomer:
            found = None
        subjects = found.subjects if found is not None else [customer]
        document: dict[str, Any] = {
            "customer_id": customer,
            "exported_at": (now or self.clock()).isoformat(),
            "channel_references": []
            if found is None
            else [
                {"channel": channel, "reference": key.split("/", 1)[1]}
                for key, channel in sorted(found.references.items())
            ],
            "erasures": [] if found is None else msgspec.to_builtins(found.erasures),
            "orders": [],
            "bookings": [],
            "events": [],
        }
        for log, stream in self.keys.personal_streams(subjects):
            app: Application[UUID] = self.orders if log == OrdersApp.name else self.bookings
            if log not in (OrdersApp.name, BookingsApp.name):
                continue
            try:
                aggregate: Any = app.repository.get(stream)
            except AggregateNotFoundError:  # noted when sealed, then its insert failed
                continue
            if log == OrdersApp.name:
                document["orders"].append(order_view(aggregate))
            else:
                document["bookings"].append(booking_view(aggregate))
            events: list[Any] = list(app.repository.event_store.get(stream))
            for event in events:
                data = {k: v for k, v in vars(event).items() if not k.startswith("_")}
                document["events"].append(
                    {
                        "log": log,
                        "stream_id": str(stream),
                        "version": event.originator_version,
                        "type": type(event).__name__,
                        "recorded_at": event.timestamp.isoformat(),
                        "data": msgspec.to_builtins(
                            {k: v for k, v in data.items() if k != "originator_id"}
                        ),
                    }
                )
        exported: dict[str, Any] = msgspec.to_builtins(document)
        return exported
