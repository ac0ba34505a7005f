"""The admin API: a customer known on two channels is exported, then erased, in one go:
orders on both channels and a booking, their read models and the export all read erased."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from tests.api.test_orders_api import ADDRESS, order
from tests.bookings.support import NIGHT, hotel
from tests.conftest import bearer, issue_key, settle
from tests.privacy.support import CUSTOMER, EMAIL, NAME, PERSONAL, leftovers, placed_order


def names(document: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(document, dict):
        for value in document.values():
            found |= names(value)
    elif isinstance(document, list):
        for value in document:
            found |= names(value)
    elif isinstance(document, str):
        found.add(document)
    return found


def test_an_admin_links_exports_and_erases_a_customer_across_channels(
    client: TestClient[Litestar], services: Services, database: str
) -> None:
    # Given customer C-1, known to the marketplace as buyer MP-77
    linked = client.post(
        "/v1/customers/C-1/links", json={"channel": "marketplace", "reference": "MP-77"}
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["customer_ids"] == ["C-1", "MP-77"]
    # with an order on web (as C-1), one on the marketplace (as buyer MP-77)
    placed_order(client, services)
    market = client.post(
        "/v1/channels/marketplace/orders",
        json=order("M-1", 1, customer={"customer_id": "MP-77", "name": NAME}, ship_to=ADDRESS),
    )
    assert market.status_code == 201, market.text
    # and a hotel booking on web, as C-1
    hotel(services, {"DLX": ("deluxe", 2)})
    services.bookings.hold(
        channel="web",
        reference="B-1",
        resource="DLX",
        slots=[NIGHT],
        quantity=1,
        guest={**CUSTOMER, "phone": "+49 89 1234567"},
        currency="EUR",
    )
    services.bookings.confirm("web", "B-1", "psp-9")  # a confirmation document holds the guest
    settle(services)

    # When an admin asks for the customer's data
    exported = client.get("/v1/customers/C-1/export")
    # Then every channel's order and the booking are in it, decrypted, with their events
    assert exported.status_code == 200, exported.text
    data = exported.json()
    assert sorted(o["order_number"] for o in data["orders"]) == ["M-1", "W-1"]
    assert [b["reference"] for b in data["bookings"]] == ["B-1"]
    assert {NAME, EMAIL, "+49 89 1234567"} <= names(data)
    assert {e["type"] for e in data["events"]} >= {"OrderPlaced", "BookingHeld"}
    assert data["channel_references"] == [{"channel": "marketplace", "reference": "MP-77"}]
    # and the marketplace's buyer id finds the customer, with all three
    assert services.privacy is not None
    (known,) = services.privacy.find("MP-77")
    assert known["customer_id"] == "C-1"
    assert len(known["streams"]) == 3
    # (the read models hold it in the clear, the booking's confirmation document too)
    assert "bookings.documents" in leftovers(database, ("+49 89 1234567",))["+49 89 1234567"]
    # and a channel's key may not ask
    channel_key = issue_key(services, "channel:web")
    refused = client.get("/v1/customers/C-1/export", headers=bearer(channel_key))
    assert refused.status_code == 403

    # When an admin erases the customer
    erased = client.post("/v1/customers/C-1/erasure", json={"legal_basis": "GDPR Art. 17(1)(a)"})
    assert erased.status_code == 200, erased.text
    destroyed = erased.json()["keys_destroyed"]
    assert destroyed[:2] == ["C-1", "MP-77"]
    assert len(destroyed) == 4  # and each order's ship-to key
    settle(services)
    # Then both channels' orders and the booking read erased, through the API
    for channel, number in (("web", "W-1"), ("marketplace", "M-1")):
        shown = client.get(f"/v1/channels/{channel}/orders/{number}").json()
        assert shown["customer"]["name"] == "[erased]", shown
    booking = client.get("/v1/channels/web/bookings/B-1").json()
    assert booking["guest"]["name"] == "[erased]"
    # and no table holds them, the bookings' confirmation documents included
    assert leftovers(database, (*PERSONAL, "+49 89 1234567")) == {}
    assert booking["guest"]["phone"] == "[erased]"
    # and the export holds nothing personal any more, but says who erased it and why
    after = client.get("/v1/customers/C-1/export").json()
    assert not names(after) & {*PERSONAL, "+49 89 1234567"}
    (erasure,) = after["erasures"]
    assert erasure["legal_basis"] == "GDPR Art. 17(1)(a)"
    assert erasure["subjects"] == ["C-1", "MP-77"]
