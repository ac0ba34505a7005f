"""Dispute bundles: made by the real CLI and API from a real order and booking, verified by
``ledgerline audit verify-bundle`` without a database; one changed byte fails it."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.audit_cli import add_audit_commands
from api.services import Services
from domain.price_list import PriceChange
from infrastructure.audit.bundle_check import bundle_digest, check_bundle
from infrastructure.audit.checkpoints import Checkpointer
from infrastructure.connectors.base import FunctionConnector
from infrastructure.connectors.start import Start
from infrastructure.envelope import Envelope
from infrastructure.servers import EmbeddedNats, ServerUrls
from tests.api.test_orders_api import order
from tests.conftest import bearer, issue_key, settle
from tests.connectors.support import handled_ids, relaying, running, wait_for
from tests.orders.support import merchant

CLI = [sys.executable, "-m", "api.cli", "audit"]


def cli_env(database: str, servers: ServerUrls, tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": servers.nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
        "LEDGERLINE_LOG_LEVEL": "warning",
    }
    env.pop("LEDGERLINE_AUDIT_SIGNING_KEY", None)
    return env


def placed_and_paid_order(client: TestClient[Litestar], services: Services) -> dict[str, Any]:
    """Given an order W-1 of 2 TEE placed on web, routed and reserved, and paid."""
    merchant(services, {"TEE": {"SOUTH": 5, "NORTH": 1}})
    placed = client.post("/v1/channels/web/orders", json=order("W-1", 2))
    assert placed.status_code == 201, placed.text
    settle(services)
    paid = client.post(
        "/v1/channels/web/orders/W-1/payments/authorisations",
        json={"amount": {"amount": "39.80", "currency": "EUR"}, "reference": "psp-1"},
    )
    assert paid.status_code in (200, 201), paid.text
    settle(services)
    body: dict[str, Any] = placed.json()
    return body


def verify_file(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    """``ledgerline audit verify-bundle`` through the CLI's own parser and command (in this
    process: ``main`` would also configure logging for the whole test session)."""
    parser = argparse.ArgumentParser(prog="ledgerline")
    add_audit_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", "verify-bundle", str(path), *extra])
    code: int = args.func(args)
    return code, capsys.readouterr().out


def change_one_byte(text: str) -> str:
    """The same text with one character changed (a hex digit or a decimal digit)."""
    index = next(i for i, ch in enumerate(text) if ch in "0123456789abcdef")
    swapped = "1" if text[index] != "1" else "2"
    return text[:index] + swapped + text[index + 1 :]


def test_a_bundle_made_by_the_cli_verifies_offline_and_any_changed_byte_fails_it(
    client: TestClient[Litestar],
    services: Services,
    database: str,
    servers: ServerUrls,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a placed, routed and paid order, and the CLI's bundle of it, anchored to a
    # checkpoint signed just before
    placed = placed_and_paid_order(client, services)
    env = cli_env(database, servers, tmp_path)
    path = tmp_path / "order.json"
    unanchored = tmp_path / "unanchored.json"
    made = subprocess.run(
        [
            *CLI,
            "bundle",
            "order",
            "web/W-1",
            "-o",
            str(unanchored),
            "--html",
            str(tmp_path / "o.html"),
        ],
        env={**env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert "no signed checkpoint" in made.stderr  # nothing signed yet: it says so
    code, out = verify_file(unanchored, capsys)  # and such a bundle does not verify
    assert code == 1
    assert "log orders: no signed checkpoint covers position" in out
    made = subprocess.run(
        [*CLI, "bundle", "order", "web/W-1", "-o", str(path), "--checkpoint"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    key = subprocess.run(
        [*CLI, "public-key"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    bundle = json.loads(path.read_text())

    # Then it holds the order's events, its allocation and holds, the prices and ATP the
    # channel saw, and a proof per log ...
    assert bundle["subject"]["id"] == placed["order_id"]
    types = [(e["log"], e["envelope"]["type"]) for e in bundle["events"]]
    assert ("orders", "OrderPlaced") in types
    assert ("orders", "PaymentAuthorised") in types or len(types) > 3
    assert any(log == "inventory" for log, _ in types)
    assert bundle["evidence"]["prices_at_placement"]["items"][0]["effective_price"] == {
        "amount": "19.90",
        "currency": "EUR",
    }
    assert bundle["evidence"]["atp_at_placement"]["items"] == [
        {"sku": "TEE", "available": 6, "stream_version": 3}
    ]
    assert bundle["evidence"]["reservations"]
    assert set(bundle["proofs"]) == {"orders", "inventory"}
    assert bundle["public_key"] == key
    assert "<table>" in (tmp_path / "o.html").read_text()

    # ... and verifies with no database, by the real command, against the published key
    checked = subprocess.run(
        [*CLI, "verify-bundle", str(path), "--public-key", key],
        env={k: v for k, v in env.items() if not k.startswith("LEDGERLINE_DATABASE")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verified" in checked.stdout

    # When one byte changes anywhere meaningful (and a careful forger even fixes the digest)
    def event_data(b: dict[str, Any]) -> None:
        record = b["events"][0]
        state = bytearray(base64.b64decode(record["state"]))
        at = bytes(state).index(b'"quantity":') + len(b'"quantity":')
        state[at] = ord("9") if state[at] != ord("9") else ord("8")
        record["state"] = base64.b64encode(bytes(state)).decode()

    def readable_data(b: dict[str, Any]) -> None:
        b["events"][0]["envelope"]["actor"] = change_one_byte(b["events"][0]["envelope"]["actor"])

    def event_hash(b: dict[str, Any]) -> None:
        b["events"][0]["hash"] = change_one_byte(b["events"][0]["hash"])

    def chain_link(b: dict[str, Any]) -> None:
        chain = b["proofs"]["orders"]["chain"]
        chain[-1][1] = change_one_byte(chain[-1][1])

    def signature(b: dict[str, Any]) -> None:
        checkpoint = b["proofs"]["inventory"]["checkpoint"]
        checkpoint["signature"] = change_one_byte(checkpoint["signature"])

    def signed_position(b: dict[str, Any]) -> None:
        checkpoint = b["proofs"]["orders"]["checkpoint"]
        checkpoint["log_hash"] = change_one_byte(checkpoint["log_hash"])

    cases: list[tuple[Callable[[dict[str, Any]], None], str]] = [
        (event_data, "stored data does not match its hash"),
        (readable_data, "readable envelope differs from its stored data"),
        (event_hash, "does not match its hash"),
        (chain_link, "the chain folds to"),
        (signature, "bad signature"),
        (signed_position, "bad signature"),
    ]
    for tamper, named in cases:
        for fix_digest in (False, True):
            changed = json.loads(path.read_text())
            tamper(changed)
            if fix_digest:
                changed["digest"] = bundle_digest(changed)
            bad = tmp_path / f"{tamper.__name__}-{fix_digest}.json"
            bad.write_text(json.dumps(changed))
            code, out = verify_file(bad, capsys, "--public-key", key)
            # Then verify-bundle exits 1 and names what failed
            assert code == 1, (tamper.__name__, out)
            assert named in out, (tamper.__name__, out)
            assert ("bundle digest" in out) is not fix_digest, out

    # and a change to the evidence alone breaks the digest
    changed = json.loads(path.read_text())
    changed["evidence"]["state"]["status"] = "cancelled"
    bad = tmp_path / "evidence.json"
    bad.write_text(json.dumps(changed))
    code, out = verify_file(bad, capsys)
    assert code == 1
    assert "bundle digest" in out
    # and a bundle signed by another key than the trusted one fails
    code, out = verify_file(path, capsys, "--public-key", "11" * 32)
    assert code == 1
    assert "bad signature" in out


def test_the_api_serves_order_and_booking_bundles_to_auditors_only(
    client: TestClient[Litestar], services: Services, database: str, servers: ServerUrls
) -> None:
    # Given a paid order, a confirmed booking, and a checkpoint covering both
    placed = placed_and_paid_order(client, services)
    resource = client.put(
        "/v1/resources/ROOM-A",
        json={"name": "Room A", "resource_class": "double", "slot_kind": "night", "capacity": 2},
    )
    assert resource.status_code in (200, 201), resource.text
    services.pricing.schedule_prices(
        "web", "EUR", [PriceChange("ROOM-A", Decimal("80.00"))], datetime.now(UTC)
    )
    settle(services)
    held = client.post(
        "/v1/channels/web/bookings",
        json={
            "reference": "B-1",
            "resource": "ROOM-A",
            "slots": ["2027-01-10", "2027-01-11"],
            "quantity": 1,
            "guest": {"name": "Erika Mustermann"},
            "currency": "EUR",
        },
    )
    assert held.status_code == 201, held.text
    confirmed = client.post(
        "/v1/channels/web/bookings/B-1/confirmation", json={"payment_reference": "psp-2"}
    )
    assert confirmed.status_code in (200, 201), confirmed.text
    settle(services)
    Checkpointer(database, servers.nats_url).checkpoint()
    auditor = bearer(issue_key(services, "auditor"))

    # When an auditor asks for each bundle
    order_bundle = client.get(f"/v1/audit/orders/{placed['order_id']}/bundle", headers=auditor)
    booking_bundle = client.get(
        f"/v1/audit/bookings/{held.json()['booking_id']}/bundle", headers=auditor
    )
    page = client.get(
        f"/v1/audit/bookings/{held.json()['booking_id']}/bundle?format=html", headers=auditor
    )

    # Then both verify offline, the booking's carries its confirmation document as issued
    assert order_bundle.status_code == 200, order_bundle.text
    assert check_bundle(order_bundle.json()) == []
    assert booking_bundle.status_code == 200, booking_bundle.text
    found = booking_bundle.json()
    assert check_bundle(found) == []
    documents = found["evidence"]["confirmation_documents"]
    assert [d["booking_reference"] for d in documents] == ["B-1"]
    assert documents == [confirmed.json()["confirmation"]]
    assert {e["envelope"]["type"] for e in found["events"]} >= {
        "BookingHeld",
        "BookingConfirmed",
        "ConfirmationIssued",
        "CapacityHeld",
    }
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # and a channel key is refused, an unknown order is a problem
    web = bearer(issue_key(services, "channel:web"))
    refused = client.get(f"/v1/audit/orders/{placed['order_id']}/bundle", headers=web)
    assert refused.status_code == 403
    unknown = client.get(
        "/v1/audit/orders/00000000-0000-0000-0000-000000000000/bundle", headers=auditor
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


def test_a_bundle_lists_the_connector_deliveries_made_for_its_events(
    client: TestClient[Litestar], services: Services, database: str, tmp_path: Path
) -> None:
    # Given a paid order, and a connector that received every event through the relay
    placed = placed_and_paid_order(client, services)
    auditor = bearer(issue_key(services, "auditor"))
    history = client.get(
        f"/v1/audit/streams/orders/{placed['order_id']}/events", headers=auditor
    ).json()
    order_events = {item["event"]["id"] for item in history["items"]}
    (tmp_path / "nats").mkdir()
    server = EmbeddedNats(tmp_path / "nats")  # a server of its own: no other test's events

    async def received(envelope: Envelope) -> None:
        return None

    async def deliver() -> None:
        async with relaying(database, server.url):
            connector = FunctionConnector("audit-probe", received)
            async with running(connector, database, server.url, Start("beginning")):

                async def done() -> bool:
                    return order_events <= await handled_ids(database, "audit-probe")

                await wait_for(done, "the order's events to be delivered")

    try:
        asyncio.run(deliver())
    finally:
        server.close()
    Checkpointer(database, None).checkpoint()

    # When an auditor asks for the order's bundle
    bundle = client.get(f"/v1/audit/orders/{placed['order_id']}/bundle", headers=auditor).json()

    # Then it lists one delivery per order event, by that connector, handled; and verifies
    deliveries = bundle["evidence"]["connector_deliveries"]
    probe = {d["event_id"]: d for d in deliveries if d["connector"] == "audit-probe"}
    assert order_events <= set(probe)
    assert {probe[event]["outcome"] for event in order_events} == {"handled"}
    assert check_bundle(bundle) == []
