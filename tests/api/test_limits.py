"""Every input has a bound (docs/api-limits.md); past it: a problem, and nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.limits import MAX_DEPTH, NestingTooDeep, check_depth
from api.services import Services
from tests.conftest import count_events

PROBLEM = "application/problem+json"


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "body over 64 KiB",
        "POST",
        "/v1/skus/SKU-1/receipts",
        {"content": b'{"location": "WH1", "quantity": 1, "x": "' + b"a" * 70_000 + b'"}'},
        413,
        "body-too-large",
    ),
    (
        # Litestar decodes untyped before converting: this recursed to a 500 before the limit.
        "typed body nested too deep",
        "POST",
        "/v1/skus/SKU-1/receipts",
        {"content": b'{"location": ' + nested(5_000) + b', "quantity": 1}'},
        422,
        "nesting-too-deep",
    ),
    (
        "body just past the nesting limit",
        "POST",
        "/v1/skus/SKU-1/receipts",
        {"content": b'{"location": ' + nested(MAX_DEPTH) + b', "quantity": 1}'},
        422,
        "nesting-too-deep",
    ),
    (
        "price file nested too deep",
        "POST",
        "/v1/channels/web/price-lists/EUR/imports",
        {"content": nested(5_000), "headers": {"content-type": "application/json"}},
        422,
        "nesting-too-deep",
    ),
    (
        "name longer than 200",
        "PUT",
        "/v1/locations/WH2",
        {"json": {"name": "n" * 201, "kind": "store"}},
        400,
        "invalid-request",
    ),
    (
        "code longer than 64",
        "POST",
        "/v1/skus/SKU-1/receipts",
        {"json": {"location": "W" * 65, "quantity": 1}},
        400,
        "invalid-request",
    ),
    (
        "page larger than 1000",
        "GET",
        "/v1/channels/web/availability/changes?limit=1001",
        {},
        400,
        "invalid-request",
    ),
    (
        "order page larger than 500",
        "GET",
        "/v1/orders?limit=501",
        {},
        400,
        "invalid-request",
    ),
    (
        "more than 500 SKUs asked at once",
        "GET",
        "/v1/channels/web/availability?" + "&".join(f"sku=S{n}" for n in range(501)),
        {},
        400,
        "invalid-request",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "send", "status", "slug"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_input_past_a_limit_is_a_problem_and_writes_nothing(
    client: TestClient[Litestar],
    services: Services,
    method: str,
    path: str,
    send: dict[str, Any],
    status: int,
    slug: str,
) -> None:
    # given a network with a SKU
    assert client.put("/v1/locations/WH1", json={"name": "WH", "kind": "warehouse"}).is_success
    assert client.put(
        "/v1/channels/web", json={"name": "Web", "kind": "web_shop", "locations": ["WH1"]}
    ).is_success
    assert client.put("/v1/skus/SKU-1", json={"name": "Widget"}).is_success
    before = count_events(services.follower.conninfo)
    # when a request goes past one limit
    answer = client.request(method, path, **send)
    # then it is refused with the limit's problem, and nothing is written
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == f"urn:ledgerline:problem:{slug}"
    assert count_events(services.follower.conninfo) == before


def test_nesting_up_to_the_limit_passes_and_brackets_in_strings_are_text() -> None:
    # given JSON exactly at the limit, and a string full of brackets
    check_depth(nested(MAX_DEPTH))
    check_depth(b'{"name": "' + b"[{" * 1000 + b'"}')
    # when one more level is added, then it is refused
    with pytest.raises(NestingTooDeep):
        check_depth(nested(MAX_DEPTH + 1))
    # and an escaped quote does not end a string early
    check_depth(b'["\\"' + b"[" * 100 + b'"]')
