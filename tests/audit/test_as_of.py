"""As-of reconstruction (invariant 5): for a scripted history, what the audit replays from the
log for each recorded moment equals what the live API answered at that moment."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from domain.order import order_id
from tests.conftest import bearer, issue_key, settle

SKUS = ("TEE", "MUG")
CHANNELS = {"web": ["WH-A", "WH-B"], "shop": ["WH-A"]}
ORDER = order_id("web", "W-1")
SHIP_TO = {"name": "E", "line1": "Marienplatz 1", "city": "München", "country": "DE"}


@dataclass
class Seen:
    """What the live API answered, and when."""

    at: datetime
    atp: dict[str, dict[str, int]]  # channel -> sku -> available
    prices: list[dict[str, Any]]
    prices_at: str
    order_status: str | None


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ok(answer: Any) -> Any:
    assert answer.is_success, answer.text
    return answer.json()


def observe(client: TestClient[Litestar], services: Services, log: list[Seen]) -> Seen:
    """Read the live API as a channel would, once the read models caught up; record when."""
    settle(services)
    atp = {}
    for channel in CHANNELS:
        query = "&".join(f"sku={sku}" for sku in SKUS)
        found = ok(client.get(f"/v1/channels/{channel}/availability?{query}"))
        atp[channel] = {item["sku"]: item["available"] for item in found["items"]}
    prices = ok(client.get("/v1/channels/web/prices?sku=TEE&sku=MUG"))
    order = client.get("/v1/channels/web/orders/W-1")
    seen = Seen(
        at=datetime.now(UTC),
        atp=atp,
        prices=prices["items"],
        prices_at=prices["at"],
        order_status=order.json()["status"] if order.status_code == 200 else None,
    )
    log.append(seen)
    return seen


def wait_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def test_the_state_as_of_each_recorded_time_equals_what_the_live_api_answered(
    client: TestClient[Litestar], services: Services
) -> None:
    seen: list[Seen] = []
    # Given a network: two warehouses, web fed by both, shop by one; two SKUs in stock
    for location in ("WH-A", "WH-B"):
        ok(client.put(f"/v1/locations/{location}", json={"name": location, "kind": "warehouse"}))
    for channel, feeding in CHANNELS.items():
        ok(
            client.put(
                f"/v1/channels/{channel}",
                json={"name": channel, "kind": "web_shop", "locations": feeding},
            )
        )
    for sku in SKUS:
        ok(client.put(f"/v1/skus/{sku}", json={"name": sku}))
        ok(client.post(f"/v1/skus/{sku}/receipts", json={"location": "WH-A", "quantity": 10}))
        ok(client.post(f"/v1/skus/{sku}/receipts", json={"location": "WH-B", "quantity": 4}))
    prices = "/v1/channels/web/price-lists/EUR"
    ok(client.put(prices, json={"name": "web EUR"}))
    ok(client.post(prices + "/prices", json={"prices": [{"sku": "TEE", "amount": "20.00"}]}))
    ok(client.post(prices + "/prices", json={"prices": [{"sku": "MUG", "amount": "8.00"}]}))
    ok(client.put(prices + "/status", json={"status": "active"}))
    first = observe(client, services, seen)

    # When stock is adjusted, a safety buffer set, and a hold placed that lapses soon
    ok(
        client.post(
            "/v1/skus/TEE/adjustments",
            json={"location": "WH-A", "reason": "damage", "quantity": -3},
        )
    )
    ok(client.put("/v1/skus/MUG/safety-buffers/web", json={"quantity": 2}))
    lapses = datetime.now(UTC) + timedelta(seconds=3)
    ok(
        client.post(
            "/v1/skus/TEE/reservations",
            json={
                "reservation_id": "hold-1",
                "location": "WH-A",
                "quantity": 5,
                "reference": "cart-1",
                "channel": "shop",
                "expires_at": iso(lapses),
            },
        )
    )
    # and a price change and a promotion are scheduled to start in 2 s, the promotion to end
    # in 5.5 s, and a MAP floor is set
    starts = datetime.now(UTC) + timedelta(seconds=2)
    ends = starts + timedelta(seconds=3.5)
    ok(
        client.post(
            prices + "/prices",
            json={"prices": [{"sku": "MUG", "amount": "9.50", "valid_from": iso(starts)}]},
        )
    )
    ok(
        client.put(
            "/v1/promotions/SPRING",
            json={
                "kind": "percent_off",
                "value": "10",
                "channels": ["web"],
                "skus": ["TEE"],
                "valid_from": iso(starts),
                "valid_until": iso(ends),
            },
        )
    )
    ok(client.put("/v1/price-floors/EUR", json={"floors": {"TEE": "17.50"}}))
    held = observe(client, services, seen)
    assert held.atp["shop"]["TEE"] == 10 - 3 - 5
    assert held.prices[1]["effective_price"]["amount"] == "20.00"  # TEE, before the promotion

    # When the promotion and the new price have started and the hold has lapsed (unreleased)
    wait_until(lapses + timedelta(seconds=0.5))
    lapsed = observe(client, services, seen)
    assert lapsed.atp["shop"]["TEE"] == 10 - 3  # a lapsed hold is free at once
    assert lapsed.prices[1]["effective_price"]["amount"] == "18.00"
    assert lapsed.prices[0]["effective_price"]["amount"] == "9.50"

    # When web places an order at the promotional price, and the saga reserves it
    placed = client.post(
        "/v1/channels/web/orders",
        json={
            "order_number": "W-1",
            "lines": [
                {"sku": "TEE", "quantity": 4, "unit_price": {"amount": "18.00", "currency": "EUR"}}
            ],
            "ship_to": SHIP_TO,
        },
    )
    assert placed.status_code == 201, placed.text
    confirmed = observe(client, services, seen)
    assert confirmed.order_status == "confirmed"

    # When the order is cancelled, and the promotion has ended
    ok(client.post("/v1/channels/web/orders/W-1/cancellation", json={"reason": "changed mind"}))
    wait_until(ends + timedelta(seconds=0.5))
    cancelled = observe(client, services, seen)
    assert cancelled.order_status == "cancelled"
    assert cancelled.prices[1]["effective_price"]["amount"] == "20.00"
    assert len({str(s.atp) + str(s.prices) for s in seen}) == len(seen)  # every step differs

    # Then, asked afterwards, the audit's replay for each recorded moment answers as the live
    # API did then: ATP per channel, every price field, and the order's status
    auditor = bearer(issue_key(services, "auditor"))
    for moment in seen:
        for channel in CHANNELS:
            replayed = ok(
                client.get(
                    f"/v1/audit/channels/{channel}/availability",
                    params={"sku": list(SKUS), "at": iso(moment.at)},
                    headers=auditor,
                )
            )
            assert {i["sku"]: i["available"] for i in replayed["items"]} == moment.atp[channel], (
                channel,
                moment,
            )
        replayed = ok(
            client.get(
                "/v1/audit/channels/web/prices",
                params={"sku": ["TEE", "MUG"], "at": moment.prices_at},
                headers=auditor,
            )
        )
        assert replayed["items"] == moment.prices, moment
        state = client.get(
            f"/v1/audit/streams/orders/{ORDER}/state",
            params={"at": iso(moment.at)},
            headers=auditor,
        )
        if moment.order_status is None:
            assert state.status_code == 404
            assert state.json()["type"] == "urn:ledgerline:problem:unknown-stream"
        else:
            assert state.json()["state"]["status"] == moment.order_status, moment
    # and the order's first version is the placement itself
    placement = ok(client.get(f"/v1/audit/streams/orders/{ORDER}/state?version=1", headers=auditor))
    assert placement["state"]["status"] == "placed"
    assert placement["version"] == 1
    assert first.order_status is None
