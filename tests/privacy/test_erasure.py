"""Must show 1: after a customer's erasure their name, e-mail and address are nowhere in
PostgreSQL nor in anything published afterwards, and every audit proof still verifies."""

from __future__ import annotations

import json
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from infrastructure.servers import ServerUrls
from tests.api.test_orders_api import ADDRESS, order
from tests.conftest import settle
from tests.privacy.support import (
    CUSTOMER,
    EMAIL,
    NAME,
    PERSONAL,
    audit_verify,
    leftovers,
    placed_order,
    relay_everything,
)


def test_erasure_leaves_the_customer_nowhere_and_the_audit_proofs_intact(
    client: TestClient[Litestar],
    services: Services,
    database: str,
    servers: ServerUrls,
    tmp_path: Path,
) -> None:
    # Given customer C-1's order, placed with an idempotency key, routed and paid
    placed = placed_order(client, services)
    paid = client.post(
        "/v1/channels/web/orders/W-1/payments/authorisations",
        json={"amount": {"amount": "39.80", "currency": "EUR"}, "reference": "psp-1"},
    )
    assert paid.status_code in (200, 201), paid.text
    settle(services)
    # the API shows their data, and the event log holds it only encrypted
    shown = client.get("/v1/channels/web/orders/W-1").json()
    assert shown["customer"]["name"] == NAME
    assert shown["ship_to"]["line1"] == "Marienplatz 1"
    before = leftovers(database)
    assert "public.orders_events" not in before.get(NAME, [])
    assert "public.orders_idempotency" not in before.get(NAME, [])
    assert "orders.orders" in before[NAME]  # (the search finds what is there)

    # When the customer is erased
    assert services.privacy is not None
    erasure = services.privacy.erase(
        "C-1", by="dpo@merchant.example", legal_basis="GDPR Art. 17(1)(a)"
    )
    settle(services)

    # Then no table of any schema holds their name, e-mail or address
    assert erasure.keys_destroyed == ["C-1", f"ship_to:{placed['order_id']}"]
    assert leftovers(database) == {}
    # nor does anything the relay publishes now, the old events replayed included
    messages = relay_everything(database, servers.nats_url)
    published = [json.dumps(m, ensure_ascii=False) for m in messages]
    assert [(p, t) for t in published for p in PERSONAL if p in t] == []
    placements = [m for m in messages if m["type"] == "OrderPlaced"]
    assert placements[0]["data"]["customer"]["name"] == "[erased]"
    assert placements[0]["data"]["customer"]["customer_id"] == "C-1"
    assert any(m["type"] == "OrderPersonalDataErased" for m in messages)  # connectors hear of it
    assert leftovers(database) == {}  # the relay's own tables too
    # and the whole log still verifies, chains and checkpoints
    verified = audit_verify(database, servers, tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # The order itself is intact, with the personal fields shown as erased
    after = client.get("/v1/channels/web/orders/W-1").json()
    assert after["customer"] == {"customer_id": "C-1", "name": "[erased]", "email": "[erased]"}
    assert set(after["ship_to"].values()) == {"[erased]"}
    assert after["total"] == shown["total"] == placed["total"]
    assert after["lines"] == shown["lines"]
    assert after["status"] == shown["status"]
    # a retry of the placement answers as the order now reads, and writes nothing
    retried = client.post(
        "/v1/channels/web/orders",
        json=order("W-1", 2, customer=CUSTOMER, ship_to=ADDRESS),
        headers={"Idempotency-Key": "place-W-1"},
    )
    assert retried.status_code == 200, retried.text  # the first answer, as it reads now
    assert retried.json()["customer"]["email"] == "[erased]"
    assert EMAIL not in retried.text
    # and the privacy log records who erased them, when and why
    (recorded,) = services.privacy.erasures("C-1")
    assert recorded["by"] == "dpo@merchant.example"
    assert recorded["legal_basis"] == "GDPR Art. 17(1)(a)"
