"""Channels read effective prices at any moment; operators edit, import, simulate, roll back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from tests.conftest import settle

LIST = "/v1/channels/web/price-lists/EUR"


def _given_an_active_list(client: TestClient[Litestar], **prices: str) -> None:
    assert client.put(LIST, json={"name": "Web EUR"}).is_success
    assert client.put(LIST + "/status", json={"status": "active"}).is_success
    rows = [{"sku": sku, "amount": amount} for sku, amount in prices.items()]
    answer = client.post(LIST + "/prices", json={"prices": rows})
    assert answer.status_code == 200, answer.text


def _prices(client: TestClient[Litestar], at: str | None = None, *skus: str) -> dict[str, Any]:
    params: dict[str, Any] = {"sku": list(skus) or ["A", "B", "C"]}
    if at is not None:
        params["at"] = at
    answer = client.get("/v1/channels/web/prices", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _pause() -> None:
    time.sleep(0.01)  # recording times are distinct, as between real requests


def test_a_price_asked_for_a_past_moment_is_what_was_answered_then(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given prices, a promotion and a floor, and the answers recorded live along the way
    _given_an_active_list(client, A="20.00", B="10.00", C="5.00")
    live: list[dict[str, Any]] = []

    def record() -> None:
        settle(services)
        live.append(_prices(client))
        _pause()

    record()
    assert client.put(
        "/v1/promotions/SPRING", json={"kind": "percent_off", "value": "10", "skus": ["A", "B"]}
    ).is_success
    record()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert client.post(
        LIST + "/prices", json={"prices": [{"sku": "A", "amount": "25.00", "valid_from": future}]}
    ).is_success
    assert client.put("/v1/price-floors/EUR", json={"floors": {"B": "9.50"}}).is_success
    record()

    # When everything changes afterwards
    assert client.post(LIST + "/prices", json={"prices": [{"sku": "A", "amount": "1.00"}]})
    assert client.post("/v1/promotions/SPRING/end").is_success
    assert client.put(
        "/v1/promotions/MEGA",
        json={"kind": "amount_off", "value": "0.20", "currency": "EUR", "priority": 9},
    ).is_success
    assert client.put("/v1/price-floors/EUR", json={"floors": {"B": None, "C": "4.00"}})
    assert client.put(LIST + "/status", json={"status": "draft"}).is_success
    settle(services)

    # Then asking with at= gives each recorded answer again, word for word
    for answer in live:
        assert _prices(client, answer["at"]) == answer
    # And the live answers said what they should have
    first, promoted, floored = ({item["sku"]: item for item in answer["items"]} for answer in live)
    assert first["A"]["effective_price"] == {"amount": "20.00", "currency": "EUR"}
    assert promoted["A"]["effective_price"]["amount"] == "18.00"
    assert promoted["A"]["promotions"][0]["promotion_id"] == "SPRING"
    assert floored["B"]["effective_price"]["amount"] == "9.50"
    assert floored["B"]["clamped_to_floor"] is True
    assert floored["A"]["price_list"]["version"] >= promoted["A"]["price_list"]["version"]
    # And now, with the list back in draft, the channel shows no price
    now = {item["sku"]: item for item in _prices(client)["items"]}
    assert now["A"]["effective_price"] is None
    assert now["A"]["reason"] == "price list is draft"


def test_a_scheduled_price_shows_from_its_start_when_asked_about_the_future(
    client: TestClient[Litestar], services: Services
) -> None:
    _given_an_active_list(client, A="20.00")
    start = datetime.now(UTC) + timedelta(days=3)
    assert client.post(
        LIST + "/prices",
        json={"prices": [{"sku": "A", "amount": "17.00", "valid_from": start.isoformat()}]},
    ).is_success
    settle(services)
    before = _prices(client, (start - timedelta(seconds=1)).isoformat(), "A")["items"][0]
    after = _prices(client, start.isoformat(), "A")["items"][0]
    assert before["effective_price"]["amount"] == "20.00"
    assert after["effective_price"]["amount"] == "17.00"
    assert after["price_list"]["valid_from"] == start.isoformat()


def test_a_ten_thousand_row_csv_import_is_one_command(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given an active list and a file of 10,000 prices
    _given_an_active_list(client, A="1.00")
    lines = ["sku,amount,valid_from,valid_until"]
    lines += [f"SKU-{n:05d},{n % 500 + 1}.{n % 100:02d},," for n in range(10_000)]
    # When it is imported
    answer = client.post(
        LIST + "/imports",
        content="\n".join(lines).encode(),
        headers={"content-type": "text/csv", "idempotency-key": "import-1"},
    )
    # Then every row is applied, in one command
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] == 10_000
    assert answer.json()["refused"] == []
    settle(services)
    sample = _prices(client, None, "SKU-00000", "SKU-09999")["items"]
    assert [i["list_price"]["amount"] for i in sample] == ["1.00", "500.99"]
    # And a retry with the same key writes nothing more
    events = _count(services)
    again = client.post(
        LIST + "/imports",
        content="\n".join(lines).encode(),
        headers={"content-type": "text/csv", "idempotency-key": "import-1"},
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert _count(services) == events


def _count(services: Services) -> int:
    with psycopg.connect(services.price_follower.conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM pricing_events").fetchone()
    return int(row[0]) if row else 0


def test_a_file_with_one_bad_row_is_refused_whole_and_names_the_row(
    client: TestClient[Litestar], services: Services
) -> None:
    _given_an_active_list(client, A="1.00")
    events = _count(services)
    lines = ["sku,amount"] + [f"S-{n},2.00" for n in range(2_000)]
    lines[1501] = "S-1500,2.001"  # data row 1501: three decimals in EUR
    answer = client.post(
        LIST + "/imports", content="\n".join(lines).encode(), headers={"content-type": "text/csv"}
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"].endswith("rows-rejected")
    assert [(e["row"], e["field"]) for e in problem["errors"]] == [(1501, "amount")]
    assert _count(services) == events  # nothing written


def test_a_partial_import_applies_the_good_rows_and_reports_the_bad(
    client: TestClient[Litestar], services: Services
) -> None:
    _given_an_active_list(client, A="1.00")
    rows = [
        {"sku": "GOOD-1", "amount": "3.00"},
        {"sku": "bad sku", "amount": "3.00"},
        {"sku": "GOOD-2", "amount": "oops"},
        {"sku": "GOOD-3", "amount": 4.5},
    ]
    answer = client.post(LIST + "/imports?partial=true", json=rows)
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] == 2
    assert [(e["row"], e["field"]) for e in answer.json()["refused"]] == [
        (2, "sku"),
        (3, "amount"),
    ]
    settle(services)
    items = _prices(client, None, "GOOD-1", "GOOD-3")["items"]
    assert [i["list_price"]["amount"] for i in items] == ["3.00", "4.50"]


def test_a_price_below_its_floor_is_refused_and_writes_nothing(
    client: TestClient[Litestar], services: Services
) -> None:
    _given_an_active_list(client, A="20.00")
    assert client.put("/v1/price-floors/EUR", json={"floors": {"A": "15.00"}}).is_success
    events = _count(services)
    refused = client.post(LIST + "/prices", json={"prices": [{"sku": "A", "amount": "14.99"}]})
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("below-map-floor")
    promotion = client.put("/v1/promotions/DEEP", json={"kind": "percent_off", "value": "30"})
    assert promotion.status_code == 409, promotion.text
    assert promotion.json()["sku"] == "A"
    assert _count(services) == events


def test_a_simulation_shows_every_affected_channel_before_and_after_and_writes_nothing(
    client: TestClient[Litestar], services: Services
) -> None:
    _given_an_active_list(client, A="20.00", B="10.00")
    settle(services)
    events = _count(services)
    answer = client.post(
        "/v1/pricing/simulations",
        json={"promotion": {"kind": "percent_off", "value": "25", "skus": ["A"]}},
    )
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    assert result["before"]["effective_price"]["amount"] == "20.00"
    assert result["after"]["effective_price"]["amount"] == "15.00"
    assert result["changes"] is True
    edit = client.post(
        "/v1/pricing/simulations",
        json={
            "prices": {
                "channel": "web",
                "currency": "EUR",
                "prices": [{"sku": "B", "amount": "12.00"}, {"sku": "A", "amount": "1.234"}],
            }
        },
    ).json()
    assert [r["after"]["effective_price"]["amount"] for r in edit["results"]] == [
        "20.00",
        "12.00",
    ]
    assert [e["row"] for e in edit["refused"]] == [2]
    assert _count(services) == events


def test_rolling_back_restores_an_earlier_version_as_new_events(
    client: TestClient[Litestar], services: Services
) -> None:
    _given_an_active_list(client, A="20.00")
    version = client.get(LIST).json()["version"] if settle(services) is None else 0
    assert client.post(LIST + "/prices", json={"prices": [{"sku": "A", "amount": "99.00"}]})
    rolled = client.post(LIST + "/rollback", json={"to_version": version})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"] > version + 1
    settle(services)
    assert _prices(client, None, "A")["items"][0]["list_price"]["amount"] == "20.00"
    unknown = client.post(LIST + "/rollback", json={"to_version": 999})
    assert unknown.status_code == 404


def test_bad_price_input_is_a_clear_problem(client: TestClient[Litestar]) -> None:
    _given_an_active_list(client, A="20.00")
    cases = [
        (client.post(LIST + "/prices", json={"prices": [{"sku": "A", "amount": 1.5e300}]}), 422),
        (client.post(LIST + "/prices", json={"prices": [{"sku": "A", "amount": "NaN"}]}), 422),
        (client.post(LIST + "/prices", json={"prices": [{"sku": "A", "amount": "-1"}]}), 422),
        (client.put("/v1/channels/web/price-lists/EURO", json={}), 422),
        (client.put("/v1/channels/web/price-lists/XXX", json={}), 422),
        (client.get("/v1/channels/web/prices", params={"sku": "A", "at": "yesterday"}), 400),
        (client.get("/v1/channels/web/prices", params={"sku": "A", "at": "2026-01-01T00:00"}), 400),
        (
            client.post(
                LIST + "/imports", content=b"x;y\n1;2", headers={"content-type": "text/csv"}
            ),
            400,
        ),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
