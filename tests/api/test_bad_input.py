"""Bad input is answered with a 4xx problem+json, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from tests.conftest import count_events

PROBLEM = "application/problem+json"


@pytest.fixture
def network(client: TestClient[Litestar]) -> TestClient[Litestar]:
    assert client.put("/v1/locations/WH1", json={"name": "WH", "kind": "warehouse"}).is_success
    assert client.put(
        "/v1/channels/web", json={"name": "Web", "kind": "web_shop", "locations": ["WH1"]}
    ).is_success
    assert client.put("/v1/skus/SKU-1", json={"name": "Widget"}).is_success
    assert client.post(
        "/v1/skus/SKU-1/receipts", json={"location": "WH1", "quantity": 5}
    ).is_success
    return client


RECEIPTS = "/v1/skus/SKU-1/receipts"
CASES: list[tuple[str, str, Any, int, str]] = [
    (
        "coordinate too fine to store",
        "/v1/locations/WH2",
        {"name": "x", "kind": "store", "latitude": "1e-20000", "longitude": "1"},
        422,
        "invalid-value",
    ),
    (
        "NUL in a name",
        "/v1/locations/WH2",
        {"name": "bad\u0000name", "kind": "store"},
        422,
        "invalid-value",
    ),
    (
        "control character in a reference",
        "/v1/skus/SKU-1/reservations",
        {"reservation_id": "r9", "location": "WH1", "quantity": 1, "reference": "a\u0007b"},
        422,
        "invalid-value",
    ),
    (
        "key expiry as a number",
        "/v1/keys",
        {"name": "k", "roles": ["auditor"], "expires_at": 1893456000},
        400,
        "invalid-request",
    ),
    ("negative quantity", RECEIPTS, {"location": "WH1", "quantity": -1}, 400, "invalid-request"),
    ("zero quantity", RECEIPTS, {"location": "WH1", "quantity": 0}, 400, "invalid-request"),
    ("fractional quantity", RECEIPTS, {"location": "WH1", "quantity": 1.5}, 400, "invalid-request"),
    ("quantity as text", RECEIPTS, {"location": "WH1", "quantity": "5"}, 400, "invalid-request"),
    ("quantity as float", RECEIPTS, {"location": "WH1", "quantity": 2.0}, 400, "invalid-request"),
    (
        "unknown field",
        RECEIPTS,
        {"location": "WH1", "quantity": 1, "note": "x"},
        400,
        "invalid-request",
    ),
    ("missing field", RECEIPTS, {"location": "WH1"}, 400, "invalid-request"),
    ("malformed JSON", RECEIPTS, b'{"location": "WH1", "quantity": ', 400, "invalid-request"),
    (
        "unknown SKU",
        "/v1/skus/NOPE/receipts",
        {"location": "WH1", "quantity": 1},
        404,
        "unknown-sku",
    ),
    ("unknown location", RECEIPTS, {"location": "WH9", "quantity": 1}, 404, "unknown-location"),
    (
        "oversized body",
        RECEIPTS,
        b'{"location": "' + b"W" * 70_000 + b'", "quantity": 1}',
        413,
        "body-too-large",
    ),
    (
        "bad location code",
        RECEIPTS,
        {"location": "has space", "quantity": 1},
        400,
        "invalid-request",
    ),
    (
        "bad GTIN check digit",
        "/v1/skus/SKU-2",
        {"name": "x", "gtin": "4006381333932"},
        422,
        "invalid-value",
    ),
    (
        "reserve more than stock",
        "/v1/skus/SKU-1/reservations",
        {
            "reservation_id": "r1",
            "location": "WH1",
            "quantity": 6,
            "reference": "o1",
            "channel": "web",
        },
        409,
        "insufficient-stock",
    ),
    (
        "naive expiry time",
        "/v1/skus/SKU-1/reservations",
        {
            "reservation_id": "r1",
            "location": "WH1",
            "quantity": 1,
            "reference": "o1",
            "expires_at": "2030-01-01T00:00:00",
        },
        400,
        "invalid-request",
    ),
    (
        "damage as a positive delta",
        "/v1/skus/SKU-1/adjustments",
        {"location": "WH1", "reason": "damage", "quantity": 2},
        422,
        "invalid-value",
    ),
    (
        "unknown adjustment reason",
        "/v1/skus/SKU-1/adjustments",
        {"location": "WH1", "reason": "theft", "quantity": -1},
        400,
        "invalid-request",
    ),
    (
        "channel fed by unknown location",
        "/v1/channels/web2",
        {"name": "W", "kind": "web_shop", "locations": ["WH9"]},
        404,
        "unknown-location",
    ),
    (
        "release of unknown reservation",
        "/v1/skus/SKU-1/reservations/r404/release",
        None,
        404,
        "reservation-not-found",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "slug"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_problem_and_writes_nothing(
    network: TestClient[Litestar],
    services: Services,
    path: str,
    body: Any,
    status: int,
    slug: str,
) -> None:
    # Given a known number of stored events
    before = count_events(services.follower.conninfo)

    # When a bad command is sent
    if isinstance(body, bytes):
        answer = network.post(path, content=body, headers={"content-type": "application/json"})
    elif path.startswith(("/v1/channels", "/v1/locations")) or path == "/v1/skus/SKU-2":
        answer = network.put(path, json=body)
    else:
        answer = network.post(path, json=body)

    # Then it is refused with a problem document naming the error, and nothing was written
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    problem = answer.json()
    assert problem["type"] == f"urn:ledgerline:problem:{slug}"
    assert problem["status"] == status
    assert problem["detail"]
    assert count_events(services.follower.conninfo) == before


def test_unknown_route_and_method_are_problems_too(client: TestClient[Litestar]) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)
    wrong = client.delete("/v1/locations/WH1")
    assert wrong.status_code == 405
    assert wrong.json()["type"] == "urn:ledgerline:problem:method-not-allowed"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/skus/a%00b/stock",
        "/v1/channels/we%00b/availability?sku=A",
        "/v1/channels/web/availability?sku=A%00",
        "/v1/channels/we%00b/availability/changes",
        "/v1/channels/web/availability/changes?cursor=OTk5OTk5OTk5OTk5OTk5OTk5OTk6QQ==",
        "/v1/channels/web/availability/changes?cursor=MTphAGI=",
    ],
)
def test_odd_characters_in_paths_and_cursors_are_problems_not_crashes(
    network: TestClient[Litestar], path: str
) -> None:
    answer = network.get(path)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
