"""What the fuzzer found: each odd input once answered with a 5xx (or worse), pinned here."""

from __future__ import annotations

import uuid

from litestar import Litestar
from litestar.testing import TestClient

PROBLEM = "application/problem+json"


def test_an_unknown_stay_step_is_a_bad_request_not_a_server_error(
    client: TestClient[Litestar],
) -> None:
    # given a path naming no stay step (the step was a msgspec pattern Litestar never checked)
    # when it is posted
    answer = client.post("/v1/channels/web/bookings/B1/stay/0")
    # then it is refused as bad input
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM


def test_invented_paths_add_no_metric_series(client: TestClient[Litestar]) -> None:
    # given a request to a path nobody else will ever send
    invented = f"SKU-{uuid.uuid4().hex}"
    client.get(f"/v1/skus/{invented}/stock")
    # when the metrics are read
    metrics = client.get("/metrics").text
    # then the request is counted under its route, not under the path it sent
    assert invented not in metrics
    assert 'path="/v1/skus/{sku}/stock"' in metrics


def test_the_document_describes_error_answers_as_problems(client: TestClient[Litestar]) -> None:
    # given the OpenAPI document
    document = client.get("/schema/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete"}
    ]
    # then every operation's 4xx answers are problem documents, and the key is asked for
    problem = document["components"]["responses"]["Problem"]["content"]
    assert PROBLEM in problem
    assert all(op["responses"]["4XX"]["$ref"].endswith("/Problem") for _, _, op in operations)
    assert not [f"{m} {p}" for p, m, op in operations if "400" in op["responses"]]
    assert document["security"] == [{"apiKey": []}]
    assert document["paths"]["/health/live"]["get"]["security"] == []
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
