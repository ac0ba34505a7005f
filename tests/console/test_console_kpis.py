"""KPIs as read models: cycle-count accuracy, sales per channel and day, oversell attempts
rejected; shown on the dashboard and at /metrics with the same figures."""

from __future__ import annotations

import re

import psycopg
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from domain.inventory import AdjustmentReason
from projections.kpis import kpi_followers
from tests.api.test_orders_api import order
from tests.conftest import issue_key, settle
from tests.console.test_console_access import log_in
from tests.orders.support import merchant


def test_the_dashboard_and_metrics_show_accuracy_sales_and_rejected_oversells(
    client: TestClient[Litestar], services: Services
) -> None:
    # Given TEE with 5 at SOUTH and 1 at NORTH, and the KPI read models following the logs
    merchant(services, {"TEE": {"SOUTH": 5, "NORTH": 1}})
    followers = kpi_followers(services.follower.conninfo)
    # When two cycle counts are made: SOUTH found as recorded (5), NORTH found 3 (1 recorded)
    services.inventory.adjust("TEE", "SOUTH", AdjustmentReason.CYCLE_COUNT, 5)
    services.inventory.adjust("TEE", "NORTH", AdjustmentReason.CYCLE_COUNT, 3)
    # and STORE, where TEE was never stocked, gets its opening stock take (not a variance)
    services.inventory.adjust("TEE", "STORE", AdjustmentReason.CYCLE_COUNT, 4)
    # and web sells 2 at 19.90, then an order for 100 is refused for want of stock
    assert client.post("/v1/channels/web/orders", json=order("W-1", 2)).status_code == 201
    assert client.post("/v1/channels/web/orders", json=order("W-2", 100)).status_code == 201
    settle(services)
    with psycopg.connect(services.follower.conninfo, autocommit=True) as conn:
        for follower in followers:
            follower.catch_up(conn)

    # Then the dashboard shows them
    assert log_in(client, issue_key(services, "auditor")).status_code == 303
    page = client.get("/console/dashboard")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    # 8 units counted, 2 off: accuracy 1 - 2/8; one of two counts exact
    assert "75.0 %" in text
    assert "2 cycle counts, 50.0 % exact; 1 opening stock takes apart" in text
    assert re.search(r'id="kpi-oversell"><div>[^<]+</div><div class="figure">1<', text)
    # one sale (the refused order is none): 1 order, 2 units, 39.80 EUR
    assert re.search(r"<td>web</td><td class=\"num\">1</td><td class=\"num\">2</td>", text)
    assert "39.80 EUR" in text
    assert "<svg" in text

    # and /metrics carries the same figures
    metrics = client.get("/metrics").text
    assert "ledgerline_kpi_inventory_accuracy_ratio 0.75" in metrics
    assert "ledgerline_kpi_oversell_rejected_orders 1.0" in metrics
    assert re.search(r'ledgerline_kpi_sales_units\{channel="web",day="[0-9-]+"\} 2\.0', metrics)
