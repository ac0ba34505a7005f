"""Every route, every kind of caller: 401 without a valid key, 403 for a role the route does
not admit, 2xx for one it does; a channel key never reaches another channel's data."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from api.app import create_app
from api.services import Services
from domain.booking import booking_id
from domain.inventory import Inventory
from domain.order import order_id
from tests.conftest import bearer, issue_key, settle

ROLES = ["admin", "operator", "auditor", "channel:chan-a", "connector:feeds"]
READERS = {"admin", "operator", "auditor"}
OPERATORS = {"admin", "operator"}
CHANNEL_READERS = READERS | {"channel:chan-a", "connector:feeds"}
CHANNEL_WRITERS = OPERATORS | {"channel:chan-a"}
counter = itertools.count(1)


@dataclass
class Op:
    method: str
    path: str  # may hold {n} (unique per call) and names filled by ``prepare``
    allowed: set[str]  # roles expected to get 2xx; "public" for routes open to all
    body: Callable[[int], Any] | None = None
    prepare: Callable[[TestClient[Litestar], int], dict[str, str]] = field(
        default=lambda client, n: {}
    )


def _reserve_for(channel: str) -> Callable[[TestClient[Litestar], int], dict[str, str]]:
    def prepare(client: TestClient[Litestar], n: int) -> dict[str, str]:
        location = "WH-A" if channel == "chan-a" else "WH-B"
        answer = client.post(
            "/v1/skus/SKU-1/reservations",
            json={
                "reservation_id": f"held-{n}",
                "location": location,
                "quantity": 1,
                "reference": f"order-{n}",
                "channel": channel,
            },
        )
        assert answer.status_code == 201, answer.text
        return {"rid": f"held-{n}"}

    return prepare


def _issued_key(client: TestClient[Litestar], n: int) -> dict[str, str]:
    answer = client.post("/v1/keys", json={"name": f"spare {n}", "roles": ["auditor"]})
    assert answer.status_code == 201, answer.text
    return {"kid": answer.json()["key_id"]}


def _promotion(client: TestClient[Litestar], n: int) -> dict[str, str]:
    answer = client.put(f"/v1/promotions/P-{n}", json={"kind": "percent_off", "value": "5"})
    assert answer.status_code == 200, answer.text
    return {"pid": f"P-{n}"}


RULE = {
    "channel": "chan-a",
    "currency": "EUR",
    "skus": ["SKU-1"],
    "base": "10.00",
    "floor": "8.00",
    "ceiling": "12.00",
    "low_atp": 5,
    "high_atp": 500,
    "step_percent": "10",
}


def _rule(client: TestClient[Litestar], n: int) -> dict[str, str]:
    answer = client.put(f"/v1/pricing-rules/R-{n}", json=RULE)
    assert answer.status_code == 200, answer.text
    return {"rule": f"R-{n}"}


LIST = "/v1/channels/chan-a/price-lists/EUR"
ORDERS = "/v1/channels/chan-a/orders"
TEN_EUROS = {"amount": "10", "currency": "EUR"}


def _order_body(number: str, **extra: Any) -> dict[str, Any]:
    return {
        "order_number": number,
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": TEN_EUROS}],
        "ship_to": {"name": "A", "line1": "B", "city": "C", "country": "DE"},
        **extra,
    }


def _order_for(*steps: str, **extra: Any) -> Callable[[TestClient[Litestar], int], dict[str, str]]:
    """An order of chan-a, confirmed by the saga, then taken through ``steps``."""

    def prepare(client: TestClient[Litestar], n: int) -> dict[str, str]:
        number = f"O-{n}"
        placed = client.post(ORDERS, json=_order_body(number, **extra))
        assert placed.status_code == 201, placed.text
        position = placed.headers["ledgerline-position"]
        deadline = time.monotonic() + 20
        while True:
            found = client.get(f"{ORDERS}/{number}?min_position={position}")
            if found.is_success and found.json()["status"] == "confirmed":
                break
            assert time.monotonic() < deadline, found.text
            time.sleep(0.05)
        bodies = {
            "authorise": ("/payments/authorisations", {"amount": TEN_EUROS, "reference": "p"}),
            "capture": ("/payments/captures", {"amount": TEN_EUROS, "reference": "p"}),
            "pick": ("/shipments/1/pick", None),
            "pack": ("/shipments/1/pack", None),
            "ship": ("/shipments/1/ship", None),
        }
        for step in steps:
            path, body = bodies[step]
            answer = client.post(f"{ORDERS}/{number}{path}", json=body)
            assert answer.is_success, answer.text
        return {"num": number, "pos": position}

    return prepare


SHIPPED = ("authorise", "pick", "pack", "ship")
BOOKINGS = "/v1/channels/chan-a/bookings"


def _booking_body(reference: str) -> dict[str, Any]:
    return {
        "reference": reference,
        "resource": "ROOM-1",
        "slots": ["2026-12-24"],
        "quantity": 1,
        "guest": {"name": "G"},
        "currency": "EUR",
    }


def _booking_for(confirmed: bool = False) -> Callable[[TestClient[Litestar], int], dict[str, str]]:
    """A booking of chan-a, held (and confirmed)."""

    def prepare(client: TestClient[Litestar], n: int) -> dict[str, str]:
        reference = f"BK-{n}"
        held = client.post(BOOKINGS, json=_booking_body(reference))
        assert held.status_code == 201, held.text
        number = ""
        if confirmed:
            answer = client.post(
                f"{BOOKINGS}/{reference}/confirmation", json={"payment_reference": "p"}
            )
            assert answer.is_success, answer.text
            number = answer.json()["confirmation"]["confirmation_number"]
            deadline = time.monotonic() + 20  # until the read model has the document
            while not client.get(f"/v1/confirmations/{number}").is_success:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        return {"ref": reference, "number": number}

    return prepare


AUDITORS = {"admin", "auditor"}
AUDIT_STREAM = f"/v1/audit/streams/inventory/{Inventory.create_id('SKU-1')}"
LATER = "2030-01-01T00:00:00Z"


def _audited(
    prepare: Callable[[TestClient[Litestar], int], dict[str, str]],
) -> Callable[[TestClient[Litestar], int], dict[str, str]]:
    """The order's or booking's stream id, for the audit routes that take it."""

    def ids(client: TestClient[Litestar], n: int) -> dict[str, str]:
        names = prepare(client, n)
        if "num" in names:
            return {**names, "oid": str(order_id("chan-a", names["num"]))}
        return {**names, "bid": str(booking_id("chan-a", names["ref"]))}

    return ids


OPS: dict[str, Op] = {
    "live": Op("GET", "/health/live", {"public"}),
    "ready": Op("GET", "/health/ready", {"public"}),
    "MetricsGet": Op("GET", "/metrics", READERS | {"connector:feeds"}),
    "putLocation": Op(
        "PUT", "/v1/locations/LOC-{n}", OPERATORS, lambda n: {"name": "L", "kind": "store"}
    ),
    "listLocations": Op("GET", "/v1/locations", READERS),
    "putChannel": Op(
        "PUT",
        "/v1/channels/CH-{n}",
        OPERATORS,
        lambda n: {"name": "C", "kind": "pos", "locations": ["WH-A"]},
    ),
    "listChannels": Op("GET", "/v1/channels", READERS),
    "putSku": Op("PUT", "/v1/skus/NEW-{n}", OPERATORS, lambda n: {"name": "x"}),
    "getStock": Op("GET", "/v1/skus/SKU-1/stock", READERS),
    "receiveStock": Op(
        "POST", "/v1/skus/SKU-1/receipts", OPERATORS, lambda n: {"location": "WH-A", "quantity": 1}
    ),
    "adjustStock": Op(
        "POST",
        "/v1/skus/SKU-1/adjustments",
        OPERATORS,
        lambda n: {"location": "WH-A", "reason": "correction", "quantity": 1},
    ),
    "transferStock": Op(
        "POST",
        "/v1/skus/SKU-1/transfers",
        OPERATORS,
        lambda n: {"from_location": "WH-A", "to_location": "WH-B", "quantity": 1},
    ),
    "reserveStock": Op(
        "POST",
        "/v1/skus/SKU-1/reservations",
        CHANNEL_WRITERS,
        lambda n: {
            "reservation_id": f"r-{n}",
            "location": "WH-A",
            "quantity": 1,
            "reference": f"o-{n}",
            "channel": "chan-a",
        },
    ),
    "releaseReservation": Op(
        "POST",
        "/v1/skus/SKU-1/reservations/{rid}/release",
        CHANNEL_WRITERS,
        prepare=_reserve_for("chan-a"),
    ),
    "commitReservation": Op(
        "POST",
        "/v1/skus/SKU-1/reservations/{rid}/commit",
        CHANNEL_WRITERS,
        lambda n: {},
        prepare=_reserve_for("chan-a"),
    ),
    "putSafetyBuffer": Op(
        "PUT", "/v1/skus/SKU-1/safety-buffers/chan-a", OPERATORS, lambda n: {"quantity": n % 7}
    ),
    "putReorderPolicy": Op(
        "PUT",
        "/v1/skus/SKU-1/reorder-policies/WH-A",
        OPERATORS,
        lambda n: {"reorder_point": 1, "reorder_quantity": n},
    ),
    "getAvailability": Op("GET", "/v1/channels/chan-a/availability?sku=SKU-1", CHANNEL_READERS),
    "getAvailabilityChanges": Op(
        "GET", "/v1/channels/chan-a/availability/changes", CHANNEL_READERS
    ),
    "createKey": Op(
        "POST", "/v1/keys", {"admin"}, lambda n: {"name": f"k{n}", "roles": ["auditor"]}
    ),
    "listKeys": Op("GET", "/v1/keys", {"admin"}),
    "linkCustomer": Op(
        "POST",
        "/v1/customers/C-{n}/links",
        {"admin"},
        lambda n: {"channel": "chan-a", "reference": f"R-{n}"},
    ),
    "exportCustomer": Op("GET", "/v1/customers/C-{n}/export", {"admin"}),
    "eraseCustomer": Op(
        "POST", "/v1/customers/C-{n}/erasure", {"admin"}, lambda n: {"legal_basis": "test"}
    ),
    "putPriceList": Op("PUT", LIST, OPERATORS, lambda n: {"name": f"list {n}"}),
    "getPriceList": Op("GET", LIST, READERS | {"channel:chan-a"}),
    "setPriceListStatus": Op("PUT", LIST + "/status", OPERATORS, lambda n: {"status": "active"}),
    "schedulePrices": Op(
        "POST", LIST + "/prices", OPERATORS, lambda n: {"prices": [{"sku": "SKU-1", "amount": n}]}
    ),
    "importPrices": Op(
        "POST", LIST + "/imports", OPERATORS, lambda n: [{"sku": "SKU-1", "amount": str(n)}]
    ),
    "rollBackPriceList": Op("POST", LIST + "/rollback", OPERATORS, lambda n: {"to_version": 1}),
    "getPrices": Op("GET", "/v1/channels/chan-a/prices?sku=SKU-1", CHANNEL_READERS),
    "putPriceFloors": Op(
        "PUT", "/v1/price-floors/EUR", OPERATORS, lambda n: {"floors": {"SKU-1": "0.50"}}
    ),
    "putPromotion": Op(
        "PUT", "/v1/promotions/NEW-{n}", OPERATORS, lambda n: {"kind": "percent_off", "value": 5}
    ),
    "getPromotion": Op("GET", "/v1/promotions/{pid}", READERS, prepare=_promotion),
    "endPromotion": Op("POST", "/v1/promotions/{pid}/end", OPERATORS, prepare=_promotion),
    "putPricingRule": Op("PUT", "/v1/pricing-rules/NEW-{n}", OPERATORS, lambda n: RULE),
    "getPricingRule": Op("GET", "/v1/pricing-rules/{rule}", READERS, prepare=_rule),
    "disablePricingRule": Op("POST", "/v1/pricing-rules/{rule}/disable", OPERATORS, prepare=_rule),
    "simulatePricing": Op(
        "POST",
        "/v1/pricing/simulations",
        OPERATORS,
        lambda n: {
            "prices": {
                "channel": "chan-a",
                "currency": "EUR",
                "prices": [{"sku": "SKU-1", "amount": "9.00"}],
            }
        },
    ),
    "revokeKey": Op("POST", "/v1/keys/{kid}/revoke", {"admin"}, lambda n: {}, prepare=_issued_key),
    "putResource": Op(
        "PUT",
        "/v1/resources/R-{n}",
        OPERATORS,
        lambda n: {"name": "R", "resource_class": "std", "slot_kind": "night", "capacity": 5},
    ),
    "getResource": Op("GET", "/v1/resources/ROOM-1", READERS),
    "putAllotment": Op(
        "PUT", "/v1/resources/ROOM-1/allotments/chan-a", OPERATORS, lambda n: {"quantity": n % 3}
    ),
    "putChannelRules": Op(
        "PUT",
        "/v1/resources/ROOM-1/channel-rules/chan-b",
        OPERATORS,
        lambda n: {"stop_sell": [], "min_stay": 1 + n % 2},
    ),
    "closeSlots": Op(
        "POST",
        "/v1/resources/ROOM-2/closures",
        OPERATORS,
        lambda n: {"slots": ["2027-01-01"], "reason": "maintenance"},
    ),
    "holdBooking": Op("POST", BOOKINGS, CHANNEL_WRITERS, lambda n: _booking_body(f"H-{n}")),
    "getBooking": Op(
        "GET", BOOKINGS + "/{ref}", READERS | {"channel:chan-a"}, prepare=_booking_for()
    ),
    "confirmBooking": Op(
        "POST",
        BOOKINGS + "/{ref}/confirmation",
        CHANNEL_WRITERS,
        lambda n: {"payment_reference": "psp"},
        prepare=_booking_for(),
    ),
    "modifyBooking": Op(
        "POST",
        BOOKINGS + "/{ref}/modification",
        CHANNEL_WRITERS,
        lambda n: {"slots": ["2026-12-24", "2026-12-25"], "quantity": 1},
        prepare=_booking_for(),
    ),
    "cancelBooking": Op(
        "POST",
        BOOKINGS + "/{ref}/cancellation",
        CHANNEL_WRITERS,
        lambda n: {"reason": "x"},
        prepare=_booking_for(),
    ),
    "progressBooking": Op(
        "POST",
        BOOKINGS + "/{ref}/stay/check-in",
        OPERATORS,
        prepare=_booking_for(confirmed=True),
    ),
    "getConfirmation": Op(
        "GET",
        BOOKINGS + "/{ref}/confirmations/{number}",
        READERS | {"channel:chan-a"},
        prepare=_booking_for(confirmed=True),
    ),
    "printConfirmation": Op(
        "GET",
        BOOKINGS + "/{ref}/confirmations/{number}/printable",
        READERS | {"channel:chan-a"},
        prepare=_booking_for(confirmed=True),
    ),
    "getResourceAvailability": Op(
        "GET",
        "/v1/channels/chan-a/resources/ROOM-1/availability?slot=2026-12-24",
        CHANNEL_READERS,
    ),
    "getConfirmationByNumber": Op(
        "GET", "/v1/confirmations/{number}", READERS, prepare=_booking_for(confirmed=True)
    ),
    "listBookings": Op("GET", "/v1/bookings?flagged=false", READERS),
    "placeOrder": Op("POST", ORDERS, CHANNEL_WRITERS, lambda n: _order_body(f"N-{n}")),
    "recordPosSale": Op(
        "POST",
        "/v1/channels/chan-a/pos-sales",
        CHANNEL_WRITERS,
        lambda n: {
            "sale_number": f"S-{n}",
            "location": "WH-A",
            "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": TEN_EUROS}],
            "payment_reference": "till",
        },
    ),
    "listChannelOrders": Op("GET", ORDERS, READERS | {"channel:chan-a"}),
    "listOrders": Op("GET", "/v1/orders", READERS),
    "getOrder": Op(
        "GET",
        ORDERS + "/{num}?min_position={pos}",
        READERS | {"channel:chan-a"},
        prepare=_order_for(),
    ),
    "authoriseOrderPayment": Op(
        "POST",
        ORDERS + "/{num}/payments/authorisations",
        CHANNEL_WRITERS,
        lambda n: {"amount": TEN_EUROS, "reference": "psp"},
        prepare=_order_for(),
    ),
    "captureOrderPayment": Op(
        "POST",
        ORDERS + "/{num}/payments/captures",
        CHANNEL_WRITERS,
        lambda n: {"amount": TEN_EUROS, "reference": "psp"},
        prepare=_order_for("authorise"),
    ),
    "recordOrderRefund": Op(
        "POST",
        ORDERS + "/{num}/refunds",
        CHANNEL_WRITERS,
        lambda n: {"refund_id": f"RF-{n}", "amount": TEN_EUROS, "reference": "psp"},
        prepare=_order_for("authorise", "capture"),
    ),
    "advanceShipment": Op(
        "POST",
        ORDERS + "/{num}/shipments/1/pick",
        OPERATORS,
        prepare=_order_for("authorise"),
    ),
    "collectOrder": Op(
        "POST",
        ORDERS + "/{num}/collection",
        CHANNEL_WRITERS,
        prepare=_order_for("authorise", fulfilment="pickup", pickup_location="WH-A", ship_to=None),
    ),
    "cancelOrder": Op(
        "POST",
        ORDERS + "/{num}/cancellation",
        CHANNEL_WRITERS,
        lambda n: {"reason": "test"},
        prepare=_order_for(),
    ),
    "recordReturn": Op(
        "POST",
        ORDERS + "/{num}/returns",
        OPERATORS,
        lambda n: {
            "return_id": f"R-{n}",
            "location": "WH-A",
            "disposition": "sellable",
            "lines": [{"line": 1, "quantity": 1}],
        },
        prepare=_order_for(*SHIPPED),
    ),
    "getAuditStreamEvents": Op("GET", AUDIT_STREAM + "/events", AUDITORS),
    "getAuditLogEvents": Op("GET", "/v1/audit/logs/inventory/events?after=0", AUDITORS),
    "getAuditCorrelation": Op("GET", "/v1/audit/correlations/c-{n}", AUDITORS),
    "getAuditState": Op("GET", AUDIT_STREAM + "/state?version=1", AUDITORS),
    "getAuditAvailabilityAt": Op(
        "GET", "/v1/audit/channels/chan-a/availability?sku=SKU-1&at=" + LATER, AUDITORS
    ),
    "getAuditPricesAt": Op(
        "GET", "/v1/audit/channels/chan-a/prices?sku=SKU-1&at=" + LATER, AUDITORS
    ),
    "getOrderBundle": Op(
        "GET", "/v1/audit/orders/{oid}/bundle", AUDITORS, prepare=_audited(_order_for())
    ),
    "getBookingBundle": Op(
        "GET", "/v1/audit/bookings/{bid}/bundle", AUDITORS, prepare=_audited(_booking_for())
    ),
}


@pytest.fixture
def world(client: TestClient[Litestar], services: Services) -> dict[str, str]:
    """Two channels fed by their own locations, stock in both, and a key of every kind."""
    expiring = issue_key(services, "admin", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    for code in ("WH-A", "WH-B"):
        assert client.put(
            f"/v1/locations/{code}", json={"name": code, "kind": "warehouse"}
        ).is_success
    for code, location in (("chan-a", "WH-A"), ("chan-b", "WH-B")):
        assert client.put(
            f"/v1/channels/{code}",
            json={"name": code, "kind": "marketplace", "locations": [location]},
        ).is_success
    assert client.put("/v1/skus/SKU-1", json={"name": "Widget"}).is_success
    for location in ("WH-A", "WH-B"):
        assert client.post(
            "/v1/skus/SKU-1/receipts", json={"location": location, "quantity": 1000}
        ).is_success
    assert client.put(LIST, json={"name": "chan-a EUR"}).is_success
    assert client.post(LIST + "/prices", json={"prices": [{"sku": "SKU-1", "amount": "10"}]})
    assert client.post(LIST + "/prices", json={"prices": [{"sku": "ROOM-1", "amount": "99"}]})
    assert client.put(LIST + "/status", json={"status": "active"}).is_success
    for room in ("ROOM-1", "ROOM-2"):
        assert client.put(
            f"/v1/resources/{room}",
            json={"name": room, "resource_class": "std", "slot_kind": "night", "capacity": 1000},
        ).is_success
    tokens = {role: issue_key(services, role) for role in ROLES}
    revoked = issue_key(services, "admin")
    key_id = revoked.split("_")[1]
    services.access.revoke_key(key_id, now=datetime.now(UTC))
    tokens["revoked"] = revoked
    tokens["expired"] = expiring
    tokens["wrong"] = "ll_0123456789abcdef_" + "x" * 43
    tokens["malformed"] = "not-a-key"
    time.sleep(1.1)  # let the expiring key pass its expiry
    settle(services)
    return tokens


def _call(client: TestClient[Litestar], op: Op, headers: dict[str, str]) -> Any:
    n = next(counter)
    names = op.prepare(client, n)  # prepared with the client's admin key
    path = op.path.format(n=n, **names)
    body = op.body(n) if op.body is not None else None
    return client.request(op.method, path, json=body, headers=headers)


def test_the_table_covers_every_operation_in_the_openapi_document(
    client: TestClient[Litestar],
) -> None:
    document = client.get("/schema/openapi.json").json()
    operations = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    # A new route must be added to OPS (with the roles it should admit) to pass this suite.
    assert operations == set(OPS)


@pytest.mark.parametrize("operation", sorted(OPS))
def test_each_caller_gets_what_its_key_allows(
    operation: str, client: TestClient[Litestar], world: dict[str, str]
) -> None:
    op = OPS[operation]
    # No key, a malformed, unknown, revoked or expired key: 401 (unless the route is public)
    for name in (None, "malformed", "wrong", "revoked", "expired"):
        headers = {"Authorization": ""} if name is None else bearer(world[name])
        answer = _call(client, op, headers)
        if "public" in op.allowed:
            assert answer.status_code == 200, (name, answer.text)
        else:
            assert answer.status_code == 401, (name, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.json()["type"] == "urn:ledgerline:problem:unauthenticated"
    # Each role: 2xx where admitted, 403 where not
    for role in ROLES:
        answer = _call(client, op, bearer(world[role]))
        if "public" in op.allowed or role in op.allowed:
            assert 200 <= answer.status_code < 300, (role, answer.text)
        else:
            assert answer.status_code == 403, (role, answer.text)
            assert answer.json()["type"] == "urn:ledgerline:problem:forbidden"


def test_a_channel_key_reaches_nothing_of_another_channel(
    client: TestClient[Litestar], world: dict[str, str]
) -> None:
    channel_a = bearer(world["channel:chan-a"])
    b_reservation = _reserve_for("chan-b")(client, next(counter))["rid"]
    attempts = [
        ("GET", "/v1/channels/chan-b/availability?sku=SKU-1", None),
        ("GET", "/v1/channels/chan-b/availability/changes", None),
        (
            "POST",
            "/v1/skus/SKU-1/reservations",
            {
                "reservation_id": "steal-1",
                "location": "WH-B",
                "quantity": 1,
                "reference": "x",
                "channel": "chan-b",
            },
        ),
        ("POST", f"/v1/skus/SKU-1/reservations/{b_reservation}/release", None),
        ("POST", f"/v1/skus/SKU-1/reservations/{b_reservation}/commit", {}),
        ("GET", "/v1/skus/SKU-1/stock", None),  # shows every channel's figures
        ("GET", "/v1/channels", None),
        # the audit reads span every channel: no channel key reads them, not even its own
        ("GET", f"/v1/audit/channels/chan-b/availability?sku=SKU-1&at={LATER}", None),
        ("GET", f"/v1/audit/channels/chan-a/prices?sku=SKU-1&at={LATER}", None),
        ("GET", "/v1/audit/logs/inventory/events", None),
    ]
    for method, path, body in attempts:
        answer = client.request(method, path, json=body, headers=channel_a)
        assert answer.status_code in (403, 404), (path, answer.status_code, answer.text)
    # and what channel A's own successful writes answer shows only channel A's figure
    own = client.post(
        "/v1/skus/SKU-1/reservations",
        json={"reservation_id": "own-1", "location": "WH-A", "quantity": 1, "reference": "x"},
        headers=channel_a,
    )
    assert own.status_code == 201, own.text
    for answer in (
        own,
        client.post("/v1/skus/SKU-1/reservations/own-1/commit", json={}, headers=channel_a),
    ):
        body = answer.json()
        assert set(body) == {"sku", "version", "channel", "available", "reservation"}
        assert body["channel"] == "chan-a"
        assert "WH-B" not in answer.text
        assert "chan-b" not in answer.text
    # and asking too much at channel B's location says nothing of the stock there
    probe = client.post(
        "/v1/skus/SKU-1/reservations",
        json={"reservation_id": "probe", "location": "WH-B", "quantity": 10**6, "reference": "x"},
        headers=channel_a,
    )
    assert probe.json()["type"] == "urn:ledgerline:problem:location-not-in-channel"
    assert "available" not in probe.json()
    # and channel B's reservation is untouched
    stock = client.get("/v1/skus/SKU-1/stock").json()
    assert {row["location"]: row["reserved"] for row in stock["locations"]}["WH-B"] == 1


def test_events_record_the_acting_key_and_its_channel(
    client: TestClient[Litestar], services: Services, world: dict[str, str]
) -> None:
    answer = client.post(
        "/v1/skus/SKU-1/reservations",
        json={"reservation_id": "by-a", "location": "WH-A", "quantity": 2, "reference": "o"},
        headers=bearer(world["channel:chan-a"]),
    )
    assert answer.status_code == 201, answer.text
    position = int(answer.headers["ledgerline-position"])
    [notification] = services.inventory.recorder.select_notifications(position, 1)
    _, meta = services.follower.mapper.decode(notification)
    assert meta.actor == world["channel:chan-a"].split("_")[1]
    assert meta.channel == "chan-a"
    assert services.inventory.stock("SKU-1").reservations["by-a"].channel == "chan-a"


def test_no_raw_key_is_stored_anywhere(
    client: TestClient[Litestar], services: Services, world: dict[str, str]
) -> None:
    # Given keys that were created over the API (with an idempotency key) and used to write
    created = client.post(
        "/v1/keys",
        json={"name": "to find", "roles": ["operator"]},
        headers={"Idempotency-Key": "create-find"},
    )
    token = created.json()["token"]
    retried = client.post(
        "/v1/keys",
        json={"name": "to find", "roles": ["operator"]},
        headers={"Idempotency-Key": "create-find"},
    )
    assert retried.json()["token"] is None  # shown once, even to a retry
    assert client.post(
        "/v1/skus/SKU-1/receipts", json={"location": "WH-A", "quantity": 1}, headers=bearer(token)
    ).is_success
    secrets_to_find = [token, token.split("_", 2)[2]] + [
        world[role].split("_", 2)[2] for role in ROLES
    ]

    # When every column of every table in the database is searched for them
    found: list[str] = []
    with psycopg.connect(services.follower.conninfo) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert any(table == "access_events" for _, table, _, _ in columns)
        for schema, table, column, data_type in columns:
            for secret in secrets_to_find:
                if data_type == "bytea":
                    condition = "position(convert_to(%s, 'UTF8') in {c}) > 0"
                else:
                    condition = "{c}::text LIKE '%%' || %s || '%%'"
                query = psycopg.sql.SQL("SELECT count(*) FROM {t} WHERE " + condition).format(
                    t=psycopg.sql.Identifier(schema, table), c=psycopg.sql.Identifier(column)
                )
                row = conn.execute(query, (secret,)).fetchone()
                if row and row[0]:
                    found.append(f"{schema}.{table}.{column}")

    # Then no raw key or secret is stored (whole secrets: a fragment could match by chance)
    assert all(len(secret) == 43 for secret in secrets_to_find[1:])
    assert found == []


def test_a_route_that_declares_no_roles_is_refused(services: Services, admin_token: str) -> None:
    app = create_app(services)

    @get("/v1/forgotten", operation_id="forgotten")
    async def forgotten() -> str:
        return "should never be served"

    app.register(forgotten)
    with TestClient(app) as client:
        answer = client.get("/v1/forgotten", headers=bearer(admin_token))
    assert answer.status_code == 403
    assert "declares no roles" in answer.json()["detail"]


def test_every_route_handler_declares_its_roles(services: Services) -> None:
    app = create_app(services)
    undeclared = [
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        # Litestar adds an OPTIONS handler per path; the guard refuses it (no CORS here).
        if handler.http_methods != {"OPTIONS"}
        and not (
            handler.opt.get("roles")
            or handler.opt.get("public")
            or route.path.startswith("/schema")
        )
    ]
    assert undeclared == []


def test_a_key_over_its_rate_gets_429_with_retry_after(
    client: TestClient[Litestar], services: Services, world: dict[str, str]
) -> None:
    services.rate_limiter.rate, services.rate_limiter.burst = 1.0, 3
    auditor = bearer(world["auditor"])
    answers = [client.get("/v1/locations", headers=auditor) for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[4].status_code == 429
    assert int(answers[4].headers["retry-after"]) >= 1
    assert answers[4].json()["type"] == "urn:ledgerline:problem:rate-limited"
    # another key is not held back by it
    assert client.get("/v1/locations", headers=bearer(world["operator"])).status_code == 200


def test_refusals_are_logged_without_the_key_and_counted(
    client: TestClient[Litestar], world: dict[str, str]
) -> None:
    def refusals(reason: str) -> float:
        value = REGISTRY.get_sample_value("ledgerline_auth_refusals_total", {"reason": reason})
        return value or 0.0

    before = {reason: refusals(reason) for reason in ("invalid", "denied")}
    wrong = world["wrong"]
    with capture_logs() as logs:
        assert client.get("/v1/locations", headers=bearer(wrong)).status_code == 401
        assert client.get("/v1/keys", headers=bearer(world["auditor"])).status_code == 403
    logged = [entry for entry in logs if entry["event"] == "auth.refused"]
    assert [entry["reason"] for entry in logged] == ["invalid", "denied"]
    assert wrong not in repr(logs)
    assert wrong.split("_", 2)[2] not in repr(logs)
    assert refusals("invalid") == before["invalid"] + 1
    assert refusals("denied") == before["denied"] + 1
    assert "ledgerline_auth_refusals_total" in client.get("/metrics").text


def test_a_revoked_key_stays_refused_even_if_a_stale_copy_is_cached(
    services: Services,
) -> None:
    # Given a key that was loaded (cached) before it was revoked in this process
    token = issue_key(services, "auditor")
    key_id = token.split("_")[1]
    now = datetime.now(UTC)
    assert services.access.authenticate(token, now) is not None
    stale = services.access._cache[key_id]
    services.access.revoke_key(key_id, now=now)

    # When a load that began before the revocation puts the old state back
    services.access._cache[key_id] = stale

    # Then the key is still refused
    assert services.access.authenticate(token, now) is None
    assert services.access.authenticate_cached(token, now) is None
