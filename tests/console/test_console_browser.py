"""Must-show: the console in a real headless Chromium against the real servers.

An operator logs in with an API key, finds a SKU, and watches its ATP per channel change
live after a stock adjustment made through the API; opens an order's timeline; an auditor
renders the order's dispute bundle and sees it verify. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from api.services import Services
from infrastructure.audit.checkpoints import Checkpointer
from tests.api.test_orders_api import order
from tests.conftest import bearer, issue_key, settle
from tests.orders.support import merchant

pytestmark = pytest.mark.browser


def log_in(browser: Browser, base: str, token: str) -> Page:
    # One context per user: a second tab of it shares the login's cookie.
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto("/console/stock")
    expect(page).to_have_url(f"{base}/console/login")  # no session: the login form
    page.fill("input[name=api_key]", token)
    page.click("main button[type=submit]")
    expect(page.locator(".who")).to_be_visible()
    return page


def atp_cell(page: Page, channel: str) -> object:
    return page.locator(f"#stock-tables tr[data-channel='{channel}'] td.atp")


def test_an_operator_sees_atp_change_live_and_an_auditor_renders_a_dispute_bundle(
    browser: Browser,
    console_url: str,
    services: Services,
    database: str,
    artifacts: Path,
) -> None:
    # Given a merchant with TEE in two warehouses on four channels, and an operator key
    merchant(services, {"TEE": {"SOUTH": 5, "NORTH": 3}})
    operator = issue_key(services, "operator")
    admin = issue_key(services, "admin")

    # When the operator logs in and finds the SKU
    page = log_in(browser, console_url, operator)
    page.click("nav a:text-is('Stock')")
    page.fill("input[name=q]", "te")
    page.click("main button[type=submit]")
    page.click("a:text-is('TEE')")
    expect(page.locator("h1")).to_contain_text("TEE")
    # Then every channel fed by both warehouses shows 8, and the live stream is connected
    expect(atp_cell(page, "web")).to_have_text("8")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    page.screenshot(path=str(artifacts / "stock-before.png"), full_page=True)

    # When 3 units are written off through the API (not through the page)
    answer = httpx.post(
        f"{console_url}/v1/skus/TEE/adjustments",
        headers={**bearer(admin), "Idempotency-Key": "damage-1"},
        json={"location": "SOUTH", "reason": "damage", "quantity": -3},
    )
    assert answer.status_code == 200, answer.text
    # Then the open page shows the new ATP without a reload (pushed over server-sent events)
    expect(atp_cell(page, "web")).to_have_text("5")
    expect(page.locator("#stock-tables tr[data-location='SOUTH'] td").nth(1)).to_have_text("2")
    page.screenshot(path=str(artifacts / "console.png"), full_page=True)

    # When the operator watches the live feed while an order is placed through the API
    feed = page.context.new_page()
    feed.goto("/console/feed")
    expect(feed.locator("#live-state")).to_have_attribute("data-state", "live")
    placed = httpx.post(
        f"{console_url}/v1/channels/web/orders", headers=bearer(admin), json=order("W-7", 2)
    )
    assert placed.status_code == 201, placed.text
    # Then the order's events appear in the feed as they are published
    expect(feed.locator("#feed-rows")).to_contain_text("order.OrderPlaced")
    expect(feed.locator("#feed-rows")).to_contain_text("inventory.StockReserved")
    feed.screenshot(path=str(artifacts / "feed.png"), full_page=True)
    feed.close()
    settle(services)
    # When the operator opens the order from the order list
    page.goto("/console/orders?channel=web")
    page.click("a:text-is('W-7')")
    # Then its timeline shows it placed and routed, in order
    timeline = page.locator("table.timeline tbody tr")
    expect(timeline.first).to_contain_text("OrderPlaced")
    assert timeline.count() >= 2
    page.screenshot(path=str(artifacts / "order-timeline.png"), full_page=True)
    # and an operator is offered no dispute bundle (auditors and admins only)
    expect(page.locator("a:text('Dispute bundle')")).to_have_count(0)
    page.goto("/console/dashboard")
    expect(page.locator("#kpi-oversell")).to_be_visible()
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    page.context.close()

    # When an auditor, after a checkpoint was signed, opens the order's dispute bundle
    Checkpointer(database, None).checkpoint()
    auditor = log_in(browser, console_url, issue_key(services, "auditor"))
    auditor.goto(f"/console/orders/{placed.json()['order_id']}")
    auditor.click("a:text('Dispute bundle')")
    # Then the bundle is rendered and it verifies
    expect(auditor.locator("#verdict")).to_have_attribute("data-verified", "true")
    expect(auditor.frame_locator("iframe.bundle").locator("body")).to_contain_text("OrderPlaced")
    auditor.screenshot(path=str(artifacts / "dispute.png"), full_page=True)
    # and the auditor's stock page has no write control
    auditor.goto("/console/stock/TEE")
    expect(auditor.locator("form.write")).to_have_count(0)
    auditor.context.close()
