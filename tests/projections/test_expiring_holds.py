"""The ATP read model counts a hold that lapsed but is not yet released as free, as the
Inventory aggregate does, so what a channel is told never waits for the expiry timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from tests.conftest import settle
from tests.projections.support import record_allocation, restock, secure


def _clock() -> tuple[datetime, datetime]:
    """(a moment an hour ago, now): a hold made then for a minute has lapsed by now."""
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now


def _given_web_with_stock(services: Services, on_hand: int) -> None:
    app = services.inventory
    for code in ("WH1", "WH2", "WH3"):
        app.put_location(code, code, "warehouse")
    app.put_channel("web", "Web", "web_shop", ["WH1", "WH2"])
    app.put_channel("pos", "POS", "pos", ["WH3"])
    app.register_sku("A", "A")
    app.receive("A", "WH1", on_hand)


def _web_available(client: TestClient[Litestar], sku: str = "A") -> int:
    items = client.get("/v1/channels/web/availability", params={"sku": [sku]}).json()["items"]
    assert [item["sku"] for item in items] == [sku]
    available: int = items[0]["available"]
    return available


def _picture(client: TestClient[Litestar], sku: str = "A") -> dict[str, Any]:
    picture: dict[str, Any] = client.get(f"/v1/skus/{sku}/stock").json()
    return picture


def _domain_web_atp(services: Services, sku: str = "A") -> int:
    locations = services.inventory.channel("web").locations
    return services.inventory.stock(sku).available_to_promise("web", locations, datetime.now(UTC))


def _holds(services: Services) -> list[tuple[str, str, str, int]]:
    with psycopg.connect(services.follower.conninfo) as conn:
        return [
            (sku, rid, location, quantity)
            for sku, rid, location, quantity in conn.execute(
                "SELECT sku, reservation_id, location, quantity FROM atp.holds "
                "ORDER BY sku, reservation_id"
            )
        ]


def test_a_lapsed_hold_not_yet_released_counts_as_available(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given 10 at WH1, a hold that lapsed, one still running and one without expiry
    past, now = _clock()
    _given_web_with_stock(services, 10)
    app = services.inventory
    app.reserve(
        "A", "lapsed", "WH1", 4, reference="o1", now=past, expires_at=past + timedelta(minutes=1)
    )
    app.reserve(
        "A", "running", "WH1", 3, reference="o2", now=now, expires_at=now + timedelta(hours=1)
    )
    app.reserve("A", "kept", "WH1", 2, reference="o3", now=now)

    # When the read model has caught up and the channel asks
    settle(services)

    # Then only the lapsed hold's units are free again, as the domain says
    assert _web_available(client) == 10 - 3 - 2 == _domain_web_atp(services)
    picture = _picture(client)
    assert [
        (row["location"], row["reserved"], row["available"]) for row in picture["locations"]
    ] == [("WH1", 9, 5)]
    assert {row["channel"]: row["available"] for row in picture["channels"]} == {"web": 5, "pos": 0}
    assert _holds(services) == [("A", "lapsed", "WH1", 4), ("A", "running", "WH1", 3)]


def test_lapsed_units_promised_again_are_not_counted_twice(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given 10 at WH1 and a lapsed hold of 6, whose units a new hold of 8 took again
    past, now = _clock()
    _given_web_with_stock(services, 10)
    app = services.inventory
    app.reserve(
        "A", "lapsed", "WH1", 6, reference="o1", now=past, expires_at=past + timedelta(minutes=1)
    )
    app.reserve("A", "again", "WH1", 8, reference="o2", now=now, channel="web")
    app.set_safety_buffer("A", "web", 1)

    # When the read model has caught up
    settle(services)

    # Then reserved exceeds on hand, and the channel may promise 10 - 14 + 6 - 1
    picture = _picture(client)
    assert [
        (row["on_hand"], row["reserved"], row["available"]) for row in picture["locations"]
    ] == [(10, 14, 2)]
    assert _web_available(client) == 1 == _domain_web_atp(services)


def test_a_secured_hold_stops_expiring(client: TestClient[Litestar], services: Services) -> None:
    # Given two holds made an hour ago for a minute, one of them secured within that minute
    past, _ = _clock()
    _given_web_with_stock(services, 10)
    app = services.inventory
    for rid, quantity in (("paid", 4), ("unpaid", 3)):
        app.reserve(
            "A",
            rid,
            "WH1",
            quantity,
            reference=rid,
            now=past,
            expires_at=past + timedelta(minutes=1),
        )
    secure(app, "A", "paid", past + timedelta(seconds=30))

    # When the read model has caught up, after both expiry times passed
    settle(services)

    # Then the secured hold still holds its units; the other one lapsed
    assert _web_available(client) == 10 - 4 == _domain_web_atp(services)
    assert _holds(services) == [("A", "unpaid", "WH1", 3)]


def test_stock_returned_raises_atp(client: TestClient[Litestar], services: Services) -> None:
    # Given 5 on hand at WH1
    _given_web_with_stock(services, 5)
    settle(services)
    before = client.get("/v1/channels/web/availability/changes").json()

    # When a customer return of 3 goes back on the shelf there
    restock(services.inventory, "A", "WH1", 3, "rma-1")
    settle(services)

    # Then on hand and the channel's ATP rise by 3, and the change feed says so
    assert _picture(client)["locations"][0]["on_hand"] == 8
    assert _web_available(client) == 8 == _domain_web_atp(services)
    changed = client.get(
        "/v1/channels/web/availability/changes", params={"cursor": before["next_cursor"]}
    ).json()
    assert [(item["sku"], item["available"]) for item in changed["items"]] == [("A", 8)]


def test_committing_part_of_a_lapsed_hold_leaves_the_rest_free(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given 10 at WH1 and a lapsed hold of 5
    past, _ = _clock()
    _given_web_with_stock(services, 10)
    app = services.inventory
    app.reserve(
        "A", "lapsed", "WH1", 5, reference="o1", now=past, expires_at=past + timedelta(minutes=1)
    )

    # When 2 of its units are shipped all the same
    app.commit("A", "lapsed", 2)
    settle(services)

    # Then 8 are on hand, 3 still held by the lapsed hold, so all 8 may be promised
    assert _holds(services) == [("A", "lapsed", "WH1", 3)]
    assert _web_available(client) == 8 == _domain_web_atp(services)

    # And when the rest ships, the hold is gone and 5 are left
    app.commit("A", "lapsed")
    settle(services)
    assert _holds(services) == []
    assert _web_available(client) == 5 == _domain_web_atp(services)


def test_releasing_a_lapsed_hold_keeps_the_figure_and_shows_in_the_change_feed(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given a lapsed hold of 4 out of 10, and a channel that has read its feed to the end
    past, _ = _clock()
    _given_web_with_stock(services, 10)
    services.inventory.reserve(
        "A", "lapsed", "WH1", 4, reference="o1", now=past, expires_at=past + timedelta(minutes=1)
    )
    settle(services)
    first = client.get("/v1/channels/web/availability/changes").json()
    assert [(item["sku"], item["available"]) for item in first["items"]] == [("A", 10)]

    # When the expiry timer gets round to releasing it
    services.inventory.release("A", "lapsed")
    settle(services)

    # Then the figure is the one served all along, and the feed lists the row again
    assert _web_available(client) == 10
    changed = client.get(
        "/v1/channels/web/availability/changes", params={"cursor": first["next_cursor"]}
    ).json()
    assert [(item["sku"], item["available"]) for item in changed["items"]] == [("A", 10)]
    assert _holds(services) == []


def test_allocation_events_are_passed_over_and_the_position_still_advances(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given a read model that has caught up with some stock
    _, now = _clock()
    _given_web_with_stock(services, 10)
    settle(services)
    with psycopg.connect(services.follower.conninfo) as conn:
        before = conn.execute("SELECT * FROM atp.availability ORDER BY channel, sku").fetchall()

    # When an order's Allocation (decided, then settled) lands last in the inventory log
    record_allocation(services.inventory, "web", "A", "WH1", 2, now)

    # Then the projection reaches the head of the log and no row changed
    settle(services)
    with psycopg.connect(services.follower.conninfo) as conn:
        assert services.follower.projection.position(conn) == services.follower.head()
        after = conn.execute("SELECT * FROM atp.availability ORDER BY channel, sku").fetchall()
    assert after == before
    assert _web_available(client) == 10
