"""Inventory: one SKU's stock per location, its reservations and per-channel safety buffers.

Each test reads given / when / then: given a registered SKU and some past commands (whose
events are collected and set aside), when one command runs, then exactly these new events
are pending -- or the named error is raised and nothing is pending.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from domain.errors import (
    InsufficientStock,
    InvalidValue,
    LocationNotInChannel,
    ReservationExists,
    ReservationNotFound,
    StockBelowReserved,
)
from domain.identity import MAX_QUANTITY, stream_id
from domain.inventory import AdjustmentReason, Inventory, LocationStock, Reservation
from tests.domain.support import NOW, new_events, replay

SKU = "SKU-001"
WH1 = "WH-1"
WH2 = "WH-2"
STORE = "STORE-1"
WEB = "web"
WEB_LOCATIONS = [WH1, WH2]

LATER = NOW + timedelta(hours=1)


def given_inventory(**received: int) -> Inventory:
    """A registered SKU with ``received`` units at each location (keys use '_' for '-').

    The registration and receipt events are already collected, so the test sees only what
    its own command records.
    """
    inventory = Inventory.register(SKU, "Widget", gtin="4006381333931")
    for location, quantity in received.items():
        inventory.receive(location.replace("_", "-"), quantity)
    inventory.collect_events()
    return inventory


def reserve(
    inventory: Inventory, reservation_id: str, location: str, quantity: int, **options: object
) -> bool:
    options.setdefault("reference", f"order-{reservation_id}")
    options.setdefault("now", NOW)
    return inventory.reserve(
        reservation_id,
        location,
        quantity,
        **options,  # type: ignore[arg-type]
    )


# -- register / describe ---------------------------------------------------------------------


def test_registering_a_sku_records_sku_registered_with_its_gtin() -> None:
    # when
    inventory = Inventory.register(SKU, "Widget", gtin="4006381333931")

    # then
    assert new_events(inventory) == [
        ("Inventory.SkuRegistered", {"sku": SKU, "name": "Widget", "gtin": "4006381333931"})
    ]
    assert inventory.id == stream_id("sku", SKU) == Inventory.create_id(SKU)
    assert inventory.stock == {}
    assert inventory.reservations == {}
    assert inventory.safety_buffers == {}


def test_registering_without_a_gtin_is_allowed() -> None:
    inventory = Inventory.register(SKU, "Widget")

    assert new_events(inventory) == [
        ("Inventory.SkuRegistered", {"sku": SKU, "name": "Widget", "gtin": None})
    ]


@pytest.mark.parametrize(
    "gtin",
    [
        "96385074",  # GTIN-8: 9*3+6+3*3+8+5*3+0+7*3 = 86 -> check 4
        "036000291452",  # GTIN-12 (UPC-A): weighted sum 58 -> check 2
        "4006381333931",  # GTIN-13 (EAN-13): weighted sum 89 -> check 1
        "10012345678902",  # GTIN-14: weighted sum 88 -> check 2
    ],
)
def test_a_gtin_with_a_correct_check_digit_is_accepted(gtin: str) -> None:
    inventory = Inventory.register(SKU, "Widget", gtin=gtin)

    assert inventory.gtin == gtin


@pytest.mark.parametrize(
    "gtin", ["96385075", "036000291453", "4006381333932", "10012345678903", "4006381333930"]
)
def test_a_gtin_with_a_wrong_check_digit_is_refused(gtin: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        Inventory.register(SKU, "Widget", gtin=gtin)

    assert refused.value.facts == {"field": "gtin"}


@pytest.mark.parametrize(
    "gtin",
    [
        "",
        "9638507",  # 7 digits
        "963850745",  # 9 digits
        "40063813339",  # 11 digits
        "400638133393100",  # 15 digits
        "4006381333931 ",
        "400638133393A",
        "\u0664\u0660\u0660\u0666\u0663\u0668\u0661\u0663\u0663\u0663\u0669\u0663\u0661",
    ],
)
def test_a_gtin_of_the_wrong_length_or_with_non_digits_is_refused(gtin: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        Inventory.register(SKU, "Widget", gtin=gtin)

    assert refused.value.facts == {"field": "gtin"}


def test_a_gtin_that_is_not_a_string_is_refused_as_an_invalid_value() -> None:
    # A GTIN sent as a JSON number must be refused as bad input, not crash the command.
    with pytest.raises(InvalidValue):
        Inventory.register(SKU, "Widget", gtin=4006381333931)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sku",
    ["", " SKU-1", "-SKU", ".SKU", "_SKU", "SKU 1", "SKU/1", "SKU#1", "é-1", "S" * 65, None, 42],
)
def test_a_bad_sku_code_is_refused(sku: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        Inventory.register(sku, "Widget")  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "sku"}


@pytest.mark.parametrize("sku", ["A", "sku-1", "SKU_1.v2", "9" * 64])
def test_a_good_sku_code_is_accepted(sku: str) -> None:
    assert Inventory.register(sku, "Widget").sku == sku


@pytest.mark.parametrize("name", ["N" * 201, None])
def test_a_name_that_is_too_long_or_not_text_is_refused(name: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        Inventory.register(SKU, name)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "name"}


def test_describing_a_sku_differently_records_sku_described() -> None:
    inventory = given_inventory()

    inventory.describe("Blue widget", "96385074")

    assert new_events(inventory) == [
        ("Inventory.SkuDescribed", {"name": "Blue widget", "gtin": "96385074"})
    ]
    assert (inventory.name, inventory.gtin) == ("Blue widget", "96385074")


def test_describing_a_sku_as_it_already_is_records_nothing() -> None:
    inventory = given_inventory()

    inventory.describe("Widget", "4006381333931")

    assert new_events(inventory) == []


def test_describing_a_sku_with_a_bad_gtin_is_refused() -> None:
    inventory = given_inventory()

    with pytest.raises(InvalidValue):
        inventory.describe("Widget", "4006381333932")

    assert new_events(inventory) == []
    assert inventory.gtin == "4006381333931"


# -- receive ---------------------------------------------------------------------------------


def test_receiving_goods_adds_them_to_on_hand() -> None:
    inventory = given_inventory(WH_1=10)

    inventory.receive(WH1, 5)

    assert new_events(inventory) == [("Inventory.StockReceived", {"location": WH1, "quantity": 5})]
    assert inventory.at(WH1) == LocationStock(on_hand=15, reserved=0)
    assert inventory.at(WH2) == LocationStock()


@pytest.mark.parametrize("quantity", [0, -1, -10, 1.0, 2.5, "3", None, True, False])
def test_receiving_a_quantity_that_is_not_a_positive_whole_number_is_refused(
    quantity: object,
) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.receive(WH1, quantity)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "quantity"}
    assert new_events(inventory) == []
    assert inventory.at(WH1).on_hand == 10


def test_receiving_up_to_max_quantity_is_accepted() -> None:
    inventory = given_inventory(WH_1=1)

    inventory.receive(WH1, MAX_QUANTITY - 1)

    assert new_events(inventory) == [
        ("Inventory.StockReceived", {"location": WH1, "quantity": MAX_QUANTITY - 1})
    ]
    assert inventory.at(WH1).on_hand == MAX_QUANTITY


def test_receiving_more_than_max_quantity_at_once_is_refused() -> None:
    inventory = given_inventory()

    with pytest.raises(InvalidValue):
        inventory.receive(WH1, MAX_QUANTITY + 1)

    assert new_events(inventory) == []


def test_receiving_that_would_take_on_hand_beyond_max_quantity_is_refused() -> None:
    inventory = given_inventory(WH_1=MAX_QUANTITY)

    with pytest.raises(InvalidValue):
        inventory.receive(WH1, 1)

    assert new_events(inventory) == []
    assert inventory.at(WH1).on_hand == MAX_QUANTITY


@pytest.mark.parametrize("location", ["", "WH 1", "-WH", None])
def test_receiving_at_a_bad_location_code_is_refused(location: object) -> None:
    inventory = given_inventory()

    with pytest.raises(InvalidValue) as refused:
        inventory.receive(location, 1)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "location"}
    assert new_events(inventory) == []


# -- adjust ----------------------------------------------------------------------------------


def test_a_cycle_count_sets_on_hand_to_the_counted_figure() -> None:
    inventory = given_inventory(WH_1=10)

    inventory.adjust(WH1, AdjustmentReason.CYCLE_COUNT, 7)

    assert new_events(inventory) == [
        (
            "Inventory.StockAdjusted",
            {"location": WH1, "reason": AdjustmentReason.CYCLE_COUNT, "delta": -3, "counted": 7},
        )
    ]
    assert inventory.at(WH1).on_hand == 7


def test_a_cycle_count_above_on_hand_records_a_positive_delta() -> None:
    inventory = given_inventory(WH_1=10)

    inventory.adjust(WH1, AdjustmentReason.CYCLE_COUNT, 12)

    assert new_events(inventory) == [
        (
            "Inventory.StockAdjusted",
            {"location": WH1, "reason": AdjustmentReason.CYCLE_COUNT, "delta": 2, "counted": 12},
        )
    ]
    assert inventory.at(WH1).on_hand == 12


def test_a_cycle_count_of_zero_empties_an_unreserved_location() -> None:
    inventory = given_inventory(WH_1=10)

    inventory.adjust(WH1, AdjustmentReason.CYCLE_COUNT, 0)

    assert new_events(inventory) == [
        (
            "Inventory.StockAdjusted",
            {"location": WH1, "reason": AdjustmentReason.CYCLE_COUNT, "delta": -10, "counted": 0},
        )
    ]
    assert inventory.at(WH1).on_hand == 0


def test_a_cycle_count_confirming_on_hand_records_a_zero_delta() -> None:
    # A count is an audit fact even when it matches the books.
    inventory = given_inventory(WH_1=10)

    inventory.adjust(WH1, AdjustmentReason.CYCLE_COUNT, 10)

    assert new_events(inventory) == [
        (
            "Inventory.StockAdjusted",
            {"location": WH1, "reason": AdjustmentReason.CYCLE_COUNT, "delta": 0, "counted": 10},
        )
    ]


@pytest.mark.parametrize("counted", [-1, MAX_QUANTITY + 1, 1.5, True, "7"])
def test_a_cycle_count_that_is_not_a_whole_number_in_range_is_refused(counted: object) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue):
        inventory.adjust(WH1, AdjustmentReason.CYCLE_COUNT, counted)  # type: ignore[arg-type]

    assert new_events(inventory) == []


@pytest.mark.parametrize("reason", [AdjustmentReason.DAMAGE, AdjustmentReason.SHRINKAGE])
def test_damage_and_shrinkage_take_a_negative_delta_off_on_hand(
    reason: AdjustmentReason,
) -> None:
    inventory = given_inventory(WH_1=10)

    inventory.adjust(WH1, reason, -4)

    assert new_events(inventory) == [
        (
            "Inventory.StockAdjusted",
            {"location": WH1, "reason": reason, "delta": -4, "counted": None},
        )
    ]
    assert inventory.at(WH1).on_hand == 6


@pytest.mark.parametrize("reason", [AdjustmentReason.DAMAGE, AdjustmentReason.SHRINKAGE])
@pytest.mark.parametrize("quantity", [0, 1, 4])
def test_damage_and_shrinkage_with_a_delta_that_is_not_negative_are_refused(
    reason: AdjustmentReason, quantity: int
) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.adjust(WH1, reason, quantity)

    assert refused.value.facts == {"field": "quantity"}
    assert new_events(inventory) == []
    assert inventory.at(WH1).on_hand == 10


@pytest.mark.parametrize("delta", [3, -3])
def test_a_correction_adds_or_removes_its_delta(delta: int) -> None:
    inventory = given_inventory(WH_1=10)

    inventory.adjust(WH1, AdjustmentReason.CORRECTION, delta)

    assert new_events(inventory) == [
        (
            "Inventory.StockAdjusted",
            {
                "location": WH1,
                "reason": AdjustmentReason.CORRECTION,
                "delta": delta,
                "counted": None,
            },
        )
    ]
    assert inventory.at(WH1).on_hand == 10 + delta


def test_a_correction_of_zero_is_refused() -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.adjust(WH1, AdjustmentReason.CORRECTION, 0)

    assert refused.value.facts == {"field": "quantity"}
    assert new_events(inventory) == []


@pytest.mark.parametrize(
    "reason", [AdjustmentReason.DAMAGE, AdjustmentReason.SHRINKAGE, AdjustmentReason.CORRECTION]
)
@pytest.mark.parametrize("quantity", [-1.0, True, False, "-1", None])
def test_a_delta_that_is_not_a_whole_number_is_refused(
    reason: AdjustmentReason, quantity: object
) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue):
        inventory.adjust(WH1, reason, quantity)  # type: ignore[arg-type]

    assert new_events(inventory) == []


def test_a_correction_that_would_take_on_hand_beyond_max_quantity_is_refused() -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue):
        inventory.adjust(WH1, AdjustmentReason.CORRECTION, MAX_QUANTITY - 9)

    assert new_events(inventory) == []


@pytest.mark.parametrize(
    ("reason", "quantity", "would_be"),
    [
        (AdjustmentReason.CYCLE_COUNT, 5, 5),
        (AdjustmentReason.DAMAGE, -5, 5),
        (AdjustmentReason.SHRINKAGE, -10, 0),
        (AdjustmentReason.CORRECTION, -4, 6),
    ],
)
def test_an_adjustment_below_what_is_reserved_is_refused_and_records_nothing(
    reason: AdjustmentReason, quantity: int, would_be: int
) -> None:
    # given 10 on hand, 7 of them promised to a customer
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 7)
    inventory.collect_events()

    # when
    with pytest.raises(StockBelowReserved) as refused:
        inventory.adjust(WH1, reason, quantity)

    # then
    assert refused.value.facts == {
        "sku": SKU,
        "location": WH1,
        "on_hand": would_be,
        "reserved": 7,
    }
    assert new_events(inventory) == []
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=7)


def test_an_adjustment_down_to_exactly_what_is_reserved_is_accepted() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 7)
    inventory.collect_events()

    inventory.adjust(WH1, AdjustmentReason.DAMAGE, -3)

    assert new_events(inventory) == [
        (
            "Inventory.StockAdjusted",
            {"location": WH1, "reason": AdjustmentReason.DAMAGE, "delta": -3, "counted": None},
        )
    ]
    assert inventory.at(WH1) == LocationStock(on_hand=7, reserved=7)


def test_damage_of_more_than_is_on_hand_is_refused() -> None:
    # Nothing is reserved, yet on hand may not go negative: there are not 6 units to lose.
    inventory = given_inventory(WH_1=5)

    with pytest.raises(InsufficientStock) as refused:
        inventory.adjust(WH1, AdjustmentReason.DAMAGE, -6)

    assert refused.value.facts["requested"] == 6
    assert refused.value.facts["available"] == 5
    assert new_events(inventory) == []


@pytest.mark.parametrize("reason", ["breakage", "", "CYCLE_COUNT", None])
def test_an_unknown_adjustment_reason_is_refused(reason: object) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.adjust(WH1, reason, -1)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "reason"}
    assert new_events(inventory) == []


def test_an_adjustment_reason_given_as_its_plain_value_is_accepted() -> None:
    inventory = given_inventory(WH_1=10)

    inventory.adjust(WH1, "shrinkage", -1)  # type: ignore[arg-type]

    [(name, payload)] = new_events(inventory)
    assert name == "Inventory.StockAdjusted"
    assert payload["reason"] is AdjustmentReason.SHRINKAGE


# -- transfer --------------------------------------------------------------------------------


def test_a_transfer_moves_units_between_locations() -> None:
    inventory = given_inventory(WH_1=10, WH_2=1)

    inventory.transfer(WH1, WH2, 4)

    assert new_events(inventory) == [
        ("Inventory.StockTransferred", {"source": WH1, "destination": WH2, "quantity": 4})
    ]
    assert inventory.at(WH1).on_hand == 6
    assert inventory.at(WH2).on_hand == 5


def test_a_transfer_to_a_location_that_never_held_stock_creates_its_stock() -> None:
    inventory = given_inventory(WH_1=10)

    inventory.transfer(WH1, STORE, 10)

    assert new_events(inventory) == [
        ("Inventory.StockTransferred", {"source": WH1, "destination": STORE, "quantity": 10})
    ]
    assert inventory.at(WH1).on_hand == 0
    assert inventory.at(STORE).on_hand == 10


def test_a_transfer_to_the_same_location_is_refused() -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.transfer(WH1, WH1, 1)

    assert refused.value.facts == {"field": "to_location"}
    assert new_events(inventory) == []


def test_a_transfer_of_more_than_is_available_is_refused() -> None:
    # given 10 on hand, 6 reserved: 4 available
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 6)
    inventory.collect_events()

    with pytest.raises(InsufficientStock) as refused:
        inventory.transfer(WH1, WH2, 5)

    assert refused.value.facts == {
        "sku": SKU,
        "location": WH1,
        "requested": 5,
        "available": 4,
    }
    assert new_events(inventory) == []
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=6)
    assert inventory.at(WH2) == LocationStock()


def test_a_transfer_of_exactly_the_available_units_is_accepted() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 6)
    inventory.collect_events()

    inventory.transfer(WH1, WH2, 4)

    assert new_events(inventory) == [
        ("Inventory.StockTransferred", {"source": WH1, "destination": WH2, "quantity": 4})
    ]
    assert inventory.at(WH1) == LocationStock(on_hand=6, reserved=6)


def test_a_transfer_from_a_location_without_stock_is_refused() -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InsufficientStock) as refused:
        inventory.transfer(STORE, WH1, 1)

    assert refused.value.facts["available"] == 0
    assert new_events(inventory) == []


def test_a_transfer_that_would_take_the_destination_beyond_max_quantity_is_refused() -> None:
    inventory = given_inventory(WH_1=10, WH_2=MAX_QUANTITY)

    with pytest.raises(InvalidValue):
        inventory.transfer(WH1, WH2, 1)

    assert new_events(inventory) == []


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True])
def test_a_transfer_of_a_bad_quantity_is_refused(quantity: object) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue):
        inventory.transfer(WH1, WH2, quantity)  # type: ignore[arg-type]

    assert new_events(inventory) == []


# -- reserve ---------------------------------------------------------------------------------


def test_a_reservation_within_the_location_available_is_recorded() -> None:
    inventory = given_inventory(WH_1=10)

    made = inventory.reserve("R-1", WH1, 3, reference="order-7", now=NOW)

    assert made is True
    assert new_events(inventory) == [
        (
            "Inventory.StockReserved",
            {
                "reservation_id": "R-1",
                "location": WH1,
                "quantity": 3,
                "channel": None,
                "reference": "order-7",
                "expires_at": None,
            },
        )
    ]
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=3)
    assert inventory.reservations == {"R-1": Reservation("R-1", WH1, 3, None, "order-7", None)}


def test_a_reservation_of_everything_available_is_recorded() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 6)
    inventory.collect_events()

    assert reserve(inventory, "R-2", WH1, 4) is True

    assert [name for name, _ in new_events(inventory)] == ["Inventory.StockReserved"]
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=10)


def test_a_reservation_beyond_the_location_available_is_refused() -> None:
    inventory = given_inventory(WH_1=10, WH_2=50)
    reserve(inventory, "R-1", WH1, 6)
    inventory.collect_events()

    with pytest.raises(InsufficientStock) as refused:
        reserve(inventory, "R-2", WH1, 5)

    assert refused.value.facts == {"sku": SKU, "location": WH1, "requested": 5, "available": 4}
    assert new_events(inventory) == []
    assert set(inventory.reservations) == {"R-1"}


def test_a_channel_reservation_within_the_channel_atp_is_recorded() -> None:
    inventory = given_inventory(WH_1=10, WH_2=5)
    inventory.set_safety_buffer(WEB, 3)
    inventory.collect_events()

    made = reserve(
        inventory,
        "R-1",
        WH1,
        10,
        channel=WEB,
        channel_locations=WEB_LOCATIONS,
        expires_at=LATER,
        reference="web-1",
    )

    assert made is True
    assert new_events(inventory) == [
        (
            "Inventory.StockReserved",
            {
                "reservation_id": "R-1",
                "location": WH1,
                "quantity": 10,
                "channel": WEB,
                "reference": "web-1",
                "expires_at": LATER,
            },
        )
    ]
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 2


def test_a_channel_reservation_from_a_location_that_does_not_feed_the_channel_is_refused() -> None:
    inventory = given_inventory(WH_1=10, STORE_1=10)

    with pytest.raises(LocationNotInChannel) as refused:
        reserve(inventory, "R-1", STORE, 1, channel=WEB, channel_locations=WEB_LOCATIONS)

    assert refused.value.facts == {"location": STORE, "channel": WEB}
    assert new_events(inventory) == []
    assert inventory.at(STORE).reserved == 0


def test_a_channel_reservation_without_channel_locations_is_refused() -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(LocationNotInChannel):
        reserve(inventory, "R-1", WH1, 1, channel=WEB)

    assert new_events(inventory) == []


def test_a_reservation_beyond_the_channel_atp_is_refused_even_when_the_location_has_enough() -> (
    None
):
    # given WH-1 holds 10, WH-2 holds nothing, and web keeps 5 back: web may promise 5
    inventory = given_inventory(WH_1=10)
    inventory.set_safety_buffer(WEB, 5)
    inventory.collect_events()
    assert inventory.at(WH1).available == 10

    # when
    with pytest.raises(InsufficientStock) as refused:
        reserve(inventory, "R-1", WH1, 6, channel=WEB, channel_locations=WEB_LOCATIONS)

    # then
    assert refused.value.facts == {"sku": SKU, "channel": WEB, "requested": 6, "available": 5}
    assert new_events(inventory) == []
    assert inventory.reservations == {}


def test_the_channel_atp_counts_reservations_at_every_location_feeding_it() -> None:
    # given 10 at each web location; 9 already promised elsewhere (8 at WH-2, 1 at WH-1) and a
    # buffer of 5: web may promise 20 - 9 - 5 = 6, though WH-1 alone has 9 available
    inventory = given_inventory(WH_1=10, WH_2=10)
    reserve(inventory, "R-1", WH2, 8)
    reserve(inventory, "R-2", WH1, 1)
    inventory.set_safety_buffer(WEB, 5)
    inventory.collect_events()
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 6

    with pytest.raises(InsufficientStock) as refused:
        reserve(inventory, "R-3", WH1, 7, channel=WEB, channel_locations=WEB_LOCATIONS)
    assert refused.value.facts == {"sku": SKU, "channel": WEB, "requested": 7, "available": 6}
    assert new_events(inventory) == []

    assert reserve(inventory, "R-3", WH1, 6, channel=WEB, channel_locations=WEB_LOCATIONS)
    assert [name for name, _ in new_events(inventory)] == ["Inventory.StockReserved"]
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 0


def test_a_reservation_without_a_channel_is_not_limited_by_channel_buffers() -> None:
    inventory = given_inventory(WH_1=10)
    inventory.set_safety_buffer(WEB, 8)
    inventory.collect_events()

    assert reserve(inventory, "R-1", WH1, 10) is True

    assert [name for name, _ in new_events(inventory)] == ["Inventory.StockReserved"]
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 0


def test_repeating_an_identical_reservation_returns_false_and_records_nothing() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(
        inventory, "R-1", WH1, 3, channel=WEB, channel_locations=WEB_LOCATIONS, expires_at=LATER
    )
    inventory.collect_events()

    made = reserve(
        inventory, "R-1", WH1, 3, channel=WEB, channel_locations=WEB_LOCATIONS, expires_at=LATER
    )

    assert made is False
    assert new_events(inventory) == []
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=3)


def test_repeating_a_reservation_succeeds_even_when_nothing_is_left_to_reserve() -> None:
    # The repeat is recognised before availability is checked, so a retry is harmless.
    inventory = given_inventory(WH_1=3)
    reserve(inventory, "R-1", WH1, 3)
    inventory.collect_events()

    assert reserve(inventory, "R-1", WH1, 3) is False

    assert new_events(inventory) == []


@pytest.mark.parametrize(
    "different",
    [
        {"location": WH2},
        {"quantity": 4},
        {"reference": "order-other"},
        {"channel": WEB, "channel_locations": WEB_LOCATIONS},
        {"expires_at": LATER},
    ],
)
def test_reusing_a_reservation_id_with_different_details_is_refused(
    different: dict[str, object],
) -> None:
    inventory = given_inventory(WH_1=10, WH_2=10)
    reserve(inventory, "R-1", WH1, 3, reference="order-1")
    inventory.collect_events()

    details: dict[str, object] = {"location": WH1, "quantity": 3, "reference": "order-1"}
    details.update(different)
    location = details.pop("location")
    quantity = details.pop("quantity")
    with pytest.raises(ReservationExists) as refused:
        reserve(inventory, "R-1", location, quantity, **details)  # type: ignore[arg-type]

    assert refused.value.facts == {"sku": SKU, "reservation_id": "R-1"}
    assert new_events(inventory) == []
    assert inventory.reservations["R-1"] == Reservation("R-1", WH1, 3, None, "order-1", None)


@pytest.mark.parametrize("after", ["released", "committed", "partly committed"])
def test_repeating_a_reservation_after_it_was_settled_does_not_reserve_again(after: str) -> None:
    # reserve() promises "a repeat is harmless": a retried command must not hold stock twice.
    # Today the id is forgotten once the reservation is released or fully committed (so the
    # retry reserves again), and a partly committed one makes the retry fail with
    # ReservationExists.
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3, reference="order-1")
    if after == "released":
        inventory.release("R-1")
    elif after == "committed":
        inventory.commit("R-1")
    else:
        inventory.commit("R-1", 1)
    inventory.collect_events()
    reserved_before = inventory.at(WH1).reserved

    made = reserve(inventory, "R-1", WH1, 3, reference="order-1")

    assert made is False
    assert new_events(inventory) == []
    assert inventory.at(WH1).reserved == reserved_before


@pytest.mark.parametrize("expires_at", [NOW, NOW - timedelta(seconds=1), NOW - timedelta(days=3)])
def test_a_reservation_that_expires_at_or_before_now_is_refused(expires_at: object) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        reserve(inventory, "R-1", WH1, 1, expires_at=expires_at)

    assert refused.value.facts == {"field": "expires_at"}
    assert new_events(inventory) == []


def test_a_reservation_that_expires_just_after_now_is_recorded() -> None:
    inventory = given_inventory(WH_1=10)
    expires_at = NOW + timedelta(microseconds=1)

    assert reserve(inventory, "R-1", WH1, 1, expires_at=expires_at) is True

    [(_, payload)] = new_events(inventory)
    assert payload["expires_at"] == expires_at


@pytest.mark.parametrize("reference", ["", "x" * 201, None])
def test_a_reservation_with_a_bad_reference_is_refused(reference: object) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.reserve("R-1", WH1, 1, reference=reference, now=NOW)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "reference"}
    assert new_events(inventory) == []


@pytest.mark.parametrize("reservation_id", ["", "R 1", "-R1", None])
def test_a_reservation_with_a_bad_id_is_refused(reservation_id: object) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        reserve(inventory, reservation_id, WH1, 1)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "reservation_id"}
    assert new_events(inventory) == []


@pytest.mark.parametrize("quantity", [0, -2, 1.5, True])
def test_a_reservation_of_a_bad_quantity_is_refused(quantity: object) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        reserve(inventory, "R-1", WH1, quantity)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "quantity"}
    assert new_events(inventory) == []


# -- release ---------------------------------------------------------------------------------


def test_releasing_a_reservation_gives_its_units_back() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3)
    reserve(inventory, "R-2", WH1, 2)
    inventory.collect_events()

    inventory.release("R-1")

    assert new_events(inventory) == [
        ("Inventory.ReservationReleased", {"reservation_id": "R-1", "location": WH1, "quantity": 3})
    ]
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=2)
    assert set(inventory.reservations) == {"R-2"}


def test_released_units_can_be_reserved_again() -> None:
    inventory = given_inventory(WH_1=3)
    reserve(inventory, "R-1", WH1, 3)
    inventory.release("R-1")
    inventory.collect_events()

    assert reserve(inventory, "R-2", WH1, 3) is True

    assert [name for name, _ in new_events(inventory)] == ["Inventory.StockReserved"]


def test_releasing_an_unknown_reservation_is_refused() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3)
    inventory.collect_events()

    with pytest.raises(ReservationNotFound) as refused:
        inventory.release("R-404")

    assert refused.value.facts == {"sku": SKU, "reservation_id": "R-404"}
    assert new_events(inventory) == []


def test_releasing_a_reservation_twice_is_refused_the_second_time() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3)
    inventory.release("R-1")
    inventory.collect_events()

    with pytest.raises(ReservationNotFound):
        inventory.release("R-1")

    assert new_events(inventory) == []
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=0)


# -- commit ----------------------------------------------------------------------------------


def test_committing_a_whole_reservation_takes_it_off_on_hand_and_reserved() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3)
    inventory.collect_events()

    inventory.commit("R-1")

    assert new_events(inventory) == [
        (
            "Inventory.ReservationCommitted",
            {"reservation_id": "R-1", "location": WH1, "quantity": 3},
        )
    ]
    assert inventory.at(WH1) == LocationStock(on_hand=7, reserved=0)
    assert inventory.reservations == {}


def test_committing_exactly_the_held_quantity_settles_the_reservation() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3)
    inventory.collect_events()

    inventory.commit("R-1", 3)

    assert new_events(inventory) == [
        (
            "Inventory.ReservationCommitted",
            {"reservation_id": "R-1", "location": WH1, "quantity": 3},
        )
    ]
    assert inventory.reservations == {}


def test_committing_part_of_a_reservation_keeps_the_rest_reserved() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(
        inventory,
        "R-1",
        WH1,
        5,
        channel=WEB,
        channel_locations=WEB_LOCATIONS,
        reference="order-9",
        expires_at=LATER,
    )
    inventory.collect_events()

    inventory.commit("R-1", 2)

    assert new_events(inventory) == [
        (
            "Inventory.ReservationCommitted",
            {"reservation_id": "R-1", "location": WH1, "quantity": 2},
        )
    ]
    assert inventory.at(WH1) == LocationStock(on_hand=8, reserved=3)
    assert inventory.reservations == {"R-1": Reservation("R-1", WH1, 3, WEB, "order-9", LATER)}


def test_committing_the_remainder_after_a_partial_commit_settles_the_reservation() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 5)
    inventory.commit("R-1", 2)
    inventory.collect_events()

    inventory.commit("R-1")

    assert new_events(inventory) == [
        (
            "Inventory.ReservationCommitted",
            {"reservation_id": "R-1", "location": WH1, "quantity": 3},
        )
    ]
    assert inventory.at(WH1) == LocationStock(on_hand=5, reserved=0)
    assert inventory.reservations == {}


def test_committing_more_than_is_held_is_refused() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3)
    inventory.collect_events()

    with pytest.raises(InvalidValue) as refused:
        inventory.commit("R-1", 4)

    assert refused.value.facts == {"field": "quantity"}
    assert new_events(inventory) == []
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=3)


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True])
def test_committing_a_bad_quantity_is_refused(quantity: object) -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3)
    inventory.collect_events()

    with pytest.raises(InvalidValue):
        inventory.commit("R-1", quantity)  # type: ignore[arg-type]

    assert new_events(inventory) == []


def test_committing_an_unknown_reservation_is_refused() -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(ReservationNotFound) as refused:
        inventory.commit("R-404")

    assert refused.value.facts == {"sku": SKU, "reservation_id": "R-404"}
    assert new_events(inventory) == []


def test_committing_a_released_reservation_is_refused() -> None:
    inventory = given_inventory(WH_1=10)
    reserve(inventory, "R-1", WH1, 3)
    inventory.release("R-1")
    inventory.collect_events()

    with pytest.raises(ReservationNotFound):
        inventory.commit("R-1")

    assert new_events(inventory) == []
    assert inventory.at(WH1) == LocationStock(on_hand=10, reserved=0)


# -- safety buffers --------------------------------------------------------------------------


def test_a_safety_buffer_reduces_what_the_channel_may_promise() -> None:
    inventory = given_inventory(WH_1=10, WH_2=5)
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 15

    inventory.set_safety_buffer(WEB, 4)

    assert new_events(inventory) == [("Inventory.SafetyBufferSet", {"channel": WEB, "quantity": 4})]
    assert inventory.safety_buffers == {WEB: 4}
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 11
    assert inventory.available_to_promise("pos", [WH1]) == 10


def test_the_channel_atp_never_falls_below_zero() -> None:
    inventory = given_inventory(WH_1=3)

    inventory.set_safety_buffer(WEB, 5)

    assert [name for name, _ in new_events(inventory)] == ["Inventory.SafetyBufferSet"]
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 0


def test_the_channel_atp_of_a_channel_without_locations_is_zero() -> None:
    inventory = given_inventory(WH_1=3)

    assert inventory.available_to_promise(WEB, []) == 0


def test_setting_the_same_safety_buffer_again_records_nothing() -> None:
    inventory = given_inventory(WH_1=10)
    inventory.set_safety_buffer(WEB, 4)
    inventory.collect_events()

    inventory.set_safety_buffer(WEB, 4)

    assert new_events(inventory) == []


def test_changing_a_safety_buffer_records_the_new_value() -> None:
    inventory = given_inventory(WH_1=10)
    inventory.set_safety_buffer(WEB, 4)
    inventory.collect_events()

    inventory.set_safety_buffer(WEB, 6)

    assert new_events(inventory) == [("Inventory.SafetyBufferSet", {"channel": WEB, "quantity": 6})]
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 4


def test_a_safety_buffer_of_zero_removes_it() -> None:
    inventory = given_inventory(WH_1=10)
    inventory.set_safety_buffer(WEB, 4)
    inventory.set_safety_buffer("pos", 1)
    inventory.collect_events()

    inventory.set_safety_buffer(WEB, 0)

    assert new_events(inventory) == [("Inventory.SafetyBufferSet", {"channel": WEB, "quantity": 0})]
    assert inventory.safety_buffers == {"pos": 1}
    assert inventory.available_to_promise(WEB, WEB_LOCATIONS) == 10


def test_a_safety_buffer_of_zero_for_a_channel_without_one_records_nothing() -> None:
    inventory = given_inventory(WH_1=10)

    inventory.set_safety_buffer(WEB, 0)

    assert new_events(inventory) == []
    assert inventory.safety_buffers == {}


@pytest.mark.parametrize(
    ("channel", "quantity", "field"),
    [
        (WEB, -1, "quantity"),
        (WEB, 1.5, "quantity"),
        (WEB, True, "quantity"),
        ("", 1, "channel"),
        ("web shop", 1, "channel"),
    ],
)
def test_a_bad_safety_buffer_is_refused(channel: str, quantity: object, field: str) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.set_safety_buffer(channel, quantity)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": field}
    assert new_events(inventory) == []


# -- reorder policy --------------------------------------------------------------------------


def test_setting_a_reorder_policy_records_it_for_the_location() -> None:
    inventory = given_inventory(WH_1=10)

    inventory.set_reorder_policy(WH1, 5, 20)

    assert new_events(inventory) == [
        (
            "Inventory.ReorderPolicySet",
            {"location": WH1, "reorder_point": 5, "reorder_quantity": 20},
        )
    ]
    assert inventory.at(WH1) == LocationStock(
        on_hand=10, reserved=0, reorder_point=5, reorder_quantity=20
    )


def test_setting_the_same_reorder_policy_again_records_nothing() -> None:
    inventory = given_inventory(WH_1=10)
    inventory.set_reorder_policy(WH1, 5, 20)
    inventory.collect_events()

    inventory.set_reorder_policy(WH1, 5, 20)

    assert new_events(inventory) == []


@pytest.mark.parametrize(("point", "quantity"), [(6, 20), (5, 21), (0, 20)])
def test_changing_either_reorder_value_records_a_new_policy(point: int, quantity: int) -> None:
    inventory = given_inventory(WH_1=10)
    inventory.set_reorder_policy(WH1, 5, 20)
    inventory.collect_events()

    inventory.set_reorder_policy(WH1, point, quantity)

    assert new_events(inventory) == [
        (
            "Inventory.ReorderPolicySet",
            {"location": WH1, "reorder_point": point, "reorder_quantity": quantity},
        )
    ]


@pytest.mark.parametrize(
    ("point", "quantity", "field"),
    [
        (-1, 20, "reorder_point"),
        (5, 0, "reorder_quantity"),
        (5, -3, "reorder_quantity"),
        (1.5, 20, "reorder_point"),
        (5, True, "reorder_quantity"),
    ],
)
def test_a_bad_reorder_policy_is_refused(point: object, quantity: object, field: str) -> None:
    inventory = given_inventory(WH_1=10)

    with pytest.raises(InvalidValue) as refused:
        inventory.set_reorder_policy(WH1, point, quantity)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": field}
    assert new_events(inventory) == []


# -- replay ----------------------------------------------------------------------------------


def test_replaying_the_recorded_events_rebuilds_the_same_inventory() -> None:
    # given a history touching every kind of event
    inventory = Inventory.register(SKU, "Widget")
    inventory.describe("Blue widget", "96385074")
    inventory.receive(WH1, 20)
    inventory.receive(WH2, 7)
    inventory.adjust(WH1, AdjustmentReason.CYCLE_COUNT, 18)
    inventory.adjust(WH2, AdjustmentReason.DAMAGE, -1)
    inventory.adjust(WH2, AdjustmentReason.CORRECTION, 2)
    inventory.transfer(WH1, STORE, 4)
    inventory.set_safety_buffer(WEB, 3)
    inventory.set_safety_buffer("pos", 1)
    inventory.set_safety_buffer("pos", 0)
    inventory.set_reorder_policy(STORE, 2, 10)
    reserve(
        inventory, "R-1", WH1, 5, channel=WEB, channel_locations=WEB_LOCATIONS, expires_at=LATER
    )
    reserve(inventory, "R-2", WH2, 3)
    reserve(inventory, "R-3", STORE, 2)
    inventory.commit("R-1", 2)
    inventory.commit("R-3")
    inventory.release("R-2")

    # when
    rebuilt = replay(inventory.collect_events())

    # then
    assert type(rebuilt) is Inventory
    assert rebuilt.id == inventory.id
    assert rebuilt.version == inventory.version
    assert (rebuilt.sku, rebuilt.name, rebuilt.gtin) == (SKU, "Blue widget", "96385074")
    assert rebuilt.stock == inventory.stock
    assert rebuilt.reservations == inventory.reservations
    assert rebuilt.safety_buffers == inventory.safety_buffers == {WEB: 3}
    assert rebuilt.stock == {
        WH1: LocationStock(on_hand=12, reserved=3),
        WH2: LocationStock(on_hand=8, reserved=0),
        STORE: LocationStock(on_hand=2, reserved=0, reorder_point=2, reorder_quantity=10),
    }
    assert rebuilt.reservations == {"R-1": Reservation("R-1", WH1, 3, WEB, "order-R-1", LATER)}


def test_a_deep_copy_is_independent_of_the_original() -> None:
    # Given an inventory with stock, a reservation and a buffer
    original = given_inventory(WH_1=10)
    original.reserve("R-1", WH1, 2, reference="o-1", now=NOW)
    original.set_safety_buffer("web", 1)
    new_events(original)

    # When a deep copy is changed in every part
    clone = copy.deepcopy(original)
    clone.receive(WH1, 5)
    clone.commit("R-1")
    clone.reserve("R-2", WH1, 1, reference="o-2", now=NOW)
    clone.set_safety_buffer("web", 3)

    # Then the original is as it was, and holds no pending events of the copy's
    assert original.at(WH1) == LocationStock(on_hand=10, reserved=2)
    assert set(original.reservations) == {"R-1"}
    assert set(original.reservations_made) == {"R-1"}
    assert original.safety_buffers == {"web": 1}
    assert original.pending_events == []
    assert clone.at(WH1) == LocationStock(on_hand=13, reserved=1)


def test_a_channel_asking_at_a_location_not_its_own_learns_nothing_of_its_stock() -> None:
    # Given stock at a location that does not feed the web channel
    inventory = given_inventory(WH_1=3)

    # When the web channel asks there for more than is available
    with pytest.raises(LocationNotInChannel) as refused:
        inventory.reserve(
            "R-1", WH1, 50, reference="o", now=NOW, channel="web", channel_locations=["WH-9"]
        )

    # Then it is told the location is not its own, and nothing about the figures there
    assert "available" not in refused.value.facts
    assert new_events(inventory) == []
