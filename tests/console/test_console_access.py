"""Every console page, every kind of key: an auditor reads every page and is offered no write
control; an operator writes; a channel or connector key cannot log in; no session means the
login page; a form without its CSRF token, or with bad input, writes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from domain.price_list import PriceChange
from infrastructure.audit.checkpoints import Checkpointer
from tests.audit.test_bundle import placed_and_paid_order
from tests.conftest import count_events, issue_key, settle

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# A form that posts is a write control, except the one that logs out.
WRITE_FORM = re.compile(r'<form method="post" action="(?!/console/logout)')


def log_in(client: TestClient[Litestar], token: str) -> Any:
    form = client.get("/console/login")
    found = CSRF.search(form.text)
    assert form.status_code == 200
    assert found is not None
    return client.post(
        "/console/login",
        data={"csrf": found.group(1), "api_key": token},
        follow_redirects=False,
    )


def csrf_of(client: TestClient[Litestar], path: str) -> str:
    found = CSRF.search(client.get(path).text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def world(client: TestClient[Litestar], services: Services, database: str) -> dict[str, str]:
    """Given a paid order web/W-1, a confirmed booking web/B-1 and a signed checkpoint."""
    placed = placed_and_paid_order(client, services)
    assert client.put(
        "/v1/resources/ROOM-A",
        json={"name": "Room A", "resource_class": "double", "slot_kind": "night", "capacity": 2},
    ).status_code in (200, 201)
    services.pricing.schedule_prices(
        "web", "EUR", [PriceChange("ROOM-A", Decimal("80.00"))], datetime.now(UTC)
    )
    settle(services)
    held = client.post(
        "/v1/channels/web/bookings",
        json={
            "reference": "B-1",
            "resource": "ROOM-A",
            "slots": ["2027-01-10"],
            "quantity": 1,
            "guest": {"name": "Erika Mustermann"},
            "currency": "EUR",
        },
    )
    assert held.status_code == 201, held.text
    settle(services)
    Checkpointer(database, None).checkpoint()
    return {"order_id": placed["order_id"], "booking_id": held.json()["booking_id"]}


def pages(world: dict[str, str]) -> list[str]:
    return [
        "/console/dashboard",
        "/console/stock",
        "/console/stock?q=TE",
        "/console/stock/TEE",
        "/console/stock/TEE/timeline",
        "/console/orders",
        "/console/orders?channel=web&status=confirmed&sku=TEE",
        f"/console/orders/{world['order_id']}",
        "/console/bookings",
        "/console/bookings?channel=web&resource=ROOM-A",
        "/console/bookings/web/B-1",
        "/console/prices?sku=TEE",
        f"/console/prices?sku=TEE&at={datetime.now(UTC).isoformat().replace('+00:00', 'Z')}",
        f"/console/disputes/orders/{world['order_id']}",
        f"/console/disputes/bookings/{world['booking_id']}",
        "/console/connectors",
        "/console/feed",
    ]


def test_an_auditor_reads_every_page_and_is_offered_no_write_control(
    client: TestClient[Litestar], services: Services, world: dict[str, str]
) -> None:
    # Given an auditor logged in
    assert log_in(client, issue_key(services, "auditor")).status_code == 303
    for path in pages(world):
        # When the auditor opens each page
        page = client.get(path)
        # Then it answers, and holds no form that writes
        assert page.status_code == 200, (path, page.text[:500])
        assert "text/html" in page.headers["content-type"]
        assert WRITE_FORM.search(page.text) is None, path
        assert 'class="write"' not in page.text, path


def test_an_operator_sees_the_adjustment_form_but_no_dispute_bundle(
    client: TestClient[Litestar], services: Services, world: dict[str, str]
) -> None:
    # Given an operator logged in
    assert log_in(client, issue_key(services, "operator")).status_code == 303
    # When they look up TEE's prices, then each channel's effective price is shown
    prices = client.get("/console/prices?sku=TEE")
    assert re.search(r'data-channel="web"><td>web</td>\s*<td class="num">19.90 EUR', prices.text)
    # When they open the SKU, then the adjustment form is there
    assert WRITE_FORM.search(client.get("/console/stock/TEE").text) is not None
    # and dispute bundles are for auditors and admins only (as on the API)
    refused = client.get(f"/console/disputes/orders/{world['order_id']}")
    assert refused.status_code == 403
    assert "roles do not allow" in refused.text


def test_no_session_or_a_channel_or_connector_key_opens_no_page(
    client: TestClient[Litestar], services: Services, world: dict[str, str]
) -> None:
    # Given the test client, which sends an admin key's bearer header with every request:
    # the console reads only its own session, so that header is no way around the login
    for role in (None, "channel:web", "connector:feeds"):
        if role is not None:
            # When a channel (or connector) key tries to log in, then it is refused there
            answer = log_in(client, issue_key(services, role))
            assert answer.status_code == 403
            assert "cannot use the console" in answer.text
        for path in pages(world):
            # and every page sends it back to the login form
            page = client.get(path, follow_redirects=False)
            assert page.status_code == 303, (role, path)
            assert page.headers["location"] == "/console/login"
        # and a live stream, which cannot follow a redirect, answers 401
        assert client.get("/console/live/stock/TEE").status_code == 401
    assert log_in(client, "ll_nonsense").status_code == 401


def test_a_revoked_key_is_logged_out_at_once(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given an auditor logged in
    issued = services.access.issue_key("auditor", ["auditor"], now=datetime.now(UTC))
    assert issued.token is not None
    assert log_in(client, issued.token).status_code == 303
    assert client.get("/console/orders").status_code == 200
    # When the key is revoked, then the session stops working
    key_id = issued.outcome.body["key_id"]
    services.access.revoke_key(key_id, now=datetime.now(UTC), reason="left")
    page = client.get("/console/orders", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login"


def test_an_adjustment_needs_the_csrf_token_and_valid_input_and_writes_only_then(
    client: TestClient[Litestar], services: Services, database: str, world: dict[str, str]
) -> None:
    # Given an operator logged in
    assert log_in(client, issue_key(services, "operator")).status_code == 303
    token = csrf_of(client, "/console/stock/TEE")
    before = count_events(database)
    form = {"location": "SOUTH", "reason": "damage", "quantity": "-1"}
    # When the form comes without its token, or with a wrong one, or with bad values
    no_token = client.post("/console/stock/TEE/adjustments", data=form)
    wrong = client.post("/console/stock/TEE/adjustments", data={**form, "csrf": "x"})
    bad = client.post(
        "/console/stock/TEE/adjustments", data={**form, "csrf": token, "quantity": "lots"}
    )
    unknown = client.post(
        "/console/stock/TEE/adjustments", data={**form, "csrf": token, "location": "MOON"}
    )
    # Then each is refused with a page saying why, and nothing is written
    assert no_token.status_code == 403
    assert "CSRF" in no_token.text
    assert wrong.status_code == 403
    assert bad.status_code == 422
    assert "whole quantity" in bad.text
    assert unknown.status_code in (404, 409, 422), unknown.text
    assert count_events(database) == before
    # When it comes right, then one adjustment is written, acted as the operator's key
    done = client.post(
        "/console/stock/TEE/adjustments", data={**form, "csrf": token}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert count_events(database) == before + 1
