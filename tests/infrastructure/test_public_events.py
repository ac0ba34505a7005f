"""The public event contract: every stored event has a public type, and the docs are current."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

import domain
from application.inventory import InventoryApp
from application.pricing import PricingApp
from domain.booking import digest
from domain.customer import Customer
from domain.identity import stream_id
from domain.inventory import AdjustmentReason, Inventory
from domain.network import ChannelKind, LocationKind
from domain.price_list import PriceChange
from infrastructure.envelope import Envelope
from infrastructure.eventstore import application_env, make_mapper
from infrastructure.log_reader import LOGS, LogReader
from infrastructure.public_events import decode, event_type_of, key_of, registered, to_envelope
from infrastructure.public_events.base import BY_STORED
from infrastructure.public_events.docs import render
from tests.infrastructure.support import (
    BOOKING_REFERENCE,
    GUEST,
    ORDER_NUMBER,
    BookingsLog,
    OrdersLog,
    booking_story,
    order_story,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOT_PUBLISHED = {"ApiKey"}


class PrivacyLog(Application[UUID]):
    """Stands in for the privacy application as far as the store goes: its log."""

    name = "privacy"  # access events stay in PostgreSQL: they carry secret hashes


def _stored_event_classes() -> set[str]:
    """Every event class of every aggregate in domain/ (found by walking, not listed)."""
    found: set[str] = set()
    for module in pkgutil.iter_modules(domain.__path__):
        loaded = importlib.import_module(f"domain.{module.name}")
        for _, aggregate in inspect.getmembers(loaded, inspect.isclass):
            if (
                not issubclass(aggregate, Aggregate)
                or aggregate is Aggregate
                or aggregate.__module__ != loaded.__name__
                or aggregate.__name__ in NOT_PUBLISHED
            ):
                continue
            events = {
                value
                for value in vars(aggregate).values()
                if isinstance(value, type) and issubclass(value, Aggregate.Event)
            }
            named_created = [e for e in events if issubclass(e, Aggregate.Created)]
            for event_class in events:
                # "Event" is the base eventsourcing makes; "Created" goes unused when the
                # aggregate names its own created event.
                if event_class.__name__ == "Event":
                    continue
                if event_class.__name__ == "Created" and len(named_created) > 1:
                    continue
                found.add(event_class.__qualname__)
    return found


def test_every_stored_domain_event_has_a_public_type() -> None:
    stored = _stored_event_classes()
    assert {
        "Inventory.StockReserved",
        "Inventory.StockReturned",
        "Inventory.ReservationSecured",
        "Location.Registered",
        "Channel.Registered",
        "Order.OrderPlaced",
        "Order.ReturnRecorded",
        "Allocation.AllocationDecided",
        "Allocation.AllocationSettled",
        "Resource.ResourceRegistered",
        "Resource.CapacityHeld",
        "Resource.SlotsClosed",
        "Booking.BookingHeld",
        "Booking.ConfirmationIssued",
        "Booking.BookingProgressed",
    } <= stored
    assert sorted(stored - BY_STORED.keys()) == []


def test_every_public_type_made_from_a_stored_event_is_of_a_published_log() -> None:
    logs = {t.log for t in registered() if t.stored is not None}
    assert logs <= set(LOGS)
    assert {
        (t.stream_type, t.log)
        for t in registered()
        if t.stream_type in ("order", "allocation", "resource", "booking")
    } == {
        ("order", "orders"),
        ("allocation", "inventory"),
        ("resource", "bookings"),
        ("booking", "bookings"),
    }


def test_the_committed_event_docs_and_schemas_are_current() -> None:
    expected = render()
    committed = {
        str(path.relative_to(DOCS)): path.read_text()
        for path in [DOCS / "events.md", *(DOCS / "schemas").glob("*.json")]
    }
    stale = sorted(
        k for k in expected.keys() | committed.keys() if expected.get(k) != committed.get(k)
    )
    assert stale == [], "run: python -m infrastructure.public_events"
    for event_type in registered():
        assert f"schemas/{event_type.schema_file}" in committed


def test_every_kind_of_stored_event_reads_as_its_public_type(database: str) -> None:
    app = InventoryApp(application_env(database, pool_size=1))
    now = datetime.now(UTC)
    try:
        app.put_location("WH1", "Berlin", LocationKind.WAREHOUSE, Decimal("52.5"), Decimal("13.4"))
        app.put_location(
            "WH1", "Berlin DC", LocationKind.WAREHOUSE, Decimal("52.5"), Decimal("13.4")
        )
        app.put_location("ST1", "Store", LocationKind.STORE)
        app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])
        app.put_channel("web", "Web shop", ChannelKind.WEB_SHOP, ["WH1", "ST1"])
        app.register_sku("SKU-1", "Shirt")
        app.register_sku("SKU-1", "Shirt, blue", "4006381333931")
        app.receive("SKU-1", "WH1", 10)
        app.adjust("SKU-1", "WH1", AdjustmentReason.DAMAGE, -1)
        app.transfer("SKU-1", "WH1", "ST1", 2)
        app.reserve(
            "SKU-1",
            "r1",
            "WH1",
            3,
            reference="o1",
            now=now,
            channel="web",
            expires_at=now + timedelta(hours=1),
        )
        app.reserve("SKU-1", "r2", "WH1", 1, reference="o2", now=now)
        app.release("SKU-1", "r2")
        app.commit("SKU-1", "r1", 2)
        app.set_safety_buffer("SKU-1", "web", 1)
        app.set_reorder_policy("SKU-1", "WH1", 5, 20)
        stock: Inventory = app.repository.get(stream_id("sku", "SKU-1"))
        stock.secure("r1", now)
        stock.restock("WH1", 1, "return R-1")
        story = order_story(now)
        app.save(stock, *story.allocations)
    finally:
        app.close()
    orders = OrdersLog(application_env(database, pool_size=1))
    try:
        orders.save(*story.orders)
    finally:
        orders.close()
    bookings = BookingsLog(application_env(database, pool_size=1))
    try:
        told = booking_story(now)
        bookings.save(*told.resources, *told.bookings)
    finally:
        bookings.close()
    customers = PrivacyLog(application_env(database, pool_size=1))
    try:
        customer = Customer.register("C-1", now)
        customer.link("marketplace", "MP-77", now)
        customer.erase("dpo@example.com", "GDPR Art. 17(1)(a)", customer.subjects, 2, now)
        customers.save(customer)
    finally:
        customers.close()
    pricing = PricingApp(application_env(database, pool_size=1))
    try:
        pricing.put_price_list("web", "EUR", "Web", "clamp", now)
        pricing.put_price_list("web", "EUR", "Web EUR", "reject", now)
        pricing.set_list_status("web", "EUR", "active", now)
        pricing.set_floors("EUR", {"SKU-1": Decimal("5.00")}, now)
        pricing.schedule_prices("web", "EUR", [PriceChange("SKU-1", Decimal("9.99"))], now)
        pricing.roll_back("web", "EUR", 1, now)
        pricing.define_promotion(
            "P1",
            name="",
            kind="percent_off",
            value=Decimal("10"),
            currency=None,
            channels=None,
            skus=["SKU-1"],
            priority=0,
            stacking="exclusive",
            stacks_with=[],
            valid_from=None,
            valid_until=None,
            now=now,
        )
        pricing.end_promotion("P1", now + timedelta(seconds=1))
        pricing.define_rule(
            "R1",
            now,
            channel="web",
            currency="EUR",
            skus=["SKU-1"],
            base=Decimal("10.00"),
            floor=Decimal("8.00"),
            ceiling=Decimal("12.00"),
            low_atp=1,
            high_atp=50,
            step_percent=Decimal("5"),
        )
        pricing.disable_rule("R1", now)
    finally:
        pricing.close()

    async def read() -> list[Envelope]:
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            # A fresh reader on a later batch must look the SKU up in the stream's first event
            reader = LogReader()
            return [
                *await reader.read(conn, 0, 7),
                *await LogReader().read(conn, 7, 100),
                *await LogReader("pricing").read(conn, 0, 100),
                *await LogReader("orders").read(conn, 0, 5),
                *await LogReader("orders").read(conn, 5, 100),
                *await LogReader("bookings").read(conn, 0, 3),
                *await LogReader("bookings").read(conn, 3, 14),
                *await LogReader("bookings").read(conn, 17, 100),
                *await LogReader("privacy").read(conn, 0, 100),
            ]

    envelopes = asyncio.run(read())
    kinds = {(e.stream_type, e.type) for e in envelopes}
    converted = {(t.stream_type, t.name) for t in registered() if t.convert is not None}
    assert kinds == converted
    for envelope in envelopes:
        public = decode(envelope)
        assert msgspec.to_builtins(public) == envelope.data
        assert envelope.schema_version == event_type_of(envelope).version
        assert envelope.occurred_at.utcoffset() == timedelta(0)
        # Round trip over the wire, as a connector sees it
        wire = msgspec.json.decode(msgspec.json.encode(envelope), type=Envelope)
        assert decode(wire) == public
    by_type = {(e.stream_type, e.type): e.data for e in envelopes}
    assert by_type[("inventory", "StockTransferred")] == {
        "sku": "SKU-1",
        "from_location": "WH1",
        "to_location": "ST1",
        "quantity": 2,
    }
    assert by_type[("location", "Described")]["code"] == "WH1"
    assert by_type[("location", "Described")]["latitude"] == "52.5"
    assert by_type[("channel", "LocationsChanged")] == {"code": "web", "locations": ["ST1", "WH1"]}
    first_hold = next(e.data for e in envelopes if e.type == "StockReserved")
    assert first_hold["expires_at"].endswith("Z")
    assert all("originator_topic" not in e.data for e in envelopes)
    scheduled = by_type[("price_list", "PricesScheduled")]
    assert (scheduled["channel"], scheduled["currency"]) == ("web", "EUR")
    assert scheduled["entries"][0]["price"] == {"amount": "9.99", "currency": "EUR"}
    assert by_type[("promotion", "PromotionEnded")]["promotion_id"] == "P1"
    assert by_type[("price_floors", "PriceFloorsSet")]["floors"]["SKU-1"]["amount"] == "5.00"
    assert by_type[("inventory", "StockReturned")] == {
        "sku": "SKU-1",
        "location": "WH1",
        "quantity": 1,
        "reference": "return R-1",
    }
    assert by_type[("inventory", "ReservationSecured")] == {"sku": "SKU-1", "reservation_id": "r1"}
    # Read by a fresh reader from position 5 on: the key came from the stream's first event
    refunded = by_type[("order", "RefundRecorded")]
    assert (refunded["channel"], refunded["order_number"]) == ("web", ORDER_NUMBER)
    assert refunded["amount"] == {"amount": "19.99", "currency": "EUR"}
    assert {e.log for e in envelopes if e.stream_type == "order"} == {"orders"}
    assert {e.log for e in envelopes if e.stream_type == "allocation"} == {"inventory"}
    # Read by fresh readers after positions 3 and 17: the keys came from the streams' first
    # events (ROOM-101's at 1, the first booking's at 17)
    assert by_type[("resource", "SlotsClosed")]["resource"] == "ROOM-101"
    progressed = by_type[("booking", "BookingProgressed")]
    assert (progressed["channel"], progressed["reference"]) == ("web", BOOKING_REFERENCE)
    cancelled = by_type[("booking", "BookingCancelled")]
    assert (cancelled["channel"], cancelled["reference"]) == ("agency", "A-1")
    assert cancelled["fee"] == {"amount": "120.00", "currency": "EUR"}
    assert {e.log for e in envelopes if e.stream_type in ("resource", "booking")} == {"bookings"}


def _envelopes(aggregates: list[Aggregate], log: str) -> list[Envelope]:
    """Each aggregate's new events as the relay would publish them, stored and read back
    through the store's own mapper (so nested decimals and times are transcoded)."""
    mapper = make_mapper()
    found: list[Envelope] = []
    for aggregate in aggregates:
        events = aggregate.collect_events()
        key = key_of(events[0])
        assert key is not None
        for event in events:
            stored, meta = mapper.decode(mapper.to_stored_event(event))
            found.append(to_envelope(stored, meta, log, len(found) + 1, key))
    return found


