"""The bookings read model, built by a follower of the real "bookings" log on PostgreSQL.

Bookings are made through ``services.bookings`` (the rebooking process runs beside it, as in
production), priced by the pricing read model like SKUs. Availability is checked against
``Resource.free_for`` on the aggregate itself, the one that decides every race.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
import pytest

from api.services import Services
from application.commands import Request
from application.context import CommandContext
from domain.booking import canonical
from domain.errors import DomainError, InvalidValue
from domain.price_list import PriceChange
from domain.resource import SlotKind
from infrastructure.eventstore import events_table
from projections.booking_queries import BookingQueries
from projections.bookings import BookingsProjection
from projections.follower import Follower
from projections.rebuild import BOOKING_TABLES, differences, rebuild, table_rows
from tests.conftest import settle

T = TypeVar("T")

RATE = Decimal("120.00")
CHANNELS = ("web", "agency", "ota")
NIGHTS = [(date(2027, 1, 1) + timedelta(days=n)).isoformat() for n in range(8)]
# code: (class, capacity); the two doubles are equivalent, so a closure moves bookings.
RESOURCES = {
    "R-A": ("double", 8),
    "R-B": ("double", 3),
    "R-S": ("suite", 2),
    "R-V": ("villa", 1),
}


def as_channel(channel: str, correlation_id: str | None = None) -> Request:
    return Request(
        context=CommandContext(
            actor=f"channel:{channel}", channel=channel, correlation_id=correlation_id
        )
    )


@dataclass
class Bookings:
    services: Services
    follower: Follower
    url: str
    queries: BookingQueries

    def settle(self) -> None:
        """Wait for the read models and the rebooking process, then project the log."""
        settle(self.services)
        app, process = self.services.bookings, self.services.rebooking.process
        deadline = time.monotonic() + 20
        while process.position < (app.recorder.max_notification_id() or 0):
            assert time.monotonic() < deadline, "the rebooking process did not catch up"
            time.sleep(0.02)
        with psycopg.connect(self.url) as conn:
            self.follower.catch_up(conn)

    def read(self, query: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        async def go() -> T:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                return await query(conn)

        return asyncio.run(go())

    def availability(self, channel: str, resource: str, slots: list[str]) -> list[int]:
        found = self.read(lambda c: self.queries.availability(c, channel, resource, slots))
        assert found is not None
        assert [item["slot"] for item in found] == slots
        return [item["available"] for item in found]

    def booking(self, channel: str, reference: str) -> dict[str, Any]:
        found = self.read(lambda c: self.queries.booking(c, channel, reference))
        assert found is not None
        return found

    def list(self, **filters: Any) -> tuple[list[dict[str, Any]], str | None]:
        return self.read(lambda c: self.queries.list(c, **filters))

    def hold(
        self, channel: str, reference: str, resource: str, slots: list[str], **more: Any
    ) -> None:
        self.services.bookings.hold(
            channel=channel,
            reference=reference,
            resource=resource,
            slots=slots,
            quantity=more.pop("quantity", 1),
            guest=more.pop("guest", {"name": f"Guest {reference}"}),
            currency="EUR",
            **more,
        )


@pytest.fixture
def bookings(services: Services, database: str) -> Bookings:
    """Given resources R-A, R-B (doubles), R-S (a suite) and R-V (a villa), priced at RATE
    EUR a night on every channel, and a follower of the bookings log (small batches)."""
    app = services.bookings
    for code, (kind, capacity) in RESOURCES.items():
        app.put_resource(code, f"Room {code}", kind, SlotKind.NIGHT, capacity)
    now = datetime.now(UTC) - timedelta(seconds=1)
    for channel in CHANNELS:
        services.pricing.put_price_list(channel, "EUR", f"{channel} EUR", "reject", now)
        services.pricing.schedule_prices(
            channel, "EUR", [PriceChange(code, RATE) for code in RESOURCES], now
        )
        services.pricing.set_list_status(channel, "EUR", "active", now)
    follower = Follower(database, events_table(app.name), BookingsProjection(), batch_size=7)
    follower.setup()
    found = Bookings(services, follower, database, BookingQueries())
    found.settle()
    return found


def _workload(bookings: Bookings, seed: int, steps: int) -> datetime:
    """Commands at random on three channels with allotments: holds (some lapsing in a
    second), confirmations, cancellations, modifications, settings and closures. Returns
    the latest short expiry given."""
    rng = random.Random(seed)
    app = bookings.services.bookings
    app.set_allotment("R-A", "web", 2)
    app.set_allotment("R-A", "agency", 3)
    app.set_allotment("R-B", "agency", 1)
    app.set_channel_rules("R-A", "ota", [NIGHTS[5]], 1)
    # One rebooking for certain: under load the random modifies can all land on lapsed holds.
    bookings.hold("web", "WEB-MOVED", "R-A", [NIGHTS[0]], quantity=1, expires_at=None)
    app.modify("web", "WEB-MOVED", [NIGHTS[1]], 1)
    held: list[tuple[str, str]] = [("web", "WEB-MOVED")]
    latest = datetime.now(UTC)
    actions = ["hold"] * 8 + ["confirm"] * 3 + ["cancel", "modify", "modify", "settings"]
    for step in range(steps):
        action = rng.choice(actions)
        channel = rng.choice(CHANNELS)
        resource = rng.choice(["R-A", "R-A", "R-B", "R-S"])
        start = rng.randrange(0, 7)
        slots = NIGHTS[start : start + rng.randint(1, 3)]
        quantity = rng.randint(1, 3)
        if step == steps // 2:
            app.close_slots("R-B", [NIGHTS[3]], "inspection")
        try:
            if action == "hold":
                lapse = None
                if rng.random() < 0.3:
                    lapse = datetime.now(UTC) + timedelta(seconds=1.5)
                    latest = max(latest, lapse)
                reference = f"{channel.upper()}-{step}"
                bookings.hold(
                    channel, reference, resource, slots, quantity=quantity, expires_at=lapse
                )
                held.append((channel, reference))
            elif action in ("confirm", "cancel", "modify") and held:
                channel, reference = rng.choice(held)
                if action == "confirm":
                    app.confirm(channel, reference, f"psp-{step}")
                elif action == "cancel":
                    app.cancel(channel, reference, "plans changed")
                else:
                    app.modify(channel, reference, slots, quantity)
            elif action == "settings":
                pick = rng.randrange(4)
                if pick == 0:
                    app.set_allotment(resource, channel, rng.randint(0, 3))
                elif pick == 1:
                    stop = sorted(rng.sample(NIGHTS, rng.randint(0, 2)))
                    app.set_channel_rules(resource, channel, stop, rng.choice([1, 1, 2]))
                elif pick == 2:
                    kind, capacity = RESOURCES[resource]
                    app.put_resource(
                        resource, f"Room {resource}", kind, SlotKind.NIGHT, capacity + 2
                    )
                else:
                    app.close_slots(resource, [rng.choice(NIGHTS)], "maintenance")
        except DomainError:
            pass  # refused: no room, stop-sold, lapsed, already cancelled...
    return latest


def _assert_availability_agrees(bookings: Bookings) -> dict[str, int]:
    """Every channel and slot of every resource: the read model answers what the aggregate
    decides now. Returns counts of what was seen, to show the workload covered it."""
    seen = {"free": 0, "zero": 0, "closed": 0, "stop_sold": 0, "lapsed": 0}
    now = datetime.now(UTC)
    for code in RESOURCES:
        resource = bookings.services.bookings.resource(code)
        for channel in CHANNELS:
            found = bookings.read(
                lambda c, channel=channel, code=code: bookings.queries.availability(
                    c, channel, code, NIGHTS
                )
            )
            assert found is not None
            expected = [resource.free_for(channel, slot, now) for slot in NIGHTS]
            assert [item["available"] for item in found] == expected, (code, channel)
            for item in found:
                seen["free" if item["available"] else "zero"] += 1
                seen["closed"] += item["closed"]
                seen["stop_sold"] += item["stop_sold"]
                assert item["closed"] == (item["slot"] in resource.closed)
                assert item["stop_sold"] == (item["slot"] in resource.stop_sell.get(channel, set()))
        # And the uses are the aggregate's, one row per slot
        with psycopg.connect(bookings.url) as conn:
            rows = conn.execute(
                "SELECT booking_id::text, slot, channel, quantity, expires_at "
                "FROM bookings.uses WHERE resource = %s",
                (code,),
            ).fetchall()
        assert sorted(rows) == sorted(
            (use.booking, slot, use.channel, use.quantity, use.expires_at)
            for use in resource.uses.values()
            for slot in use.slots
        )
        seen["lapsed"] += sum(1 for use in resource.uses.values() if not use.live(now))
    return seen


def test_availability_agrees_with_the_resource_over_a_random_workload(
    bookings: Bookings,
) -> None:
    # Given holds, confirmations, cancellations, changes and closures on three channels
    latest = _workload(bookings, seed=11, steps=240)
    # ... and the short holds past their expiry, not yet released by the timer
    time.sleep(max(0.0, (latest - datetime.now(UTC)).total_seconds()) + 0.2)
    bookings.settle()

    # When availability is read, then it is what each resource decides, slot by slot
    seen = _assert_availability_agrees(bookings)
    assert all(seen.values()), seen

    # And after the expiry timer releases the lapsed holds nothing served changes
    assert bookings.services.booking_expiry.run_once() > 0
    bookings.settle()
    seen = _assert_availability_agrees(bookings)
    assert seen["lapsed"] == 0
    with psycopg.connect(bookings.url) as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM bookings.bookings GROUP BY status")
        )
        rebooked = conn.execute(
            "SELECT count(*) FROM bookings.booking_timeline WHERE event = 'BookingRebooked'"
        ).fetchone()
    assert {"held", "confirmed", "cancelled", "expired"} <= statuses.keys()
    assert rebooked is not None
    assert rebooked[0] > 0


def test_availability_counts_allotments_then_the_pool_and_a_lapsed_hold_as_free(
    bookings: Bookings,
) -> None:
    # Given R-B (3 a night) with one unit kept for agency, and web stop-sold on one night
    app = bookings.services.bookings
    app.set_allotment("R-B", "agency", 1)
    app.set_channel_rules("R-B", "web", [NIGHTS[2]], 1)
    nights = NIGHTS[:3]

    # When web holds 2 of the pool, agency 1 of its allotment for a second, and the
    # operator closes night 1
    bookings.hold("web", "W-1", "R-B", nights[:2], quantity=2)
    lapse = datetime.now(UTC) + timedelta(seconds=1)
    bookings.hold("agency", "A-1", "R-B", nights[:1], expires_at=lapse)
    bookings.settle()

    # Then web has nothing left in nights 0 and 1, agency only its own unit... until used
    assert bookings.availability("web", "R-B", nights) == [0, 0, 0]
    assert bookings.availability("agency", "R-B", nights) == [0, 1, 3]
    assert bookings.availability("ota", "R-B", nights) == [0, 0, 2]

    # And once the agency hold lapses its unit is free again, before any timer runs
    time.sleep(max(0.0, (lapse - datetime.now(UTC)).total_seconds()) + 0.1)
    assert bookings.availability("agency", "R-B", nights) == [1, 1, 3]

    # And a closed night has nothing, and the web hold that used it moves to R-A
    app.close_slots("R-B", [nights[1]], "boiler broken")
    bookings.settle()
    assert bookings.availability("agency", "R-B", nights) == [3, 0, 3]
    assert bookings.availability("web", "R-A", nights) == [6, 6, 8]
    assert bookings.booking("web", "W-1")["resource"] == "R-A"
    found = bookings.read(lambda c: bookings.queries.availability(c, "web", "R-B", nights))
    assert found is not None
    assert [(i["closed"], i["stop_sold"]) for i in found] == [
        (False, False),
        (True, False),
        (False, True),
    ]
    assert bookings.read(lambda c: bookings.queries.availability(c, "web", "NOPE", nights)) is None
    with pytest.raises(InvalidValue):
        bookings.read(lambda c: bookings.queries.availability(c, "web", "R-B", []))


def test_every_document_is_retrievable_by_number_including_the_one_a_change_replaced(
    bookings: Bookings,
) -> None:
    # Given a confirmed booking that was then modified
    app = bookings.services.bookings
    guest = {"name": "Grace Hopper", "email": "grace@example.com"}
    bookings.hold("web", "2027/W:1", "R-A", NIGHTS[:2], quantity=2, guest=guest)
    app.confirm("web", "2027/W:1", "psp-1")
    app.modify("web", "2027/W:1", NIGHTS[:3], 1)
    bookings.settle()
    issued = app.booking("web", "2027/W:1").documents

    # When its documents are read by number
    first, second = (
        bookings.read(
            lambda c, number=doc["confirmation_number"]: bookings.queries.document(c, number)
        )
        for doc in issued
    )

    # Then each is the document as issued, its digest checks, and they name each other
    assert first is not None
    assert second is not None
    assert [first["document"], second["document"]] == issued
    for found in (first, second):
        body = {k: v for k, v in found["document"].items() if k != "digest"}
        assert hashlib.sha256(canonical(body)).hexdigest() == found["digest"]
        assert (found["channel"], found["reference"]) == ("web", "2027/W:1")
    assert (first["seq"], first["replaces"], first["replaced_by"]) == (
        1,
        None,
        second["confirmation_number"],
    )
    assert (second["seq"], second["replaces"], second["replaced_by"]) == (
        2,
        first["confirmation_number"],
        None,
    )
    assert first["document"]["slots"] == NIGHTS[:2]
    assert second["document"]["price"] == {"amount": "360.00", "currency": "EUR"}
    assert first["issued_at"] <= second["issued_at"]
    assert first["issued_at"].tzinfo == UTC

    # And the booking lists both, the current one last
    found = bookings.booking("web", "2027/W:1")
    assert [d["confirmation_number"] for d in found["documents"]] == [
        d["confirmation_number"] for d in issued
    ]
    assert found["confirmation_number"] == second["confirmation_number"]
    assert found["guest"] == guest
    assert bookings.read(lambda c: bookings.queries.document(c, "0000-0000-0000")) is None


def test_the_timeline_tells_who_did_what_and_a_rebooking_after_a_closure(
    bookings: Bookings,
) -> None:
    # Given a booking held and confirmed by the web channel, then modified
    app = bookings.services.bookings
    bookings.hold("web", "W-7", "R-A", NIGHTS[:2], request=as_channel("web", "corr-7"))
    app.confirm("web", "W-7", "psp-7", as_channel("web", "corr-7"))
    app.modify("web", "W-7", NIGHTS[1:3], 2, as_channel("web", "corr-8"))

    # When the operator closes one of its nights, so the rebooking process moves it
    operator = Request(context=CommandContext(actor="operator:ann"))
    app.close_slots("R-A", [NIGHTS[2]], "flooded", operator)
    bookings.settle()
    found = bookings.booking("web", "W-7")

    # Then the timeline shows every step, with who and the status after it
    timeline = found["timeline"]
    assert [(e["event"], e["status"], e["actor"]) for e in timeline] == [
        ("BookingHeld", "held", "channel:web"),
        ("BookingConfirmed", "confirmed", "channel:web"),
        ("ConfirmationIssued", "confirmed", "channel:web"),
        ("BookingModified", "confirmed", "channel:web"),
        ("ConfirmationIssued", "confirmed", "channel:web"),
        ("BookingRebooked", "confirmed", "process:booking-rebooking"),
        ("ConfirmationIssued", "confirmed", "process:booking-rebooking"),
    ]
    assert [e["correlation_id"] for e in timeline[:5]] == ["corr-7"] * 3 + ["corr-8"] * 2
    # The process acted on the operator's closure, which named no channel
    assert [e["channel"] for e in timeline] == ["web"] * 5 + [None] * 2
    assert timeline[0]["detail"]["slots"] == NIGHTS[:2]
    assert timeline[0]["detail"]["total"] == "240.00"
    assert "held on web as W-7: 1 x R-A" in timeline[0]["summary"]
    assert timeline[1]["detail"] == {"payment_reference": "psp-7"}
    assert timeline[3]["detail"]["previous_slots"] == NIGHTS[:2]
    assert timeline[3]["detail"]["quantity"] == 2
    assert timeline[3]["detail"]["total"] == "480.00"
    assert timeline[5]["detail"] == {
        "previous_resource": "R-A",
        "resource": "R-B",
        "reason": "R-A closed: flooded",
    }
    assert timeline[6]["detail"]["replaces"] == timeline[4]["detail"]["confirmation_number"]
    assert "Guest W-7" not in str(timeline)  # personal data stays in the booking row
    positions = [e["position"] for e in timeline]
    assert positions == sorted(positions)
    assert (found["held_position"], found["last_position"]) == (positions[0], positions[-1])
    assert found["version"] == len(timeline)
    assert all(e["recorded_at"].tzinfo == UTC for e in timeline)

    # And the booking is on its new resource, with its units there
    assert (found["status"], found["resource"], found["flagged"]) == ("confirmed", "R-B", None)
    assert found["documents"][-1]["document"]["resource"] == "R-B"
    assert bookings.availability("web", "R-B", NIGHTS[1:3]) == [1, 1]


def test_bookings_are_listed_by_filter_and_paged_by_cursor(bookings: Bookings) -> None:
    # Given bookings on three channels and two resources, some confirmed, one cancelled, and
    # one flagged because no other suite has room when its night closes
    app = bookings.services.bookings
    for n in range(9):
        channel = CHANNELS[n % 3]
        resource = "R-S" if n in (0, 1) else "R-A"
        bookings.hold(channel, f"L-{n}", resource, [NIGHTS[n % 4]])
        if n % 2:
            app.confirm(channel, f"L-{n}", "psp")
    app.cancel("agency", "L-4", "no longer needed")
    app.close_slots("R-S", [NIGHTS[0]], "renovation")
    bookings.settle()

    def references(rows: list[dict[str, Any]]) -> list[str]:
        return [row["reference"] for row in rows]

    # Then each filter selects just its bookings, oldest hold first
    everything, cursor = bookings.list()
    assert references(everything) == [f"L-{n}" for n in range(9)]
    assert cursor is None
    assert references(bookings.list(channel="agency")[0]) == ["L-1", "L-4", "L-7"]
    assert references(bookings.list(resource="R-S")[0]) == ["L-0", "L-1"]
    assert references(bookings.list(status="confirmed")[0]) == ["L-1", "L-3", "L-5", "L-7"]
    assert references(bookings.list(status="cancelled")[0]) == ["L-4"]
    assert references(bookings.list(flagged=True)[0]) == ["L-0"]
    assert len(bookings.list(flagged=False)[0]) == 8
    assert references(bookings.list(channel="web", status="held")[0]) == ["L-0", "L-6"]
    flagged = everything[0]
    assert "renovation" in (flagged["flagged"] or "")
    assert "guest" not in flagged
    assert everything[0]["held_at"].tzinfo == UTC
    assert everything[0]["total"] == RATE

    # And paging walks every booking once, in order, however small the pages
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        rows, after = bookings.list(limit=2, after=after)
        seen += references(rows)
        pages += 1
        if after is None:
            break
    assert seen == references(everything)
    assert pages == 5
    rows, after = bookings.list(resource="R-A", limit=3)
    assert references(rows) == ["L-2", "L-3", "L-4"]
    assert references(bookings.list(resource="R-A", limit=3, after=after)[0]) == [
        "L-5",
        "L-6",
        "L-7",
    ]

    # And a cursor, status or limit that is not ours is refused; unknown bookings are None
    with pytest.raises(InvalidValue):
        bookings.list(after="not-a-cursor")
    with pytest.raises(InvalidValue):
        bookings.list(status="lost")
    with pytest.raises(InvalidValue):
        bookings.list(limit=0)
    assert bookings.read(lambda c: bookings.queries.booking(c, "web", "L-1")) is None
    assert bookings.read(bookings.queries.position) == bookings.follower.head()


def test_a_rebuilt_bookings_read_model_equals_the_live_one(bookings: Bookings) -> None:
    # Given a live read model built in small batches while bookings went every which way
    latest = _workload(bookings, seed=5, steps=80)
    time.sleep(max(0.0, (latest - datetime.now(UTC)).total_seconds()) + 0.2)
    bookings.services.booking_expiry.run_once()
    app = bookings.services.bookings
    bookings.hold("web", "LAST", "R-V", NIGHTS[:2])
    app.confirm("web", "LAST", "psp")
    app.progress("web", "LAST", "check_in")
    app.progress("web", "LAST", "complete")
    bookings.settle()

    # When the read model is rebuilt from position 0 into a schema of its own
    applied = rebuild(bookings.url, "bookings", "bookings_rebuild", batch_size=1000)

    # Then every table equals the live one, row for row
    with psycopg.connect(bookings.url) as conn:
        # (not the head: a write that lost a race leaves a gap in the positions)
        stored = conn.execute("SELECT count(*) FROM bookings_events").fetchone()
    assert stored is not None
    assert applied == stored[0]
    assert differences(bookings.url, "bookings", "bookings_rebuild", BOOKING_TABLES) == {}
    with psycopg.connect(bookings.url) as conn:
        for table in BOOKING_TABLES:
            live = table_rows(conn, "bookings", table, BOOKING_TABLES)
            assert live == table_rows(conn, "bookings_rebuild", table, BOOKING_TABLES)
            assert live, table
