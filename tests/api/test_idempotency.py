"""A write retried with the same Idempotency-Key returns the first answer and writes nothing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from tests.conftest import count_events


@pytest.fixture
def stocked(client: TestClient[Litestar]) -> TestClient[Litestar]:
    assert client.put("/v1/locations/WH1", json={"name": "WH", "kind": "warehouse"}).is_success
    assert client.put("/v1/skus/SKU-1", json={"name": "Widget"}).is_success
    return client


def test_a_retried_receipt_returns_the_first_answer_and_writes_nothing(
    stocked: TestClient[Litestar], services: Services
) -> None:
    # Given a receipt that was answered once
    headers = {"Idempotency-Key": "receipt-0001"}
    first = stocked.post(
        "/v1/skus/SKU-1/receipts", json={"location": "WH1", "quantity": 7}, headers=headers
    )
    assert first.status_code == 200
    events = count_events(services.follower.conninfo)

    # When the client retries it with the same key
    retry = stocked.post(
        "/v1/skus/SKU-1/receipts", json={"location": "WH1", "quantity": 7}, headers=headers
    )

    # Then it gets the very same answer, marked as a replay, and no event was written
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["ledgerline-position"] == first.headers["ledgerline-position"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert count_events(services.follower.conninfo) == events
    assert services.inventory.stock("SKU-1").at("WH1").on_hand == 7


def test_concurrent_retries_with_one_key_write_once(
    stocked: TestClient[Litestar], services: Services
) -> None:
    # Given a client that fires the same reservation request 12 times at once (a retry storm)
    assert stocked.post(
        "/v1/skus/SKU-1/receipts", json={"location": "WH1", "quantity": 100}
    ).is_success
    events = count_events(services.follower.conninfo)
    barrier = threading.Barrier(12)

    def send(n: int) -> tuple[int, str]:
        barrier.wait()
        answer = stocked.post(
            "/v1/skus/SKU-1/receipts",
            json={"location": "WH1", "quantity": 3},
            headers={"Idempotency-Key": "storm"},
        )
        return answer.status_code, answer.headers.get("ledgerline-position", "")

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(send, range(12)))

    # Then every caller got the same successful answer, and exactly one event was written
    assert {status for status, _ in answers} == {200}
    assert len({position for _, position in answers}) == 1
    assert count_events(services.follower.conninfo) == events + 1
    assert services.inventory.stock("SKU-1").at("WH1").on_hand == 103


def test_a_key_reused_for_a_different_request_is_refused(
    stocked: TestClient[Litestar], services: Services
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    assert (
        stocked.post(
            "/v1/skus/SKU-1/receipts", json={"location": "WH1", "quantity": 1}, headers=headers
        ).status_code
        == 200
    )
    events = count_events(services.follower.conninfo)

    reused = stocked.post(
        "/v1/skus/SKU-1/receipts", json={"location": "WH1", "quantity": 2}, headers=headers
    )

    assert reused.status_code == 409
    assert reused.json()["type"] == "urn:ledgerline:problem:idempotency-key-reused"
    assert count_events(services.follower.conninfo) == events


def test_stale_if_match_is_a_conflict_and_writes_nothing(
    stocked: TestClient[Litestar], services: Services
) -> None:
    first = stocked.post("/v1/skus/SKU-1/receipts", json={"location": "WH1", "quantity": 1})
    version = first.headers["etag"]
    assert stocked.post(
        "/v1/skus/SKU-1/receipts", json={"location": "WH1", "quantity": 1}
    ).is_success
    events = count_events(services.follower.conninfo)

    stale = stocked.post(
        "/v1/skus/SKU-1/adjustments",
        json={"location": "WH1", "reason": "cycle_count", "quantity": 0},
        headers={"If-Match": version},
    )

    assert stale.status_code == 409
    assert stale.json()["type"] == "urn:ledgerline:problem:version-mismatch"
    assert count_events(services.follower.conninfo) == events
