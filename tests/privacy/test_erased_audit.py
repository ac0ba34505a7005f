"""Must show 2: an erased customer's order still rebuilds as of any time and in a dispute
bundle that verifies offline, its personal fields shown as erased and all else intact."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from domain.customer import erased
from infrastructure.servers import ServerUrls
from tests.audit.test_bundle import cli_env, verify_file
from tests.conftest import settle
from tests.privacy.support import PERSONAL, placed_order

AUDIT = [sys.executable, "-m", "api.cli", "audit"]


def as_erased(state: dict[str, Any]) -> dict[str, Any]:
    """What the state should read after erasure: the same, with personal fields erased."""
    return {**state, "customer": erased(state["customer"]), "ship_to": erased(state["ship_to"])}


def test_state_as_of_and_the_dispute_bundle_of_an_erased_customers_order(
    client: TestClient[Litestar],
    services: Services,
    database: str,
    servers: ServerUrls,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given customer C-1's paid order, and its state as of after payment, read then
    placed = placed_order(client, services)
    paid = client.post(
        "/v1/channels/web/orders/W-1/payments/authorisations",
        json={"amount": {"amount": "39.80", "currency": "EUR"}, "reference": "psp-1"},
    )
    assert paid.status_code in (200, 201), paid.text
    settle(services)
    moment = datetime.now(UTC).isoformat()
    url = f"/v1/audit/streams/orders/{placed['order_id']}/state"
    before = client.get(url, params={"at": moment})
    assert before.status_code == 200, before.text
    assert before.json()["state"]["customer"]["name"] == "Erika Mustermann"

    # When the customer is erased
    assert services.privacy is not None
    services.privacy.erase("C-1", by="dpo@merchant.example", legal_basis="GDPR Art. 17(1)(a)")
    settle(services)

    # Then the state as of that same moment still rebuilds: personal fields erased, and
    # nothing else different (lines, totals, payment, status, versions)
    after = client.get(url, params={"at": moment})
    assert after.status_code == 200, after.text
    assert after.json() == {**before.json(), "state": as_erased(before.json()["state"])}

    # and its dispute bundle is made, anchored to a signed checkpoint
    env = cli_env(database, servers, tmp_path)
    path = tmp_path / "order.json"
    page = tmp_path / "order.html"
    html = ("--html", str(page))
    made = subprocess.run(
        [*AUDIT, "bundle", "order", "web/W-1", "--checkpoint", *("-o", str(path)), *html],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    bundle = json.loads(path.read_text())
    # holding no personal data, in its readable parts or its HTML
    text = path.read_text() + page.read_text()
    assert [p for p in PERSONAL if p in text] == []
    placement = next(e for e in bundle["events"] if e["envelope"]["type"] == "OrderPlaced")
    assert placement["envelope"]["data"]["customer"]["name"] == "[erased]"
    assert placement["envelope"]["data"]["customer"]["customer_id"] == "C-1"
    assert placement["envelope"]["data"]["total"] == {"amount": "39.80", "currency": "EUR"}
    state = bundle["evidence"]["state"]
    assert state["customer"]["email"] == "[erased]"
    assert state["total"] == placed["total"]
    assert bundle["evidence"]["prices_at_placement"]["items"][0]["effective_price"] == {
        "amount": "19.90",
        "currency": "EUR",
    }
    types = [e["envelope"]["type"] for e in bundle["events"]]
    assert "OrderPersonalDataErased" in types  # the bundle says what happened to the data
    # and it verifies offline: its hashes cover the stored ciphertext, untouched by erasure
    code, out = verify_file(path, capsys)
    assert code == 0, out
    assert "verified" in out
