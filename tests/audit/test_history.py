"""The audit history over HTTP: a stream's events paged by cursor, a log by position, and a
command's consequences across logs by correlation id, each event in the envelope connectors
receive plus its idempotency key and log hash."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgspec
import psycopg
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from domain.inventory import Inventory
from infrastructure.log_reader import LogReader
from tests.api.test_orders_api import order
from tests.conftest import bearer, issue_key, settle
from tests.orders.support import merchant

ZEROS = "0" * 64


def relayed(database: str, log: str, after: int, limit: int) -> list[dict[str, Any]]:
    """The envelopes the relay publishes for the same positions."""

    async def read() -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            found = await LogReader(log).read(conn, after, limit)
        return [msgspec.to_builtins(envelope) for envelope in found]

    return asyncio.run(read())


def test_a_streams_events_page_by_cursor_with_metadata_and_linked_hashes(
    client: TestClient[Litestar], services: Services, database: str
) -> None:
    # Given a SKU with three receipts, one sent with an idempotency key
    merchant(services, {"TEE": {"SOUTH": 5}})
    answer = client.post(
        "/v1/skus/TEE/receipts",
        json={"location": "NORTH", "quantity": 2},
        headers={"Idempotency-Key": "receipt-77"},
    )
    assert answer.status_code in (200, 201), answer.text
    auditor = bearer(issue_key(services, "auditor"))
    stream = Inventory.create_id("TEE")

    # When an auditor pages through the stream two events at a time
    items: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(
            f"/v1/audit/streams/inventory/{stream}/events", params=params, headers=auditor
        )
        assert page.status_code == 200, page.text
        items.extend(page.json()["items"])
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break

    # Then every version comes once, in order, each linked to the one before by its hash
    versions = [item["event"]["stream_version"] for item in items]
    assert versions == [1, 2, 3]
    assert pages == 2
    assert items[0]["event"]["prev_hash"] == ZEROS
    for before, after in itertools.pairwise(items):
        assert after["event"]["prev_hash"] == before["event"]["hash"]
    # and the last carries the idempotency key, actor and a log hash
    last = items[-1]
    assert last["idempotency_key"] == "receipt-77"
    assert last["event"]["type"] == "StockReceived"
    assert last["event"]["actor"]
    assert len(last["log_hash"]) == 64
    # and each envelope is exactly what the relay publishes for that position
    for item in items:
        position = item["event"]["position"]
        assert relayed(database, "inventory", position - 1, 1) == [item["event"]]


def test_a_log_reads_by_position_and_a_correlation_spans_logs(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given an order placed by web and reserved by the saga
    merchant(services, {"TEE": {"SOUTH": 5}})
    placed = client.post("/v1/channels/web/orders", json=order("W-9", 2))
    assert placed.status_code == 201, placed.text
    settle(services)
    auditor = bearer(issue_key(services, "auditor"))

    # When an auditor reads the orders log from the start, and the inventory log in pages
    orders = client.get("/v1/audit/logs/orders/events", params={"after": 0}, headers=auditor)
    assert orders.status_code == 200, orders.text
    first = client.get("/v1/audit/logs/inventory/events?after=0&limit=5", headers=auditor).json()
    rest = client.get(
        f"/v1/audit/logs/inventory/events?after={first['next_after']}&limit=1000",
        headers=auditor,
    ).json()

    # Then positions run on without a gap, and the order's placement is in its log
    positions = [item["event"]["position"] for item in first["items"] + rest["items"]]
    assert positions == list(range(1, len(positions) + 1))
    assert rest["next_after"] is None
    placement = orders.json()["items"][0]["event"]
    assert placement["type"] == "OrderPlaced"

    # When the auditor asks for everything correlated with the placement
    found = client.get(f"/v1/audit/correlations/{placement['correlation_id']}", headers=auditor)

    # Then it holds the placement and what it caused in the inventory log (routing, holds)
    assert found.status_code == 200, found.text
    events = [(i["event"]["log"], i["event"]["type"]) for i in found.json()["items"]]
    assert ("orders", "OrderPlaced") in events
    assert any(log == "inventory" for log, _ in events), events
    assert all(
        i["event"]["correlation_id"] == placement["correlation_id"] for i in found.json()["items"]
    )
    # and an unrelated id finds nothing
    none = client.get("/v1/audit/correlations/no-such-thing", headers=auditor).json()
    assert none["items"] == []


def test_bad_audit_requests_are_problems(client: TestClient[Litestar], services: Services) -> None:
    # Given one SKU with one event
    assert client.put("/v1/skus/MUG", json={"name": "Mug"}).is_success
    auditor = bearer(issue_key(services, "auditor"))
    stream = Inventory.create_id("TEE")
    mug = Inventory.create_id("MUG")
    cases = [
        (f"/v1/audit/streams/inventory/{mug}/state?version=2", 404, "unknown-stream"),
        (f"/v1/audit/streams/inventory/{mug}/state?at=2000-01-01T00:00:00Z", 404, "unknown-stream"),
        (f"/v1/audit/streams/nowhere/{stream}/events", 422, "invalid-value"),
        (f"/v1/audit/streams/inventory/{stream}/events?cursor=bad", 422, "invalid-value"),
        ("/v1/audit/streams/inventory/not-a-uuid/events", 404, "not-found"),
        ("/v1/audit/logs/inventory/events?after=-1", 400, "invalid-request"),
        (f"/v1/audit/streams/inventory/{stream}/state", 422, "invalid-value"),
        (
            f"/v1/audit/streams/inventory/{stream}/state?version=1&at=2026-01-01T00:00:00Z",
            422,
            "invalid-value",
        ),
        (f"/v1/audit/streams/inventory/{stream}/state?at=yesterday", 400, "invalid-request"),
        (f"/v1/audit/streams/inventory/{stream}/state?version=1", 404, "unknown-stream"),
        (
            "/v1/audit/channels/web/availability?sku=TEE&at=2026-01-01T00:00:00Z",
            404,
            "unknown-channel",
        ),
    ]
    # When an auditor sends each bad request, then each is a problem of its kind
    for path, status, code in cases:
        answer = client.get(path, headers=auditor)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json"), path
        assert answer.json()["type"].endswith(code), (path, answer.text)
    # and the one version there is answers
    found = client.get(f"/v1/audit/streams/inventory/{mug}/state?version=1", headers=auditor)
    assert found.json()["state"]["sku"] == "MUG"
