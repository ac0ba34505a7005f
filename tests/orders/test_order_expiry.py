"""An unpaid order past its deadline: its stock is free at once, whatever the timer does;
the timer then lapses it with an explicit event and the saga releases its holds."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from domain.order import OrderStatus, PaymentDeadlinePassed
from tests.conftest import settle
from tests.orders.support import SHIP_TO, lines, merchant


def place(services: Services, number: str, quantity: int, due_in: float | None) -> None:
    services.orders.place(
        channel="web",
        order_number=number,
        lines=lines("TEE", quantity),
        currency="EUR",
        ship_to=SHIP_TO,
        payment_due_by=None if due_in is None else datetime.now(UTC) + timedelta(seconds=due_in),
    )


def atp(client: TestClient[Litestar]) -> int:
    answer = client.get("/v1/channels/web/availability?sku=TEE")
    assert answer.status_code == 200, answer.text
    item = answer.json()["items"][0]
    return int(item["available"])


def test_a_lapsed_hold_is_free_before_the_timer_runs_and_released_after(
    services: Services, client: TestClient[Litestar]
) -> None:
    # Given 3 units, all held by an order due for payment within a second
    merchant(services, {"TEE": {"SOUTH": 3}})
    place(services, "E-1", 3, due_in=1.0)
    settle(services)
    assert services.orders.order("web", "E-1").status is OrderStatus.CONFIRMED
    assert atp(client) == 0
    # When the deadline passes (and the expiry timer has not run)
    time.sleep(1.2)
    # Then the channel is told the units are available again
    assert atp(client) == 3
    # and another order gets them at once
    place(services, "E-2", 3, due_in=None)
    settle(services)
    assert services.orders.order("web", "E-2").status is OrderStatus.CONFIRMED
    # and the first order can no longer be paid
    with pytest.raises(PaymentDeadlinePassed):
        services.orders.authorise_payment("web", "E-1", Decimal("59.70"), "late")
    # When the timer runs
    assert services.expiry.run_once() == 1
    settle(services)
    # Then the first order is expired and only the second one's units are held
    assert services.orders.order("web", "E-1").status is OrderStatus.EXPIRED
    stock = services.inventory.stock("TEE").at("SOUTH")
    assert (stock.on_hand, stock.reserved) == (3, 3)
    assert services.expiry.run_once() == 0  # nothing more to lapse


def test_a_paid_order_keeps_its_stock_past_the_deadline(services: Services) -> None:
    # Given an order due for payment within a second, paid in time
    merchant(services, {"TEE": {"SOUTH": 2}})
    place(services, "E-3", 2, due_in=1.0)
    settle(services)
    services.orders.authorise_payment("web", "E-3", Decimal("39.80"), "psp")
    # When the deadline passes and the timer runs
    time.sleep(1.2)
    assert services.expiry.run_once() == 0
    # Then the units stay held: nobody else may take them
    place(services, "E-4", 1, due_in=None)
    settle(services)
    assert services.orders.order("web", "E-4").status is OrderStatus.REJECTED
    assert services.orders.order("web", "E-3").status is OrderStatus.CONFIRMED
