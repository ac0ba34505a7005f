"""A channel reads its ATP for a list of SKUs, and polls what changed since its cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from tests.conftest import settle


def _given_two_channels(client: TestClient[Litestar]) -> None:
    for code in ("WH1", "WH2"):
        assert client.put(
            f"/v1/locations/{code}", json={"name": code, "kind": "warehouse"}
        ).is_success
    assert client.put(
        "/v1/channels/web", json={"name": "Web", "kind": "web_shop", "locations": ["WH1", "WH2"]}
    ).is_success
    assert client.put(
        "/v1/channels/market", json={"name": "M", "kind": "marketplace", "locations": ["WH1"]}
    ).is_success
    for sku in ("A", "B", "C"):
        assert client.put(f"/v1/skus/{sku}", json={"name": sku}).is_success


def test_each_channel_sees_its_own_locations_less_its_buffer(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given stock in two locations and a buffer on the marketplace
    _given_two_channels(client)
    client.post("/v1/skus/A/receipts", json={"location": "WH1", "quantity": 10})
    client.post("/v1/skus/A/receipts", json={"location": "WH2", "quantity": 5})
    client.put("/v1/skus/A/safety-buffers/market", json={"quantity": 3})
    client.post(
        "/v1/skus/A/reservations",
        json={
            "reservation_id": "r1",
            "location": "WH1",
            "quantity": 2,
            "reference": "o1",
            "channel": "web",
        },
    )
    settle(services)

    # When each channel asks for A, B and a SKU that does not exist
    web = client.get("/v1/channels/web/availability", params={"sku": ["A", "B", "ZZZ"]}).json()
    market = client.get("/v1/channels/market/availability", params={"sku": ["A"]}).json()

    # Then the web sees both locations, the marketplace WH1 less its buffer
    assert [(i["sku"], i["available"]) for i in web["items"]] == [("A", 13), ("B", 0)]
    assert web["unknown_skus"] == ["ZZZ"]
    assert [(i["sku"], i["available"]) for i in market["items"]] == [("A", 5)]
    stock = client.get("/v1/skus/A/stock").json()
    assert {c["channel"]: (c["available"], c["safety_buffer"]) for c in stock["channels"]} == {
        "market": (5, 3),
        "web": (13, 0),
    }


def test_a_lapsed_hold_is_free_for_the_channels_its_location_feeds(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given stock in both locations, and at each a hold that lapsed but is not yet released
    _given_two_channels(client)
    client.post("/v1/skus/A/receipts", json={"location": "WH1", "quantity": 10})
    client.post("/v1/skus/A/receipts", json={"location": "WH2", "quantity": 5})
    client.put("/v1/skus/A/safety-buffers/market", json={"quantity": 3})
    past = datetime.now(UTC) - timedelta(hours=1)
    for rid, location, quantity in (("h1", "WH1", 4), ("h2", "WH2", 5)):
        services.inventory.reserve(
            "A",
            rid,
            location,
            quantity,
            reference=rid,
            now=past,
            expires_at=past + timedelta(minutes=15),
        )
    settle(services)

    # When each channel reads its availability and its change feed
    web = client.get("/v1/channels/web/availability", params={"sku": ["A"]}).json()
    market = client.get("/v1/channels/market/availability", params={"sku": ["A"]}).json()
    feed = client.get("/v1/channels/market/availability/changes").json()

    # Then neither hold takes anything away: each channel sees all its stock less its buffer
    assert [(i["sku"], i["available"]) for i in web["items"]] == [("A", 15)]
    assert [(i["sku"], i["available"]) for i in market["items"]] == [("A", 7)]
    assert ("A", 7) in [(i["sku"], i["available"]) for i in feed["items"]]


def test_a_channel_polls_only_what_changed_since_its_cursor(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given a channel that has read its feed to the end
    _given_two_channels(client)
    client.post("/v1/skus/A/receipts", json={"location": "WH1", "quantity": 4})
    settle(services)
    first = client.get("/v1/channels/web/availability/changes").json()
    assert {i["sku"] for i in first["items"]} == {"A", "B", "C"}
    cursor = first["next_cursor"]
    assert (
        client.get("/v1/channels/web/availability/changes", params={"cursor": cursor}).json()[
            "items"
        ]
        == []
    )

    # When B changes for the web, and A changes only at a location the web does not use
    client.post("/v1/skus/B/receipts", json={"location": "WH2", "quantity": 7})
    client.put("/v1/locations/WH3", json={"name": "WH3", "kind": "store"})
    client.post("/v1/skus/A/receipts", json={"location": "WH3", "quantity": 9})
    settle(services)

    # Then the web's next page holds B alone, paging by the limit it asks for
    page = client.get(
        "/v1/channels/web/availability/changes", params={"cursor": cursor, "limit": 1}
    ).json()
    assert [(i["sku"], i["available"]) for i in page["items"]] == [("B", 7)]
    rest = client.get(
        "/v1/channels/web/availability/changes", params={"cursor": page["next_cursor"]}
    ).json()
    assert rest["items"] == []


def test_a_forged_cursor_is_a_problem(client: TestClient[Litestar]) -> None:
    _given_two_channels(client)
    answer = client.get("/v1/channels/web/availability/changes", params={"cursor": "%%%"})
    assert answer.status_code == 422
    assert answer.json()["type"] == "urn:ledgerline:problem:invalid-value"
    unknown = client.get("/v1/channels/nope/availability", params={"sku": ["A"]})
    assert unknown.status_code == 404