def test_an_order_and_its_allocation_convert_to_public_types_that_survive_json() -> None:
    now = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    story = order_story(now)
    orders = _envelopes(list(story.orders), "orders")
    allocations = _envelopes(list(story.allocations), "inventory")

    assert [e.type for e in orders] == [
        "OrderPlaced",
        "OrderConfirmed",
        "PaymentAuthorised",
        "PaymentCaptured",
        "ShipmentPicked",
        "ShipmentPacked",
        "ShipmentShipped",
        "ShipmentDelivered",
        "ReturnRecorded",
        "RefundRecorded",
        "OrderCancelled",
        "OrderPlaced",
        "OrderRejected",
        "OrderPlaced",
        "OrderExpired",
        "OrderPersonalDataErased",
    ]
    assert [e.type for e in allocations] == [
        "AllocationDecided",
        "AllocationSettled",
        "AllocationSettled",
        "AllocationDecided",
    ]
    for envelope in orders + allocations:
        public = decode(envelope)
        struct = event_type_of(envelope).struct
        assert type(public) is struct
        # Over the wire, as a connector sees it, and the data alone against its type
        wire = msgspec.json.decode(msgspec.json.encode(envelope), type=Envelope)
        assert wire == envelope
        assert decode(wire) == public
        assert msgspec.json.decode(msgspec.json.encode(public), type=struct) == public
        assert (envelope.data["channel"], envelope.data["order_number"]) in {
            ("web", ORDER_NUMBER),
            ("web", "1002"),
            ("web", "1003"),
        }
        for name in ("recorded_at", "payment_due_by"):
            value = envelope.data.get(name)
            assert value is None or value.endswith("Z"), (envelope.type, name, value)

    placed = orders[0]
    assert placed.stream_type == "order"
    assert placed.subject == "ledgerline.events.order.OrderPlaced"
    assert placed.data["total"] == {"amount": "44.98", "currency": "EUR"}
    assert placed.data["recorded_at"] == "2026-03-01T08:00:00Z"
    assert placed.data["payment_due_by"] == "2026-03-01T08:30:00Z"
    assert placed.data["lines"][0] == {
        "line": 1,
        "sku": "SKU-1",
        "quantity": 2,
        "unit_price": {"amount": "19.99", "currency": "EUR"},
        "effective_price": {"amount": "19.99", "currency": "EUR"},
        "list_price": {"amount": "24.99", "currency": "EUR"},
        "promotion_ids": ["SPRING"],
        "price_list_version": 3,
        "price_entry_version": 7,
    }
    assert placed.data["customer"]["customer_id"] == "C-7"
    assert placed.data["customer"]["email"] == "ada@example.com"
    assert placed.data["ship_to"]["postal_code"] == "SW1Y 4JH"
    assert placed.data["ship_to"]["latitude"] == "51.5074"
    assert placed.data["ship_to"]["longitude"] == "-0.1340"
    by_type = {e.type: e.data for e in orders}
    confirmed = by_type["OrderConfirmed"]
    assert [(s["shipment"], s["location"]) for s in confirmed["shipments"]] == [
        ("1", "WH1"),
        ("2", "WH2"),
    ]
    assert confirmed["shipments"][0]["lines"][0]["reservation_id"].startswith("o-")
    assert by_type["PaymentCaptured"]["amount"] == {"amount": "44.98", "currency": "EUR"}
    assert by_type["ShipmentShipped"]["carrier"] == "DHL"
    assert by_type["ReturnRecorded"]["lines"] == [{"line": 1, "sku": "SKU-1", "quantity": 1}]
    assert by_type["ReturnRecorded"]["disposition"] == "sellable"
    assert by_type["OrderCancelled"]["shipments"] == ["2"]
    assert by_type["OrderRejected"]["shortages"] == [
        {"line": 1, "sku": "SKU-1", "requested": 2, "available": 0}
    ]
    assert by_type["OrderExpired"]["payment_due_by"] == "2026-03-01T08:01:00Z"

    decided, committed, released, refused = allocations
    assert decided.stream_type == "allocation"
    assert decided.data["order_id"] == placed.stream_id
    assert decided.data["shipments"] == confirmed["shipments"]
    # A later event knows its order although the stored one names only the shipments
    assert committed.data == {
        "order_id": placed.stream_id,
        "channel": "web",
        "order_number": ORDER_NUMBER,
        "shipments": ["1"],
        "how": "committed",
        "reason": "shipment shipped",
    }
    assert released.data["how"] == "released"
    assert refused.data["outcome"] == "refused"
    assert refused.data["order_id"] == orders[11].stream_id
    assert refused.data["shortages"] == by_type["OrderRejected"]["shortages"]


