"""Inventory: holds that lapse at ``expires_at``, securing them, and restocking returns.

Given / when / then, as in test_inventory.py: a lapsed hold no longer counts against what a
new hold may take (even before anyone releases it), cannot be secured and cannot back a
shipment; a hold secured in time never lapses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.errors import HoldExpired, InsufficientStock, InvalidValue, ReservationNotFound
from domain.inventory import Inventory, LocationStock
from tests.domain.support import NOW, new_events

SKU = "SKU-001"
WH1 = "WH-1"
WH2 = "WH-2"
WEB = "web"
EXPIRES = NOW + timedelta(minutes=30)
BEFORE = EXPIRES - timedelta(microseconds=1)
AFTER = EXPIRES + timedelta(minutes=1)


def given_inventory(wh1: int = 10, wh2: int = 0) -> Inventory:
    inventory = Inventory.register(SKU, "Widget")
    for location, quantity in ((WH1, wh1), (WH2, wh2)):
        if quantity:
            inventory.receive(location, quantity)
    inventory.collect_events()
    return inventory


def given_hold(
    inventory: Inventory,
    reservation_id: str = "R-1",
    quantity: int = 6,
    expires_at: datetime | None = EXPIRES,
) -> Inventory:
    """Given a hold of ``quantity`` at WH-1, made at NOW to lapse at ``expires_at``."""
    inventory.reserve(
        reservation_id,
        WH1,
        quantity,
        reference=f"order {reservation_id}",
        now=NOW,
        expires_at=expires_at,
    )
    inventory.collect_events()
    return inventory


# -- what is free -----------------------------------------------------------------------------


def test_an_unexpired_hold_counts_against_what_is_free() -> None:
    inventory = given_hold(given_inventory(wh1=10))

    assert inventory.free(WH1, NOW) == 4
    assert inventory.free(WH1, BEFORE) == 4
    assert inventory.lapsed(WH1, BEFORE) == 0


@pytest.mark.parametrize("at", [EXPIRES, AFTER])
def test_a_hold_past_its_expiry_is_free_again_before_anyone_releases_it(at: datetime) -> None:
    inventory = given_hold(given_inventory(wh1=10))

    assert inventory.lapsed(WH1, at) == 6
    assert inventory.free(WH1, at) == 10
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=6)  # not released yet
    assert inventory.free(WH1) == 4  # without a time, nothing lapses


def test_a_hold_without_expiry_never_lapses() -> None:
    inventory = given_hold(given_inventory(wh1=10), expires_at=None)

    assert inventory.free(WH1, AFTER + timedelta(days=365)) == 4


def test_the_channel_may_promise_a_lapsed_hold_again() -> None:
    inventory = given_inventory(wh1=10, wh2=3)
    inventory.set_safety_buffer(WEB, 2)
    given_hold(inventory)

    assert inventory.available_to_promise(WEB, [WH1, WH2], BEFORE) == 4 + 3 - 2
    assert inventory.available_to_promise(WEB, [WH1, WH2], EXPIRES) == 10 + 3 - 2


def test_a_new_hold_may_take_the_units_of_a_lapsed_one() -> None:
    inventory = given_hold(given_inventory(wh1=10))

    assert inventory.reserve("R-2", WH1, 10, reference="order R-2", now=AFTER)

    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=16)
    assert inventory.free(WH1, AFTER) == 0


def test_a_new_hold_may_not_take_the_units_of_one_still_running() -> None:
    inventory = given_hold(given_inventory(wh1=10))

    with pytest.raises(InsufficientStock) as refused:
        inventory.reserve("R-2", WH1, 5, reference="order R-2", now=BEFORE)

    assert refused.value.facts["available"] == 4
    assert new_events(inventory) == []


# -- securing a hold --------------------------------------------------------------------------


def test_securing_a_hold_in_time_keeps_it_past_its_expiry() -> None:
    inventory = given_hold(given_inventory(wh1=10))

    assert inventory.secure("R-1", BEFORE) is True

    assert new_events(inventory) == [("Inventory.ReservationSecured", {"reservation_id": "R-1"})]
    assert inventory.reservations["R-1"].expires_at is None
    assert inventory.free(WH1, AFTER) == 4
    assert inventory.lapsed(WH1, AFTER) == 0


@pytest.mark.parametrize("at", [EXPIRES, AFTER])
def test_a_lapsed_hold_cannot_be_secured(at: datetime) -> None:
    inventory = given_hold(given_inventory(wh1=10))

    with pytest.raises(HoldExpired) as refused:
        inventory.secure("R-1", at)

    assert refused.value.facts == {
        "sku": SKU,
        "reservation_id": "R-1",
        "expired_at": EXPIRES.isoformat(),
    }
    assert new_events(inventory) == []
    assert inventory.reservations["R-1"].expires_at == EXPIRES


def test_securing_a_hold_that_never_expires_records_nothing() -> None:
    inventory = given_hold(given_inventory(wh1=10), expires_at=None)

    assert inventory.secure("R-1", AFTER) is False

    assert new_events(inventory) == []


def test_securing_an_unknown_hold_is_refused() -> None:
    inventory = given_inventory()

    with pytest.raises(ReservationNotFound):
        inventory.secure("R-9", NOW)


def test_a_retry_of_a_secured_hold_with_its_original_details_holds_nothing_more() -> None:
    inventory = given_hold(given_inventory(wh1=10))
    inventory.secure("R-1", BEFORE)
    inventory.collect_events()

    made = inventory.reserve("R-1", WH1, 6, reference="order R-1", now=BEFORE, expires_at=EXPIRES)

    assert made is False
    assert new_events(inventory) == []
    assert inventory.at(WH1).reserved == 6


# -- committing a hold ------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [None, 1])
def test_a_lapsed_hold_cannot_back_a_shipment(quantity: int | None) -> None:
    inventory = given_hold(given_inventory(wh1=10))

    with pytest.raises(HoldExpired):
        inventory.commit("R-1", quantity, now=EXPIRES)

    assert new_events(inventory) == []
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=6)


def test_a_hold_committed_in_time_leaves_with_its_units() -> None:
    inventory = given_hold(given_inventory(wh1=10))

    inventory.commit("R-1", 2, now=BEFORE)

    assert new_events(inventory) == [
        (
            "Inventory.ReservationCommitted",
            {"reservation_id": "R-1", "location": WH1, "quantity": 2},
        )
    ]
    assert inventory.at(WH1) == LocationStock(on_hand=8, reserved=4)
    # The rest of the hold still lapses when it was due to.
    assert inventory.reservations["R-1"].expires_at == EXPIRES
    assert inventory.lapsed(WH1, EXPIRES) == 4
    assert inventory.free(WH1, EXPIRES) == 8


def test_a_secured_hold_may_be_committed_after_its_old_expiry() -> None:
    inventory = given_hold(given_inventory(wh1=10))
    inventory.secure("R-1", BEFORE)
    inventory.collect_events()

    inventory.commit("R-1", now=AFTER)

    assert inventory.at(WH1) == LocationStock(on_hand=4, reserved=0)


def test_a_released_lapsed_hold_is_gone_for_good() -> None:
    inventory = given_hold(given_inventory(wh1=10))

    inventory.release("R-1")

    assert inventory.expiring == {}
    assert inventory.free(WH1, AFTER) == 10
    assert inventory.lapsed(WH1, AFTER) == 0


# -- restocking returns -----------------------------------------------------------------------


def test_restocking_a_return_puts_the_units_back_on_hand() -> None:
    inventory = given_inventory(wh1=10)

    inventory.restock(WH2, 3, "return RT-1")

    assert new_events(inventory) == [
        ("Inventory.StockReturned", {"location": WH2, "quantity": 3, "reference": "return RT-1"})
    ]
    assert inventory.at(WH2) == LocationStock(on_hand=3, reserved=0)


@pytest.mark.parametrize(
    ("location", "quantity", "reference", "field"),
    [
        ("WH 1", 1, "return RT-1", "location"),
        (WH1, 0, "return RT-1", "quantity"),
        (WH1, 1, "", "reference"),
        (WH1, 1_000_000_000, "return RT-1", "quantity"),  # on hand would exceed the maximum
    ],
)
def test_a_malformed_restock_is_refused(
    location: str, quantity: int, reference: str, field: str
) -> None:
    inventory = given_inventory(wh1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.restock(location, quantity, reference)

    assert refused.value.facts["field"] == field
    assert new_events(inventory) == []
