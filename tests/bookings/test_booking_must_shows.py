"""The bookings must-shows on the real servers: no double booking when three channels race
100 holds for 20 rooms with allotments, capacity back at once on cancel, confirmations whose
digest the stored events prove, and a disruption that rebooks or flags."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from application.bookings import BookingsApp
from domain.booking import digest
from domain.resource import CapacityUnavailable
from infrastructure.eventstore import application_env, make_mapper
from infrastructure.privacy import reveal_states
from tests.bookings.support import CHANNELS, GUEST, NIGHT, hotel
from tests.conftest import settle


def hold(app: BookingsApp, channel: str, reference: str, room: str = "DLX", **extra: Any) -> None:
    app.hold(
        channel=channel,
        reference=reference,
        resource=room,
        slots=extra.pop("slots", [NIGHT]),
        quantity=extra.pop("quantity", 1),
        guest=GUEST,
        currency="EUR",
        **extra,
    )


def test_three_channels_racing_100_holds_for_20_rooms_get_exactly_20(
    services: Services, database: str
) -> None:
    # Given 20 rooms for the night: 5 only for web, 5 only for marketplace, 10 shared
    hotel(services, {"DLX": ("deluxe", 20)})
    services.bookings.set_allotment("DLX", "web", 5)
    services.bookings.set_allotment("DLX", "marketplace", 5)
    apps = [
        BookingsApp(application_env(database, pool_size=4), services.price_book) for _ in range(4)
    ]
    try:
        # When 100 clients on four application instances hold a room each at the same moment
        barrier = threading.Barrier(100)
        told: Counter[tuple[str, str]] = Counter()
        lock = threading.Lock()

        def client(n: int) -> None:
            channel = CHANNELS[n % 3]
            barrier.wait()
            try:
                hold(apps[n % 4], channel, f"B-{n}")
                result = "held"
            except CapacityUnavailable:
                result = "full"
            with lock:
                told[(channel, result)] += 1

        with ThreadPoolExecutor(max_workers=100) as pool:
            for future in [pool.submit(client, n) for n in range(100)]:
                future.result()
    finally:
        for app in apps:
            app.close()
    # Then exactly 20 were told "held", the rest "full"
    held = {channel: told[(channel, "held")] for channel in CHANNELS}
    assert sum(held.values()) == 20
    assert sum(told.values()) == 100
    # and no channel took more than its allotment plus the shared pool
    assert held["web"] <= 15
    assert held["marketplace"] <= 15
    assert held["callcentre"] <= 10
    # and the resource agrees: 20 units used, the pool used no more than its 10
    room = services.bookings.resource("DLX")
    used = room.used(NIGHT, None)
    assert sum(used.values()) == 20
    assert sum(max(0, n - room.allotments.get(c, 0)) for c, n in used.items()) <= 10
    assert room.free_for("callcentre", NIGHT, None) == 0


def test_a_cancelled_room_can_be_held_by_another_channel_at_once(services: Services) -> None:
    # Given one room, held by web
    hotel(services, {"SGL": ("single", 1)})
    hold(services.bookings, "web", "W-1", "SGL")
    # When web cancels, and the marketplace holds it straight away
    services.bookings.cancel("web", "W-1", "guest cancelled")
    hold(services.bookings, "marketplace", "M-1", "SGL")
    # Then the marketplace has it
    assert services.bookings.booking("marketplace", "M-1").status.value == "held"
    assert services.bookings.resource("SGL").free_for("web", NIGHT, None) == 0


def test_a_confirmations_digest_is_proved_by_the_stored_events_and_survives_a_change(
    services: Services, client: TestClient[Litestar], database: str
) -> None:
    # Given a confirmed booking
    hotel(services, {"DLX": ("deluxe", 5)})
    base = "/v1/channels/web/bookings"
    body = {
        "reference": "W-7",
        "resource": "DLX",
        "slots": [NIGHT, "2026-12-25"],
        "quantity": 1,
        "guest": GUEST,
        "currency": "EUR",
    }
    assert client.post(base, json=body).status_code == 201
    confirmed = client.post(f"{base}/W-7/confirmation", json={"payment_reference": "psp-1"})
    assert confirmed.status_code == 200, confirmed.text
    first = confirmed.json()["confirmation"]
    assert first["price"] == {"amount": "240.00", "currency": "EUR"}
    # When the stay is extended by a night
    changed = client.post(
        f"{base}/W-7/modification",
        json={"slots": [NIGHT, "2026-12-25", "2026-12-26"], "quantity": 1},
    )
    assert changed.status_code == 200, changed.text
    second = changed.json()["confirmation"]
    # Then a new document replaces the first, and both are retrievable as issued
    assert second["replaces"] == first["confirmation_number"]
    for document in (first, second):
        answer = client.get(f"{base}/W-7/confirmations/{document['confirmation_number']}")
        assert answer.json() == document
        page = client.get(f"{base}/W-7/confirmations/{document['confirmation_number']}/printable")
        assert page.status_code == 200
        assert document["digest"] in page.text
    # and each digest, recomputed from the stored events, matches the document issued
    mapper = make_mapper()
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM bookings_events "
            "WHERE topic LIKE %s ORDER BY notification_id",
            ("%ConfirmationIssued",),
        ).fetchall()
        # The guest is stored encrypted (decision 0018): read it as the system does.
        states = reveal_states(conn, [bytes(row[3]) for row in rows])
    stored = [
        mapper.to_domain_event(StoredEvent(*row[:3], state)).document
        for row, state in zip(rows, states, strict=True)
    ]
    assert [doc["confirmation_number"] for doc in stored] == [
        first["confirmation_number"],
        second["confirmation_number"],
    ]
    for document, issued in zip(stored, (first, second), strict=True):
        assert digest(document) == document["digest"] == issued["digest"]


def test_a_disruption_rebooks_what_fits_elsewhere_and_flags_the_rest(
    services: Services,
) -> None:
    # Given five bookings of a deluxe room for the night, and another deluxe room with 3 free
    hotel(services, {"DLX-A": ("deluxe", 5), "DLX-B": ("deluxe", 3), "STE": ("suite", 10)})
    for n in range(5):
        hold(services.bookings, CHANNELS[n % 3], f"D-{n}", "DLX-A")
    for n in range(3):
        services.bookings.confirm(CHANNELS[n % 3], f"D-{n}", f"psp-{n}")
    # When DLX-A is closed for that night
    services.bookings.close_slots("DLX-A", [NIGHT], "water damage")
    settle(services)
    services.rebooking.process.run_once()
    # Then three bookings moved to DLX-B, two are flagged, none went to the suite
    bookings = [services.bookings.booking(CHANNELS[n % 3], f"D-{n}") for n in range(5)]
    moved = [b for b in bookings if b.resource == "DLX-B"]
    flagged = [b for b in bookings if b.flagged]
    assert len(moved) == 3
    assert len(flagged) == 2
    assert all(b.resource == "DLX-A" for b in flagged)
    assert services.bookings.resource("DLX-B").free_for("web", NIGHT, None) == 0
    assert services.bookings.resource("STE").uses == {}
    # and the events show it: rebooked, a new confirmation for the confirmed ones, flags
    events = Counter(
        type(event).__name__
        for booking in bookings
        for event in services.bookings.repository.event_store.get(booking.id)
    )
    assert events["BookingRebooked"] == 3
    assert events["BookingFlagged"] == 2
    confirmed_moved = [b for b in moved if b.documents]
    for booking in confirmed_moved:
        assert booking.documents[-1]["resource"] == "DLX-B"
        assert booking.documents[-1]["replaces"] == booking.documents[-2]["confirmation_number"]


def test_one_booking_reference_held_concurrently_many_times_is_one_booking(
    services: Services, database: str
) -> None:
    # Given a room type with 5 rooms
    hotel(services, {"DLX": ("deluxe", 5)})
    apps = [
        BookingsApp(application_env(database, pool_size=4), services.price_book) for _ in range(4)
    ]
    try:
        # When 20 clients on four instances hold web booking "W-1" at the same moment
        barrier = threading.Barrier(20)

        def client(n: int) -> None:
            barrier.wait()
            hold(apps[n % 4], "web", "W-1")

        with ThreadPoolExecutor(max_workers=20) as pool:
            for future in [pool.submit(client, n) for n in range(20)]:
                future.result()
    finally:
        for app in apps:
            app.close()
    # Then there is one booking, holding one room
    assert services.bookings.resource("DLX").used(NIGHT, None) == {"web": 1}


def test_availability_over_http_follows_holds_cancels_and_lapses(
    services: Services, client: TestClient[Litestar]
) -> None:
    # Given 2 rooms, one only for web
    hotel(services, {"DLX": ("deluxe", 2)})
    services.bookings.set_allotment("DLX", "web", 1)
    url = f"/v1/channels/marketplace/resources/DLX/availability?slot={NIGHT}"

    def free() -> int:
        settle(services)
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["items"][0]["available"])

    assert free() == 1  # the pool only
    # When the marketplace holds the pool's room, it has none left
    hold(services.bookings, "marketplace", "M-1")
    assert free() == 0
    # and when it cancels, the room is back at once
    services.bookings.cancel("marketplace", "M-1", "changed plans")
    assert free() == 1
