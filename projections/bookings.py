"""The bookings read model: resources and their settings, the units each booking uses per
slot, bookings, their confirmation documents, and a timeline of every booking event.

Rows are written from the events of the bookings log alone, one event at a time, and every
value comes from an event (times included), so a rebuild from position 0 equals the live
tables row for row.

``uses`` mirrors ``Resource.uses`` with one row per slot: a hold inserts its rows, a
confirmation clears their expiry, a swap replaces them, a release deletes them. A hold past
its expiry stays until it is released, as on the aggregate; availability counts it free at
query time, by the database clock (``projections.booking_queries``), so what is served never
waits for the expiry timer. ``resources.pool`` is the capacity less every allotment.

Documents are stored as issued, as the domain's canonical JSON (sorted keys, no whitespace),
so ``digest`` can be checked against the stored text; a modification or a rebooking adds a
document and the ones it replaces stay retrievable by number. The timeline keeps one row per
booking event with who did it (from the event's metadata), when, the booking's status after
it, a readable ``summary`` and a ``detail``. The guest (personal data) is only in
``bookings.guest``, never in the timeline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import Identifier

from domain.booking import Booking, BookingStatus, canonical
from domain.customer import erased
from domain.resource import Resource
from infrastructure.eventstore import EventMeta
from projections.orders import to_json
from projections.schema import SchemaProjection, event_class

LOG = "bookings"

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.resources (
    code text PRIMARY KEY, stream_id uuid UNIQUE NOT NULL, name text NOT NULL,
    resource_class text NOT NULL, slot_kind text NOT NULL, capacity bigint NOT NULL,
    pool bigint NOT NULL, free_cancellation_hours bigint NOT NULL,
    cancellation_fee_percent numeric NOT NULL, registered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL, last_position bigint NOT NULL, version bigint NOT NULL);
CREATE INDEX IF NOT EXISTS resources_by_class ON {s}.resources (resource_class, code);
CREATE TABLE IF NOT EXISTS {s}.allotments (
    resource text NOT NULL, channel text NOT NULL, quantity bigint NOT NULL,
    PRIMARY KEY (resource, channel));
CREATE TABLE IF NOT EXISTS {s}.channel_rules (
    resource text NOT NULL, channel text NOT NULL, stop_sell text[] NOT NULL,
    min_stay bigint NOT NULL, PRIMARY KEY (resource, channel));
CREATE TABLE IF NOT EXISTS {s}.closed_slots (
    resource text NOT NULL, slot text NOT NULL, reason text NOT NULL,
    closed_at timestamptz NOT NULL, position bigint NOT NULL, PRIMARY KEY (resource, slot));
CREATE TABLE IF NOT EXISTS {s}.uses (
    resource text NOT NULL, booking_id uuid NOT NULL, channel text NOT NULL,
    slot text NOT NULL, quantity bigint NOT NULL, expires_at timestamptz,
    PRIMARY KEY (resource, slot, booking_id));
CREATE INDEX IF NOT EXISTS uses_by_booking ON {s}.uses (booking_id, resource);
CREATE TABLE IF NOT EXISTS {s}.bookings (
    booking_id uuid PRIMARY KEY, channel text NOT NULL, reference text NOT NULL,
    status text NOT NULL, resource text NOT NULL, slots text[] NOT NULL,
    quantity bigint NOT NULL, guest text NOT NULL, unit_rate numeric NOT NULL,
    total numeric NOT NULL, currency text NOT NULL, expires_at timestamptz,
    payment_reference text, flagged text, cancellation_fee numeric, closed_reason text,
    terms text NOT NULL, confirmation_number text,
    held_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    held_position bigint NOT NULL UNIQUE, last_position bigint NOT NULL,
    version bigint NOT NULL, UNIQUE (channel, reference));
CREATE INDEX IF NOT EXISTS bookings_by_channel ON {s}.bookings (channel, held_position);
CREATE INDEX IF NOT EXISTS bookings_by_resource ON {s}.bookings (resource, held_position);
CREATE INDEX IF NOT EXISTS bookings_by_status ON {s}.bookings (status, held_position);
CREATE INDEX IF NOT EXISTS bookings_flagged ON {s}.bookings (held_position)
    WHERE flagged IS NOT NULL;
CREATE TABLE IF NOT EXISTS {s}.documents (
    confirmation_number text PRIMARY KEY, booking_id uuid NOT NULL, seq integer NOT NULL,
    issued_at timestamptz NOT NULL, replaces text, reason text NOT NULL,
    document text NOT NULL, digest text NOT NULL, position bigint NOT NULL UNIQUE,
    UNIQUE (booking_id, seq));
CREATE TABLE IF NOT EXISTS {s}.booking_timeline (
    booking_id uuid NOT NULL, version bigint NOT NULL, position bigint NOT NULL UNIQUE,
    event text NOT NULL, at timestamptz NOT NULL, recorded_at timestamptz NOT NULL,
    status text NOT NULL, actor text NOT NULL, channel text, correlation_id text,
    causation_id text, summary text NOT NULL, detail text NOT NULL,
    PRIMARY KEY (booking_id, version))
"""