def test_resources_and_bookings_convert_to_public_types_that_survive_json() -> None:
    # Given resources and bookings taken through every event, made by the domain's commands
    now = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    story = booking_story(now)

    # When they are converted as the relay would publish them
    resources = _envelopes(list(story.resources), "bookings")
    bookings = _envelopes(list(story.bookings), "bookings")

    # Then every event has its public type, and survives the wire
    assert [e.type for e in resources] == [
        "ResourceRegistered",
        "CapacitySet",
        "AllotmentSet",
        "ChannelRulesSet",
        "CapacityHeld",
        "CapacityConfirmed",
        "CapacitySwapped",
        "SlotsClosed",
        "CapacityReleased",
        "ResourceRegistered",
        "CapacityHeld",
        "CapacityHeld",
        "CapacityConfirmed",
        "CapacityReleased",
        "CapacityHeld",
        "CapacityReleased",
    ]
    assert [e.type for e in bookings] == [
        "BookingHeld",
        "BookingConfirmed",
        "ConfirmationIssued",
        "BookingModified",
        "ConfirmationIssued",
        "BookingRebooked",
        "ConfirmationIssued",
        "BookingProgressed",
        "BookingProgressed",
        "BookingHeld",
        "BookingFlagged",
        "BookingConfirmed",
        "ConfirmationIssued",
        "BookingCancelled",
        "BookingHeld",
        "BookingExpired",
        "BookingPersonalDataErased",
    ]
    for envelope in resources + bookings:
        public = decode(envelope)
        struct = event_type_of(envelope).struct
        assert type(public) is struct
        wire = msgspec.json.decode(msgspec.json.encode(envelope), type=Envelope)
        assert wire == envelope
        assert decode(wire) == public
        assert msgspec.json.decode(msgspec.json.encode(public), type=struct) == public
        assert envelope.log == "bookings"
        for name in ("recorded_at", "expires_at"):
            value = envelope.data.get(name)
            assert value is None or value.endswith("Z"), (envelope.type, name, value)
    assert {e.data["resource"] for e in resources} == {"ROOM-101", "ROOM-102"}
    assert {(e.data["channel"], e.data["reference"]) for e in bookings} == {
        ("web", BOOKING_REFERENCE),
        ("agency", "A-1"),
        ("agency", "A-2"),
    }

    # And the resource's events say what its settings and holds are
    by_type = {e.type: e.data for e in resources}
    registered_room = resources[0].data
    assert registered_room == {
        "resource": "ROOM-101",
        "name": "Room 101",
        "resource_class": "double",
        "slot_kind": "night",
        "capacity": 5,
        "free_cancellation_hours": 24,
        "cancellation_fee_percent": "100",
    }
    assert by_type["ChannelRulesSet"] == {
        "resource": "ROOM-101",
        "channel": "web",
        "stop_sell": ["2026-05-08", "2026-05-09"],
        "min_stay": 2,
    }
    stay = story.bookings[0]
    held = resources[4]
    assert held.data == {
        "resource": "ROOM-101",
        "booking_id": str(stay.id),
        "channel": "web",
        "slots": ["2026-05-01", "2026-05-02"],
        "quantity": 2,
        "expires_at": "2026-03-01T08:15:00Z",
    }
    assert held.data["booking_id"] == bookings[0].stream_id
    assert by_type["CapacitySwapped"]["slots"] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    assert by_type["SlotsClosed"] == {
        "resource": "ROOM-101",
        "slots": ["2026-05-02"],
        "reason": "burst pipe",
    }
    assert resources[8].data["reason"] == "rebooked to ROOM-102"
    assert resources[10].data["expires_at"] is None  # moved as confirmed

    # And the booking's events carry money, the guest as personal data, and the documents
    placed = bookings[0]
    assert placed.stream_type == "booking"
    assert placed.subject == "ledgerline.events.booking.BookingHeld"
    assert placed.data["guest"] == GUEST
    assert placed.data["unit_rate"] == {"amount": "120.00", "currency": "EUR"}
    assert placed.data["total"] == {"amount": "480.00", "currency": "EUR"}
    assert placed.data["recorded_at"] == "2026-03-01T08:00:00Z"
    assert placed.data["cancellation_terms"] == {
        "free_cancellation_hours": 24,
        "fee_percent_after": "100",
    }
    assert bookings[9].data["guest"] == {"name": "Alan Turing"}  # nothing else was given
    modified = bookings[3].data
    assert modified["total"] == {"amount": "360.00", "currency": "EUR"}
    assert bookings[5].data["previous_resource"] == "ROOM-101"
    assert bookings[5].data["resource"] == "ROOM-102"
    assert [e.data["status"] for e in bookings[7:9]] == ["checked_in", "completed"]
    assert bookings[13].data["fee"] == {"amount": "120.00", "currency": "EUR"}
    assert bookings[10].data["reason"].startswith("ROOM-101 closed")

    documents = [e.data["document"] for e in bookings if e.type == "ConfirmationIssued"]
    assert [d["reason"] for d in documents] == [
        "confirmed",
        "modified",
        "rebooked: ROOM-101 closed: burst pipe",
        "confirmed",
    ]
    assert [d["replaces"] for d in documents[:3]] == [
        None,
        documents[0]["confirmation_number"],
        documents[1]["confirmation_number"],
    ]
    assert documents[2]["resource"] == "ROOM-102"
    assert documents[0]["guest"] == GUEST
    assert documents[0]["price"] == {"amount": "480.00", "currency": "EUR"}
    # Published exactly as issued: the document is the aggregate's, and its digest checks
    assert documents == [
        *stay.documents,
        *story.bookings[1].documents,
    ]
    for document in documents:
        assert digest(document) == document["digest"]
