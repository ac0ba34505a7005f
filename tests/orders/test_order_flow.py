"""An order's life against the real servers: placement, the saga's stock outcome, payment,
shipment, cancellation, expiry, returns, POS and click & collect."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.services import Services
from domain.order import Fulfilment, OrderStatus, PriceMismatch
from tests.orders.support import CUSTOMER, SHIP_TO, lines, merchant


def place(
    services: Services, number: str, sku: str = "TEE", quantity: int = 1, **extra: object
) -> dict:
    outcome = services.orders.place(
        channel=extra.pop("channel", "web"),  # type: ignore[arg-type]
        order_number=number,
        lines=lines(sku, quantity),
        currency="EUR",
        customer=CUSTOMER,
        ship_to=SHIP_TO,
        **extra,  # type: ignore[arg-type]
    )
    return outcome.body


def test_a_placed_order_is_routed_to_the_nearest_location_that_can_ship_it_all(
    services: Services,
) -> None:
    # Given stock in Hamburg and Munich, and a customer in Munich
    merchant(services, {"TEE": {"NORTH": 5, "SOUTH": 5}})
    # When the order is placed and the saga runs
    place(services, "W-1", quantity=2)
    services.saga.run_once()
    # Then it is confirmed, reserved in Munich, and says why
    order = services.orders.order("web", "W-1")
    assert order.status is OrderStatus.CONFIRMED
    assert [s["location"] for s in order.shipments.values()] == ["SOUTH"]
    assert "SOUTH" in (order.routing_reason or "")
    assert services.inventory.stock("TEE").at("SOUTH").reserved == 2


def test_an_order_no_location_can_fill_is_rejected_and_holds_nothing(services: Services) -> None:
    merchant(services, {"TEE": {"NORTH": 2, "SOUTH": 2}})
    place(services, "W-2", quantity=3)  # 4 in all, but no split allowed
    services.saga.run_once()
    order = services.orders.order("web", "W-2")
    assert order.status is OrderStatus.REJECTED
    stock = services.inventory.stock("TEE")
    assert stock.at("NORTH").reserved == stock.at("SOUTH").reserved == 0


def test_a_split_order_takes_what_each_location_has(services: Services) -> None:
    merchant(services, {"TEE": {"NORTH": 2, "SOUTH": 2}})
    place(services, "W-3", quantity=3, split_allowed=True)
    services.saga.run_once()
    order = services.orders.order("web", "W-3")
    assert order.status is OrderStatus.CONFIRMED
    assert sorted(s["location"] for s in order.shipments.values()) == ["NORTH", "SOUTH"]
    stock = services.inventory.stock("TEE")
    assert stock.at("SOUTH").reserved == 2
    assert stock.at("NORTH").reserved == 1


def test_a_price_the_channel_did_not_show_is_refused_and_nothing_is_written(
    services: Services,
) -> None:
    merchant(services, {"TEE": {"NORTH": 5}})
    with pytest.raises(PriceMismatch):
        services.orders.place(
            channel="web",
            order_number="W-4",
            lines=lines("TEE", 1, Decimal("9.90")),
            currency="EUR",
            ship_to=SHIP_TO,
        )
    assert services.orders.recorder.max_notification_id() in (None, 0)


def test_paid_shipped_order_commits_its_stock_and_a_return_restocks_it(
    services: Services,
) -> None:
    merchant(services, {"TEE": {"SOUTH": 5}})
    place(services, "W-5", quantity=2)
    services.saga.run_once()
    services.orders.authorise_payment("web", "W-5", Decimal("39.80"), "psp-1")
    assert services.inventory.stock("TEE").reservations_made  # the hold no longer lapses
    assert not services.inventory.stock("TEE").expiring
    for step in ("pick", "pack", "ship"):
        services.orders.advance_shipment("web", "W-5", "1", step)
    services.saga.run_once()
    stock = services.inventory.stock("TEE").at("SOUTH")
    assert (stock.on_hand, stock.reserved) == (3, 0)
    services.orders.advance_shipment("web", "W-5", "1", "deliver")
    services.orders.capture_payment("web", "W-5", Decimal("39.80"), "psp-1")
    services.orders.record_return("web", "W-5", "R-1", {1: 1}, "SOUTH", "sellable")
    services.orders.refund("web", "W-5", "RF-1", Decimal("19.90"), "psp-1")
    services.saga.run_once()
    assert services.inventory.stock("TEE").at("SOUTH").on_hand == 4
    assert services.orders.order("web", "W-5").status is OrderStatus.DELIVERED


def test_cancelling_releases_what_is_not_shipped(services: Services) -> None:
    merchant(services, {"TEE": {"SOUTH": 5}})
    place(services, "W-6", quantity=2)
    services.saga.run_once()
    services.orders.cancel("web", "W-6", "customer changed their mind")
    services.saga.run_once()
    assert services.inventory.stock("TEE").at("SOUTH").reserved == 0
    assert services.orders.order("web", "W-6").status is OrderStatus.CANCELLED


def test_a_store_sale_is_fulfilled_at_once_at_the_store(services: Services) -> None:
    merchant(services, {"TEE": {"STORE": 3}})
    services.orders.place(
        channel="store-pos",
        order_number="POS-1",
        lines=lines("TEE", 1),
        currency="EUR",
        fulfilment=Fulfilment.POS,
        pickup_location="STORE",
        payment={"status": "captured", "reference": "till-7", "amount": Decimal("19.90")},
    )
    services.saga.run_once()
    assert services.orders.order("store-pos", "POS-1").status is OrderStatus.DELIVERED
    stock = services.inventory.stock("TEE").at("STORE")
    assert (stock.on_hand, stock.reserved) == (2, 0)


def test_click_and_collect_reserves_at_the_chosen_store(services: Services) -> None:
    merchant(services, {"TEE": {"NORTH": 9, "STORE": 1}})
    place(services, "CC-1", fulfilment=Fulfilment.PICKUP, pickup_location="STORE")
    services.saga.run_once()
    order = services.orders.order("web", "CC-1")
    assert [s["location"] for s in order.shipments.values()] == ["STORE"]
    services.orders.authorise_payment("web", "CC-1", Decimal("19.90"), "psp-2")
    services.orders.collect("web", "CC-1")
    services.saga.run_once()
    stock = services.inventory.stock("TEE").at("STORE")
    assert (stock.on_hand, stock.reserved) == (0, 0)