# What a booking handler hands back for the timeline: when, a one-line summary, the detail.
Entry = tuple[datetime, str, dict[str, Any]]
Handler = Callable[[psycopg.Cursor[Any], Any, int], Any]


def _span(slots: list[str]) -> str:
    return slots[0] if len(slots) == 1 else f"{slots[0]}..{slots[-1]} ({len(slots)} slots)"


class BookingsProjection(SchemaProjection):
    """Builds the bookings read model in PostgreSQL schema ``schema``."""

    tables = TABLES

    def __init__(self, schema: str = "bookings") -> None:
        super().__init__("bookings", schema, LOG)
        self._codes: dict[UUID, str] = {}
        resource: dict[str, Handler] = {
            "ResourceRegistered": self._registered,
            "CapacitySet": self._capacity_set,
            "AllotmentSet": self._allotment_set,
            "ChannelRulesSet": self._rules_set,
            "SlotsClosed": self._slots_closed,
            "CapacityHeld": self._capacity_held,
            "CapacityConfirmed": self._capacity_confirmed,
            "CapacitySwapped": self._capacity_swapped,
            "CapacityReleased": self._capacity_released,
        }
        booking: dict[str, Handler] = {
            "BookingHeld": self._held,
            "BookingConfirmed": self._confirmed,
            "ConfirmationIssued": self._issued,
            "BookingModified": self._modified,
            "BookingRebooked": self._rebooked,
            "BookingFlagged": self._flagged,
            "BookingCancelled": self._cancelled,
            "BookingExpired": self._expired,
            "BookingProgressed": self._progressed,
            "PersonalDataErased": self._erased,
        }
        self._resource_events = {event_class(Resource, name) for name in resource}
        self.handlers = {
            **{event_class(Resource, name): fn for name, fn in resource.items()},
            **{event_class(Booking, name): fn for name, fn in booking.items()},
        }

    def apply(self, cur: psycopg.Cursor[Any], event: Any, meta: EventMeta, position: int) -> None:
        handler = self.handlers.get(type(event))
        if handler is None:
            return
        if type(event) in self._resource_events:
            handler(cur, event, position)
            self._touch(cur, "resources", "stream_id", event, position)
            return
        at, summary, detail = handler(cur, event, position)
        status = self._touch(cur, "bookings", "booking_id", event, position)
        cur.execute(
            self.sql(
                "INSERT INTO {s}.booking_timeline VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                event.originator_id,
                event.originator_version,
                position,
                type(event).__name__,
                at,
                event.timestamp,
                status,
                meta.actor,
                meta.channel,
                meta.correlation_id,
                meta.causation_id,
                summary,
                to_json(detail),
            ),
        )

    def _touch(self, cur: psycopg.Cursor[Any], table: str, key: str, e: Any, position: int) -> Any:
        """Record the event's version, position and time on the stream's row."""
        row = cur.execute(
            self.sql(
                "UPDATE {s}.{t} SET version = %s, last_position = %s, updated_at = %s "
                "WHERE {k} = %s RETURNING {r}",
                t=Identifier(table),
                k=Identifier(key),
                r=Identifier("status" if table == "bookings" else "code"),
            ),
            (e.originator_version, position, e.timestamp, e.originator_id),
        ).fetchone()
        if row is None:
            raise LookupError(f"{table}: no row for stream {e.originator_id}")
        return row[0]

    # -- a resource's settings -------------------------------------------------------------

    def _registered(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        self._codes[e.originator_id] = e.code
        cur.execute(
            self.sql(
                "INSERT INTO {s}.resources VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                e.code,
                e.originator_id,
                e.name,
                e.resource_class,
                str(e.slot_kind),
                e.capacity,
                e.capacity,
                e.free_cancellation_hours,
                e.cancellation_fee_percent,
                e.timestamp,
                e.timestamp,
                position,
                e.originator_version,
            ),
        )

    def _capacity_set(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql(
                "UPDATE {s}.resources SET pool = pool + %s - capacity, capacity = %s "
                "WHERE stream_id = %s"
            ),
            (e.capacity, e.capacity, e.originator_id),
        )

    def _allotment_set(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        code = self._code(cur, e.originator_id)
        row = cur.execute(
            self.sql(
                "DELETE FROM {s}.allotments WHERE resource = %s AND channel = %s RETURNING quantity"
            ),
            (code, e.channel),
        ).fetchone()
        before = 0 if row is None else int(row[0])
        if e.quantity:
            cur.execute(
                self.sql("INSERT INTO {s}.allotments VALUES (%s, %s, %s)"),
                (code, e.channel, e.quantity),
            )
        cur.execute(
            self.sql("UPDATE {s}.resources SET pool = pool - %s WHERE code = %s"),
            (e.quantity - before, code),
        )

    def _rules_set(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql(
                "INSERT INTO {s}.channel_rules VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (resource, channel) DO UPDATE "
                "SET stop_sell = EXCLUDED.stop_sell, min_stay = EXCLUDED.min_stay"
            ),
            (self._code(cur, e.originator_id), e.channel, sorted(set(e.stop_sell)), e.min_stay),
        )

    def _slots_closed(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        code = self._code(cur, e.originator_id)
        cur.executemany(
            self.sql(
                "INSERT INTO {s}.closed_slots VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (resource, slot) DO NOTHING"
            ),
            [(code, slot, e.reason, e.timestamp, position) for slot in e.slots],
        )

    # -- the units bookings use ------------------------------------------------------------

    def _capacity_held(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        # A new hold replaces a lapsed one of the same booking, as on the aggregate.
        code = self._code(cur, e.originator_id)
        self._drop_use(cur, code, e.booking)
        self._insert_use(cur, code, e.booking, e.channel, e.slots, e.quantity, e.expires_at)

    def _capacity_confirmed(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql(
                "UPDATE {s}.uses SET expires_at = NULL WHERE booking_id = %s AND resource = %s"
            ),
            (UUID(str(e.booking)), self._code(cur, e.originator_id)),
        )

    def _capacity_swapped(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        code = self._code(cur, e.originator_id)
        gone = self._drop_use(cur, code, e.booking)
        if not gone:
            raise LookupError(f"uses: booking {e.booking} holds nothing on {code}")
        channel, expires_at = gone[0]
        self._insert_use(cur, code, e.booking, channel, e.slots, e.quantity, expires_at)

    def _capacity_released(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        self._drop_use(cur, self._code(cur, e.originator_id), e.booking)

    def _drop_use(
        self, cur: psycopg.Cursor[Any], code: str, booking: str
    ) -> list[tuple[str, datetime | None]]:
        rows = cur.execute(
            self.sql(
                "DELETE FROM {s}.uses WHERE booking_id = %s AND resource = %s "
                "RETURNING channel, expires_at"
            ),
            (UUID(str(booking)), code),
        ).fetchall()
        return [(str(channel), expires_at) for channel, expires_at in rows]

    def _insert_use(
        self,
        cur: psycopg.Cursor[Any],
        code: str,
        booking: str,
        channel: str,
        slots: list[str],
        quantity: int,
        expires_at: datetime | None,
    ) -> None:
        cur.executemany(
            self.sql("INSERT INTO {s}.uses VALUES (%s, %s, %s, %s, %s, %s)"),
            [(code, UUID(str(booking)), channel, slot, quantity, expires_at) for slot in slots],
        )

    def _code(self, cur: psycopg.Cursor[Any], stream: UUID) -> str:
        code = self._codes.get(stream)
        if code is None:
            row = cur.execute(
                self.sql("SELECT code FROM {s}.resources WHERE stream_id = %s"), (stream,)
            ).fetchone()
            if row is None:
                raise LookupError(f"resources: no row for stream {stream}")
            code = self._codes[stream] = str(row[0])
        return code

    # -- bookings --------------------------------------------------------------------------

    def _held(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> Entry:
        cur.execute(
            self.sql(
                "INSERT INTO {s}.bookings VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, NULL, NULL, NULL, NULL, %s, NULL, %s, %s, %s, %s, %s)"
            ),
            (
                e.originator_id,
                e.channel,
                e.reference,
                BookingStatus.HELD.value,
                e.resource,
                list(e.slots),
                e.quantity,
                to_json(e.guest),
                e.unit_rate,
                e.total,
                e.currency,
                e.expires_at,
                to_json(e.terms),
                e.at,
                e.timestamp,
                position,
                position,
                e.originator_version,
            ),
        )
        summary = (
            f"held on {e.channel} as {e.reference}: {e.quantity} x {e.resource} for "
            f"{_span(list(e.slots))}, total {e.total} {e.currency}"
        )
        if e.expires_at is not None:
            summary += f", until {e.expires_at.isoformat()}"
        return (
            e.at,
            summary,
            {
                "resource": e.resource,
                "slots": list(e.slots),
                "quantity": e.quantity,
                "unit_rate": str(e.unit_rate),
                "total": str(e.total),
                "currency": e.currency,
                "expires_at": e.expires_at,
                "cancellation_terms": e.terms,
            },
        )

    def _confirmed(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        self._set(
            cur,
            e,
            "status = %s, payment_reference = %s, expires_at = NULL",
            BookingStatus.CONFIRMED.value,
            e.payment_reference,
        )
        return (
            e.at,
            f"confirmed: payment {e.payment_reference}",
            {"payment_reference": e.payment_reference},
        )

    def _issued(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> Entry:
        document = e.document
        number = document["confirmation_number"]
        issued_at = datetime.fromisoformat(document["issued_at"])
        row = cur.execute(
            self.sql("SELECT count(*) FROM {s}.documents WHERE booking_id = %s"),
            (e.originator_id,),
        ).fetchone()
        seq = 1 + (int(row[0]) if row else 0)
        cur.execute(
            self.sql("INSERT INTO {s}.documents VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"),
            (
                number,
                e.originator_id,
                seq,
                issued_at,
                document["replaces"],
                document["reason"],
                canonical(document).decode(),
                document["digest"],
                position,
            ),
        )
        self._set(cur, e, "confirmation_number = %s", number)
        summary = f"confirmation {number} issued ({document['reason']})"
        if document["replaces"] is not None:
            summary += f", replacing {document['replaces']}"
        return (
            issued_at,
            summary,
            {
                "confirmation_number": number,
                "replaces": document["replaces"],
                "reason": document["reason"],
                "digest": document["digest"],
            },
        )

    def _modified(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        before = self._row(cur, e, "slots, quantity, total, currency")
        self._set(
            cur, e, "slots = %s, quantity = %s, total = %s", list(e.slots), e.quantity, e.total
        )
        slots, quantity, total, currency = before
        return (
            e.at,
            f"modified: {e.quantity} x {_span(list(e.slots))} (was {quantity} x "
            f"{_span(list(slots))}), total {e.total} {currency}",
            {
                "slots": list(e.slots),
                "quantity": e.quantity,
                "total": str(e.total),
                "previous_slots": list(slots),
                "previous_quantity": quantity,
                "previous_total": str(total),
            },
        )

    def _rebooked(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        self._set(cur, e, "resource = %s, flagged = NULL", e.resource)
        return (
            e.at,
            f"rebooked from {e.previous} to {e.resource}: {e.reason}",
            {"previous_resource": e.previous, "resource": e.resource, "reason": e.reason},
        )

    def _flagged(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        self._set(cur, e, "flagged = %s", e.reason)
        return e.at, f"flagged: {e.reason}", {"reason": e.reason}

    def _cancelled(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        (currency,) = self._row(cur, e, "currency")
        self._set(
            cur,
            e,
            "status = %s, cancellation_fee = %s, closed_reason = %s",
            BookingStatus.CANCELLED.value,
            e.fee,
            e.reason,
        )
        return (
            e.at,
            f"cancelled: {e.reason}; fee {e.fee} {currency}",
            {"reason": e.reason, "fee": str(e.fee), "currency": currency},
        )

    def _expired(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        (expires_at,) = self._row(cur, e, "expires_at")
        lapsed = None if expires_at is None else expires_at.isoformat()
        reason = f"hold lapsed at {lapsed}"
        self._set(cur, e, "status = %s, closed_reason = %s", BookingStatus.EXPIRED.value, reason)
        return e.at, f"expired: {reason}", {"expires_at": lapsed}

    def _progressed(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        status = BookingStatus(e.status)
        self._set(cur, e, "status = %s", status.value)
        return e.at, status.value.replace("_", " "), {"status": status.value}

    def _erased(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        """The guest as the aggregate now shows it: erased, in the booking and in every
        confirmation document (whose digest keeps vouching for what was issued)."""
        (guest,) = self._row(cur, e, "guest")
        self._set(cur, e, "guest = %s", to_json(erased(json.loads(guest))))
        documents = cur.execute(
            self.sql(
                "SELECT confirmation_number, document FROM {s}.documents WHERE booking_id = %s"
            ),
            (e.originator_id,),
        ).fetchall()
        for number, text in documents:
            document = json.loads(text)
            document["guest"] = erased(document.get("guest"))
            cur.execute(
                self.sql("UPDATE {s}.documents SET document = %s WHERE confirmation_number = %s"),
                (canonical(document).decode(), number),
            )
        return e.at, "personal data erased", {"legal_basis": e.legal_basis}

    # -- helpers ---------------------------------------------------------------------------

    def _set(self, cur: psycopg.Cursor[Any], e: Any, assignments: str, *values: Any) -> None:
        cur.execute(
            self.sql(
                "UPDATE {s}.bookings SET " + assignments + " WHERE booking_id = %s"  # noqa: S608
            ),
            (*values, e.originator_id),
        )

    def _row(self, cur: psycopg.Cursor[Any], e: Any, columns: str) -> tuple[Any, ...]:
        row = cur.execute(
            self.sql(
                "SELECT " + columns + " FROM {s}.bookings WHERE booking_id = %s"  # noqa: S608
            ),
            (e.originator_id,),
        ).fetchone()
        if row is None:
            raise LookupError(f"bookings: no row for booking {e.originator_id}")
        return tuple(row)
