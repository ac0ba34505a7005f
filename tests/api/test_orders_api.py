"""The orders API over HTTP: placement answers, idempotency by order number, problems for
bad input with nothing written, and the lifecycle through to a return."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from tests.conftest import bearer, issue_key, settle
from tests.orders.support import merchant

ADDRESS = {
    "name": "Erika Mustermann",
    "line1": "Marienplatz 1",
    "city": "München",
    "country": "DE",
    "latitude": "48.137",
    "longitude": "11.575",
}


def order(number: str, quantity: int = 1, price: str = "19.90", **extra: Any) -> dict[str, Any]:
    return {
        "order_number": number,
        "lines": [
            {"sku": "TEE", "quantity": quantity, "unit_price": {"amount": price, "currency": "EUR"}}
        ],
        "customer": {"name": "Erika Mustermann", "email": "erika@example.com"},
        "ship_to": ADDRESS,
        **extra,
    }


def orders_written(services: Services) -> int:
    return services.orders.recorder.max_notification_id() or 0


def test_placing_an_order_twice_answers_with_the_same_order(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given a priced SKU in stock
    merchant(services, {"TEE": {"SOUTH": 5}})
    # When the web channel places order W-1, and then places it again
    first = client.post("/v1/channels/web/orders", json=order("W-1", 2))
    again = client.post("/v1/channels/web/orders", json=order("W-1", 2))
    # Then the first is created, the second answers with it and writes nothing
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["order_id"] == first.json()["order_id"]
    assert orders_written(services) == 1
    # and the same number with other lines is a conflict
    other = client.post("/v1/channels/web/orders", json=order("W-1", 3))
    assert other.status_code == 409
    assert other.json()["type"] == "urn:ledgerline:problem:order-number-reused"


def test_bad_orders_are_problems_and_write_nothing(
    client: TestClient[Litestar], services: Services
) -> None:
    merchant(services, {"TEE": {"SOUTH": 5}})
    cases = [
        (order("B-1", price="9.99"), 409, "price-mismatch"),
        (order("B-2", price="19.9001"), 422, "invalid-value"),
        (order("B-3", quantity=0), 400, "invalid-request"),
        ({**order("B-4"), "ship_to": None}, 422, "invalid-value"),
        ({**order("B-5"), "lines": []}, 400, "invalid-request"),
        ({**order("B-6"), "surprise": 1}, 400, "invalid-request"),
        (order("B-7", fulfilment="pickup", pickup_location="NOWHERE"), 404, "unknown-location"),
    ]
    for body, status, code in cases:
        answer = client.post("/v1/channels/web/orders", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"].endswith(code), answer.text
    unpriced = order("B-8")
    unpriced["lines"][0]["sku"] = "NOPRICE"
    answer = client.post("/v1/channels/web/orders", json=unpriced)
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("price-unavailable")
    assert orders_written(services) == 0


def test_an_order_goes_from_placement_to_a_return(
    client: TestClient[Litestar], services: Services
) -> None:
    merchant(services, {"TEE": {"SOUTH": 5}})
    base = "/v1/channels/web/orders/W-9"
    assert client.post("/v1/channels/web/orders", json=order("W-9", 2)).status_code == 201
    settle(services)
    euros = {"amount": "39.80", "currency": "EUR"}
    steps = [
        ("/payments/authorisations", {"amount": euros, "reference": "psp-1"}),
        ("/shipments/1/pick", None),
        ("/shipments/1/pack", None),
        ("/shipments/1/ship", {"carrier": "DHL", "tracking": "00340434"}),
        ("/shipments/1/deliver", None),
        ("/payments/captures", {"amount": euros, "reference": "psp-1"}),
        (
            "/returns",
            {
                "return_id": "R-1",
                "location": "SOUTH",
                "disposition": "sellable",
                "lines": [{"line": 1, "quantity": 1}],
            },
        ),
        (
            "/refunds",
            {
                "refund_id": "RF-1",
                "amount": {"amount": "19.90", "currency": "EUR"},
                "reference": "psp-1",
            },
        ),
    ]
    for path, body in steps:
        answer = client.post(base + path, json=body)
        assert answer.status_code == 200, (path, answer.text)
    assert answer.json()["status"] == "delivered"
    # An illegal transition is a named problem
    again = client.post(base + "/shipments/1/pick")
    assert again.status_code == 409
    assert again.json()["type"] == "urn:ledgerline:problem:illegal-transition"
    settle(services)
    stock = services.inventory.stock("TEE").at("SOUTH")
    assert (stock.on_hand, stock.reserved) == (4, 0)


def test_a_channel_key_places_only_its_own_orders(
    client: TestClient[Litestar], services: Services
) -> None:
    merchant(services, {"TEE": {"SOUTH": 5}})
    web = bearer(issue_key(services, "channel:web"))
    assert client.post("/v1/channels/web/orders", json=order("C-1"), headers=web).status_code == 201
    other = client.post("/v1/channels/marketplace/orders", json=order("C-2"), headers=web)
    assert other.status_code == 403
    cancel = client.post(
        "/v1/channels/marketplace/orders/C-1/cancellation", json={"reason": "x"}, headers=web
    )
    assert cancel.status_code == 403


def test_a_pos_sale_is_recorded_and_fulfilled(
    client: TestClient[Litestar], services: Services
) -> None:
    merchant(services, {"TEE": {"STORE": 2}})
    sale = {
        "sale_number": "TILL-1-0001",
        "location": "STORE",
        "lines": [
            {"sku": "TEE", "quantity": 1, "unit_price": {"amount": "19.90", "currency": "EUR"}}
        ],
        "payment_reference": "till-1",
    }
    answer = client.post("/v1/channels/store-pos/pos-sales", json=sale)
    assert answer.status_code == 201, answer.text
    settle(services)
    stock = services.inventory.stock("TEE").at("STORE")
    assert (stock.on_hand, stock.reserved) == (1, 0)


def test_an_orders_timeline_shows_price_routing_holds_and_every_step_with_actor_and_time(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given an order placed by the web channel's own key and worked on by an operator
    merchant(services, {"TEE": {"NORTH": 5, "SOUTH": 5}})
    web = bearer(issue_key(services, "channel:web"))
    operator = bearer(issue_key(services, "operator"))
    placed = client.post("/v1/channels/web/orders", json=order("T-1", 2), headers=web)
    assert placed.status_code == 201, placed.text
    settle(services)
    base = "/v1/channels/web/orders/T-1"
    paid = {"amount": {"amount": "39.80", "currency": "EUR"}, "reference": "psp-9"}
    assert client.post(base + "/payments/authorisations", json=paid, headers=web).is_success
    for step in ("pick", "pack", "ship"):
        assert client.post(f"{base}/shipments/1/{step}", headers=operator).is_success
    settle(services)
    # When the channel reads the order
    answer = client.get(base, headers=web)
    # Then its timeline holds every event, in order, each with an actor and a time
    assert answer.status_code == 200, answer.text
    body = answer.json()
    timeline = body["timeline"]
    events = [entry["event"] for entry in timeline]
    assert events == [
        "OrderPlaced",
        "OrderConfirmed",
        "PaymentAuthorised",
        "ShipmentPicked",
        "ShipmentPacked",
        "ShipmentShipped",
    ]
    assert all(entry["actor"] and entry["at"] for entry in timeline)
    actors = {entry["event"]: entry["actor"] for entry in timeline}
    assert actors["OrderConfirmed"] == "process:order-saga"
    assert actors["OrderPlaced"] != actors["ShipmentPicked"]  # the channel, then the operator
    # and the price at placement, the routing decision and the holds made
    text = str(timeline)
    assert "19.90" in text
    assert "SOUTH" in text  # nearest to Munich
    reservation = body["shipments"][0]["lines"][0]["reservation_id"]
    assert reservation in str(timeline[1])
    assert body["lines"][0]["unit_price"] == {"amount": "19.90", "currency": "EUR"}
    assert body["status"] == "shipped"
    # and the channel's order list has it, another channel's key cannot see it
    listed = client.get("/v1/channels/web/orders?status=shipped", headers=web).json()
    assert [item["order_number"] for item in listed["items"]] == ["T-1"]
    other = bearer(issue_key(services, "channel:marketplace"))
    assert client.get(base, headers=other).status_code == 403
