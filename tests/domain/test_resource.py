"""Resource: slots, allotments then the shared pool, holds that lapse, swaps, the operator's
settings -- and every refusal.

Each test reads given / when / then: given a resource brought to some state by past commands
(whose events are collected and set aside), when one command runs, then exactly these new
events are pending -- or the named error is raised, nothing is pending and nothing changed.

The worked examples use one room type of capacity 20 with allotments web 5 and ota 5, so the
shared pool is 10; "phone" has no allotment and sells from the pool only.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import Conflict, DomainError, HoldExpired, InvalidValue, NotFound
from domain.identity import stream_id
from domain.resource import (
    MAX_SLOTS,
    CapacityUnavailable,
    MinimumStay,
    Resource,
    SlotClosed,
    SlotKind,
    check_slots,
)
from tests.domain.support import NOW, new_events, replay

N1, N2, N3, N4 = "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"
SOON = NOW + timedelta(minutes=15)  # a hold's expiry
LATER = NOW + timedelta(minutes=5)  # before SOON


def register(capacity: int = 20, kind: SlotKind = SlotKind.NIGHT, **terms: Any) -> Resource:
    return Resource.register("ROOM-DBL", "Double room", "double", kind, capacity, **terms)


def given(resource: Resource) -> Resource:
    """Set the past aside: the test sees only what its own command records."""
    resource.collect_events()
    return resource


def hotel(capacity: int = 20, web: int = 5, ota: int = 5) -> Resource:
    """The worked example: capacity 20, allotments web 5 and ota 5, a pool of 10."""
    resource = register(capacity)
    resource.set_allotment("web", web)
    resource.set_allotment("ota", ota)
    return given(resource)


def free(resource: Resource, slot: str = N1, now: datetime = NOW) -> dict[str, int]:
    return {c: resource.free_for(c, slot, now) for c in ("web", "ota", "phone")}


def state_of(resource: Resource) -> Any:
    return deepcopy(
        (
            resource.capacity,
            resource.allotments,
            resource.stop_sell,
            resource.min_stay,
            resource.closed,
            resource.uses,
            resource.version,
        )
    )


def refused(
    resource: Resource, command: Callable[[], object], error: type[DomainError]
) -> DomainError:
    """Run ``command``, which must raise exactly ``error``, record nothing, change nothing."""
    before = state_of(resource)
    with pytest.raises(error) as raised:
        command()
    assert type(raised.value) is error
    assert resource.pending_events == []
    assert state_of(resource) == before
    return raised.value


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


# -- registration ----------------------------------------------------------------------------


def test_registering_records_the_resource_with_its_terms_and_a_pool_of_its_capacity() -> None:
    resource = register(12, free_cancellation_hours=48, cancellation_fee_percent=Decimal(50))

    assert new_events(resource) == [
        (
            "Resource.ResourceRegistered",
            {
                "code": "ROOM-DBL",
                "name": "Double room",
                "resource_class": "double",
                "slot_kind": SlotKind.NIGHT,
                "capacity": 12,
                "free_cancellation_hours": 48,
                "cancellation_fee_percent": Decimal(50),
            },
        )
    ]
    assert resource.id == stream_id("resource", "ROOM-DBL")
    assert resource.pool == 12
    assert resource.cancellation_terms() == {
        "free_cancellation_hours": 48,
        "fee_percent_after": "50",
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"code": "bad code"},
        {"name": " "},
        {"resource_class": ""},
        {"slot_kind": "weekly"},
        {"capacity": -1},
        {"capacity": True},
        {"free_cancellation_hours": -1},
        {"cancellation_fee_percent": Decimal(101)},
        {"cancellation_fee_percent": Decimal(-1)},
        {"cancellation_fee_percent": Decimal("NaN")},
        {"cancellation_fee_percent": 50},
    ],
)
def test_an_invalid_registration_is_refused(overrides: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "code": "ROOM-DBL",
        "name": "Double room",
        "resource_class": "double",
        "slot_kind": SlotKind.NIGHT,
        "capacity": 20,
    }
    arguments.update(overrides)
    with pytest.raises(InvalidValue):
        Resource.register(**arguments)


def test_a_resource_of_capacity_zero_sells_nothing() -> None:
    resource = given(register(0))

    refused(resource, lambda: resource.hold("b1", "web", [N1], 1, None, NOW), CapacityUnavailable)


# -- slots -----------------------------------------------------------------------------------


def test_nights_are_returned_sorted_when_they_make_one_stay() -> None:
    assert check_slots(SlotKind.NIGHT, [N3, N1, N2]) == (N1, N2, N3)


def test_nights_across_a_month_and_a_year_end_are_consecutive() -> None:
    assert check_slots(SlotKind.NIGHT, ["2026-02-28", "2026-03-01"]) == ("2026-02-28", "2026-03-01")
    assert check_slots(SlotKind.NIGHT, ["2026-12-31", "2027-01-01"]) == ("2026-12-31", "2027-01-01")


def test_timed_slots_need_not_be_consecutive() -> None:
    slots = ["2026-12-01T14:00Z", "2026-12-01T10:00Z", "2026-12-03T09:15Z"]

    assert check_slots(SlotKind.TIMED, slots) == (
        "2026-12-01T10:00Z",
        "2026-12-01T14:00Z",
        "2026-12-03T09:15Z",
    )


@pytest.mark.parametrize(
    "slots",
    [
        [],
        [N1, N3],  # a gap: not one stay
        [N1, N1],  # a repeat
        [N1, N2, N2],
        ["2026-02-30"],
        ["2026-3-01"],
        ["20260301"],
        ["2026-03-01 "],
        ["2026-03-01\n"],
        ["2026-03-01T10:00Z"],  # a timed slot is not a night
        [20260301],
        "2026-03-01",  # not a list
        [(datetime(2026, 3, 1) + timedelta(days=i)).date().isoformat() for i in range(63)],
    ],
)
def test_bad_nights_are_refused(slots: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        check_slots(SlotKind.NIGHT, slots)
    assert raised.value.facts == {"field": "slots"}


def test_a_stay_of_the_maximum_number_of_nights_is_accepted() -> None:
    nights = [(datetime(2026, 3, 1) + timedelta(days=i)).date().isoformat() for i in range(62)]

    assert len(check_slots(SlotKind.NIGHT, nights)) == MAX_SLOTS


@pytest.mark.parametrize(
    "slot",
    [
        "2026-12-01T10:00",  # no zone
        "2026-12-01T10:00+00:00",
        "2026-12-01T10:00:00Z",
        "2026-12-01 10:00Z",
        "2026-12-01T25:00Z",
        "2026-12-01T10:60Z",
        "2026-02-30T10:00Z",
        "2026-12-01T10:00Z\n",
        "2026-12-01",
        "\u0662\u0660\u0662\u0666-\u0661\u0662-\u0660\u0661T10:00Z",  # Arabic-Indic digits
    ],
)
def test_bad_timed_slots_are_refused(slot: str) -> None:
    with pytest.raises(InvalidValue):
        check_slots(SlotKind.TIMED, [slot])


def test_a_night_has_one_spelling_so_it_cannot_be_sold_twice() -> None:
    resource = hotel()
    resource.hold("b1", "phone", ["2025-12-29"], 10, None, NOW)  # the whole pool
    held = list(resource.pending_events)

    # Refused as malformed, or read as 2025-12-29 and refused as full: either way, not sold.
    with pytest.raises((InvalidValue, CapacityUnavailable)):
        resource.hold("b2", "phone", ["2026-W01-1"], 10, None, NOW)
    assert resource.pending_events == held


# -- allotments, then the pool: worked examples ----------------------------------------------


def test_an_untouched_slot_offers_each_channel_its_allotment_plus_the_pool() -> None:
    resource = hotel()

    assert resource.pool == 10
    assert free(resource) == {"web": 15, "ota": 15, "phone": 10}


def test_a_channel_sells_from_its_allotment_first_and_leaves_the_pool_alone() -> None:
    resource = hotel()

    resource.hold("b1", "web", [N1], 5, None, NOW)

    assert free(resource) == {"web": 10, "ota": 15, "phone": 10}


def test_past_its_allotment_a_channel_sells_from_the_pool_that_every_channel_shares() -> None:
    resource = hotel()

    resource.hold("b1", "web", [N1], 8, None, NOW)  # 5 from its allotment, 3 from the pool

    assert free(resource) == {"web": 7, "ota": 12, "phone": 7}


def test_when_the_pool_is_gone_only_allotments_are_left() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 8, None, NOW)
    resource.hold("b2", "phone", [N1], 7, None, NOW)  # the rest of the pool
    given(resource)

    assert free(resource) == {"web": 0, "ota": 5, "phone": 0}
    error = refused(
        resource, lambda: resource.hold("b3", "web", [N1], 1, None, NOW), CapacityUnavailable
    )
    assert error.facts == {"slot": N1, "available": 0, "requested": 1}
    refused(resource, lambda: resource.hold("b3", "ota", [N1], 6, None, NOW), CapacityUnavailable)
    resource.hold("b3", "ota", [N1], 5, None, NOW)
    assert free(resource) == {"web": 0, "ota": 0, "phone": 0}


def test_a_channel_without_an_allotment_never_reaches_into_the_others_allotments() -> None:
    resource = hotel()

    refused(
        resource, lambda: resource.hold("b1", "phone", [N1], 11, None, NOW), CapacityUnavailable
    )
    resource.hold("b1", "phone", [N1], 10, None, NOW)

    assert free(resource) == {"web": 5, "ota": 5, "phone": 0}


def test_each_slot_is_counted_on_its_own() -> None:
    resource = hotel()
    resource.hold("b1", "phone", [N1, N2], 10, None, NOW)

    assert free(resource, N1) == free(resource, N2) == {"web": 5, "ota": 5, "phone": 0}
    assert free(resource, N3) == {"web": 15, "ota": 15, "phone": 10}


def test_a_stay_is_refused_whole_when_one_of_its_nights_is_short() -> None:
    resource = hotel()
    resource.hold("b1", "phone", [N2], 10, None, NOW)
    given(resource)

    error = refused(
        resource,
        lambda: resource.hold("b2", "phone", [N1, N2, N3], 1, None, NOW),
        CapacityUnavailable,
    )

    assert error.facts == {"slot": N2, "available": 0, "requested": 1}
    assert free(resource, N1)["phone"] == 10


# -- holds -----------------------------------------------------------------------------------


def test_a_hold_records_its_slots_in_order_and_its_expiry() -> None:
    resource = hotel()

    resource.hold("b1", "web", [N2, N1], 2, SOON, NOW)

    assert new_events(resource) == [
        (
            "Resource.CapacityHeld",
            {
                "booking": "b1",
                "channel": "web",
                "slots": [N1, N2],
                "quantity": 2,
                "expires_at": SOON,
            },
        )
    ]
    assert resource.used(N1, NOW) == {"web": 2}


@pytest.mark.parametrize(
    "arguments",
    [
        {"channel": "no channel"},
        {"quantity": 0},
        {"quantity": True},
        {"quantity": 1.0},
        {"slots": [N1, N3]},
        {"expires_at": NOW},  # not in the future
        {"expires_at": NOW - timedelta(seconds=1)},
        {"expires_at": datetime(2026, 1, 1, 1)},  # no time zone
    ],
)
def test_an_invalid_hold_is_refused(arguments: dict[str, Any]) -> None:
    resource = hotel()
    hold: dict[str, Any] = {
        "booking": "b1",
        "channel": "web",
        "slots": [N1],
        "quantity": 1,
        "expires_at": SOON,
        "now": NOW,
        **arguments,
    }

    refused(resource, lambda: resource.hold(**hold), InvalidValue)


def test_an_expiry_in_another_time_zone_is_the_same_moment() -> None:
    resource = hotel()
    tokyo = timezone(timedelta(hours=9))

    resource.hold("b1", "web", [N1], 1, SOON.astimezone(tokyo), NOW)

    assert resource.free_for("web", N1, SOON - timedelta(seconds=1)) == 14
    assert resource.free_for("web", N1, SOON) == 15


def test_a_booking_holds_a_resource_once() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 1, SOON, NOW)
    given(resource)

    error = refused(resource, lambda: resource.hold("b1", "web", [N2], 1, None, NOW), Conflict)

    assert error.facts == {"booking": "b1"}


def test_a_lapsed_hold_is_free_at_once_without_waiting_for_a_release() -> None:
    resource = hotel()
    resource.hold("b1", "phone", [N1], 10, SOON, NOW)
    given(resource)

    assert free(resource, N1, SOON - timedelta(microseconds=1))["phone"] == 0
    assert free(resource, N1, SOON) == {"web": 15, "ota": 15, "phone": 10}
    assert resource.used(N1, SOON) == {}

    resource.hold("b2", "phone", [N1], 10, None, SOON)

    assert names(new_events(resource)) == ["Resource.CapacityHeld"]
    assert "b1" in resource.uses  # still there until it is released: it just no longer counts


def test_a_booking_whose_hold_lapsed_may_hold_again() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 3, SOON, NOW)
    given(resource)

    resource.hold("b1", "web", [N2], 1, None, SOON)

    assert names(new_events(resource)) == ["Resource.CapacityHeld"]
    assert resource.uses["b1"].slots == (N2,)
    assert resource.used(N1, None) == {}


def test_a_hold_without_an_expiry_never_lapses() -> None:
    resource = hotel()

    resource.hold("b1", "phone", [N1], 10, None, NOW)

    assert free(resource, N1, NOW + timedelta(days=365))["phone"] == 0


# -- channel rules and closed slots ----------------------------------------------------------


def test_a_stop_sell_closes_a_slot_to_one_channel_only() -> None:
    resource = hotel()
    resource.set_channel_rules("ota", [N2], 1)
    assert new_events(resource) == [
        ("Resource.ChannelRulesSet", {"channel": "ota", "stop_sell": [N2], "min_stay": 1})
    ]

    error = refused(
        resource, lambda: resource.hold("b1", "ota", [N1, N2], 1, None, NOW), SlotClosed
    )

    assert error.facts == {"slot": N2}
    assert resource.free_for("ota", N2, NOW) == 0
    assert resource.free_for("ota", N1, NOW) == 15
    resource.hold("b1", "web", [N1, N2], 1, None, NOW)


def test_a_minimum_stay_is_per_channel() -> None:
    resource = hotel()
    resource.set_channel_rules("web", [], 3)
    given(resource)

    error = refused(
        resource, lambda: resource.hold("b1", "web", [N1, N2], 1, None, NOW), MinimumStay
    )

    assert error.facts == {"minimum": 3}
    resource.hold("b1", "web", [N1, N2, N3], 1, None, NOW)
    resource.hold("b2", "ota", [N1], 1, None, NOW)


def test_a_minimum_stay_applies_to_nights_not_to_timed_slots() -> None:
    resource = given(register(4, SlotKind.TIMED))
    resource.set_channel_rules("web", [], 3)

    resource.hold("b1", "web", ["2026-12-01T10:00Z"], 1, None, NOW)

    assert names(new_events(resource)) == ["Resource.ChannelRulesSet", "Resource.CapacityHeld"]


def test_unchanged_channel_rules_record_nothing() -> None:
    resource = hotel()
    resource.set_channel_rules("web", [N2, N1], 2)
    given(resource)

    resource.set_channel_rules("web", [N1, N2], 2)
    resource.set_channel_rules("ota", [], 1)  # the defaults

    assert new_events(resource) == []


@pytest.mark.parametrize(
    ("channel", "stop_sell", "min_stay"),
    [("no channel", [], 1), ("web", ["2026-02-30"], 1), ("web", [], 0), ("web", [], True)],
)
def test_invalid_channel_rules_are_refused(
    channel: str, stop_sell: list[str], min_stay: int
) -> None:
    resource = hotel()

    refused(
        resource, lambda: resource.set_channel_rules(channel, stop_sell, min_stay), InvalidValue
    )


def test_a_stop_sell_may_name_nights_that_are_not_one_stay() -> None:
    resource = hotel()

    resource.set_channel_rules("web", [N4, N1], 1)

    assert resource.stop_sell["web"] == {N1, N4}


def test_a_closed_slot_is_not_for_sale_on_any_channel() -> None:
    resource = hotel()
    resource.close([N2], "flood")
    given(resource)

    for channel in ("web", "ota", "phone"):
        refused(resource, lambda c=channel: resource.hold("b1", c, [N2], 1, None, NOW), SlotClosed)
    assert free(resource, N2) == {"web": 0, "ota": 0, "phone": 0}
    assert free(resource, N1) == {"web": 15, "ota": 15, "phone": 10}


# -- secure ----------------------------------------------------------------------------------


def test_securing_a_live_hold_confirms_it_so_it_never_lapses() -> None:
    resource = hotel()
    resource.hold("b1", "phone", [N1], 10, SOON, NOW)
    given(resource)

    resource.secure("b1", LATER)

    assert new_events(resource) == [("Resource.CapacityConfirmed", {"booking": "b1"})]
    assert resource.uses["b1"].expires_at is None
    assert free(resource, N1, SOON + timedelta(days=1))["phone"] == 0


def test_securing_a_confirmed_booking_again_records_nothing() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 1, None, NOW)
    given(resource)

    resource.secure("b1", SOON)

    assert new_events(resource) == []


@pytest.mark.parametrize("at", [SOON, SOON + timedelta(hours=1)])
def test_securing_a_lapsed_hold_is_refused_as_hold_expired(at: datetime) -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 1, SOON, NOW)
    given(resource)

    error = refused(resource, lambda: resource.secure("b1", at), HoldExpired)

    assert error.facts == {"booking": "b1", "expired_at": SOON.isoformat()}


def test_securing_a_booking_that_holds_nothing_is_refused() -> None:
    resource = hotel()

    refused(resource, lambda: resource.secure("b9", NOW), NotFound)


# -- release ---------------------------------------------------------------------------------


def test_a_release_gives_the_units_back_at_once() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 8, None, NOW)
    resource.hold("b2", "phone", [N1], 7, None, NOW)
    given(resource)

    assert resource.release("b2", "cancelled") is True

    assert new_events(resource) == [
        ("Resource.CapacityReleased", {"booking": "b2", "reason": "cancelled"})
    ]
    assert free(resource) == {"web": 7, "ota": 12, "phone": 7}


def test_released_units_leave_the_pool_before_the_channels_allotment() -> None:
    # web holds 5 + 3: its allotment is full and 3 came from the pool. Whichever booking is
    # released, web's remaining units sit in its allotment first, so the pool is whole again.
    resource = hotel()
    resource.hold("b1", "web", [N1], 5, None, NOW)
    resource.hold("b2", "web", [N1], 3, None, NOW)
    assert free(resource) == {"web": 7, "ota": 12, "phone": 7}

    resource.release("b1", "cancelled")

    assert free(resource) == {"web": 12, "ota": 15, "phone": 10}


def test_a_release_of_another_channel_does_not_touch_this_channels_allotment() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 5, None, NOW)
    resource.hold("b2", "ota", [N1], 7, None, NOW)  # 5 allotment + 2 pool

    resource.release("b2", "cancelled")

    assert free(resource) == {"web": 10, "ota": 15, "phone": 10}


def test_releasing_a_lapsed_hold_removes_it() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 1, SOON, NOW)
    given(resource)

    assert resource.release("b1", "expired") is True

    assert names(new_events(resource)) == ["Resource.CapacityReleased"]
    assert resource.uses == {}


def test_releasing_a_booking_that_holds_nothing_records_nothing() -> None:
    resource = hotel()

    assert resource.release("b9", "cancelled") is False

    assert new_events(resource) == []


# -- swap ------------------------------------------------------------------------------------


def test_a_swap_moves_the_booking_to_other_slots_and_quantity() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 2, SOON, NOW)
    given(resource)

    resource.swap("b1", [N3, N2], 4, LATER)

    assert new_events(resource) == [
        ("Resource.CapacitySwapped", {"booking": "b1", "slots": [N2, N3], "quantity": 4})
    ]
    use = resource.uses["b1"]
    assert (use.channel, use.slots, use.quantity, use.expires_at) == ("web", (N2, N3), 4, SOON)
    assert resource.used(N1, LATER) == {}


def test_a_swap_may_reuse_the_units_the_booking_already_holds() -> None:
    resource = given(register(2))
    resource.hold("b1", "web", [N1, N2], 2, None, NOW)  # the whole of nights 1 and 2

    resource.swap("b1", [N2, N3], 2, NOW)  # night 2 is its own

    assert resource.uses["b1"].slots == (N2, N3)
    assert resource.free_for("web", N1, NOW) == 2


def test_a_swap_to_a_smaller_quantity_in_a_full_slot_is_accepted() -> None:
    resource = given(register(2))
    resource.hold("b1", "web", [N1], 2, None, NOW)

    resource.swap("b1", [N1], 1, NOW)

    assert resource.free_for("web", N1, NOW) == 1


def test_a_swap_that_does_not_fit_keeps_the_old_slots_and_quantity() -> None:
    resource = hotel()
    resource.hold("b1", "phone", [N1], 4, SOON, NOW)
    resource.hold("b2", "phone", [N2], 8, None, NOW)
    given(resource)

    error = refused(resource, lambda: resource.swap("b1", [N1, N2], 4, LATER), CapacityUnavailable)

    assert error.facts == {"slot": N2, "available": 2, "requested": 4}
    assert free(resource, N1)["phone"] == 6


def test_a_swap_of_a_lapsed_hold_is_refused_as_hold_expired() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 1, SOON, NOW)
    given(resource)

    refused(resource, lambda: resource.swap("b1", [N2], 1, SOON), HoldExpired)


def test_a_confirmed_booking_may_swap_at_any_time() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 1, SOON, NOW)
    resource.secure("b1", LATER)
    given(resource)

    resource.swap("b1", [N2], 1, SOON + timedelta(days=3))

    assert names(new_events(resource)) == ["Resource.CapacitySwapped"]


@pytest.mark.parametrize(
    ("booking", "slots", "quantity", "error"),
    [
        ("b9", [N2], 1, NotFound),
        ("b1", [N2], 0, InvalidValue),
        ("b1", [N1, N3], 1, InvalidValue),
        ("b1", [N3, N4], 1, SlotClosed),
        ("b1", [N1], 1, MinimumStay),
    ],
)
def test_an_impossible_swap_is_refused(
    booking: str, slots: list[str], quantity: int, error: type[DomainError]
) -> None:
    resource = hotel()
    resource.set_channel_rules("web", [], 2)
    resource.close([N4], "maintenance")
    resource.hold("b1", "web", [N1, N2], 1, SOON, NOW)
    given(resource)

    refused(resource, lambda: resource.swap(booking, slots, quantity, LATER), error)


# -- capacity and allotments -----------------------------------------------------------------


def test_raising_the_capacity_grows_the_pool() -> None:
    resource = hotel()

    resource.set_capacity(24)

    assert new_events(resource) == [("Resource.CapacitySet", {"capacity": 24})]
    assert resource.pool == 14
    assert free(resource)["phone"] == 14


def test_setting_the_same_capacity_records_nothing() -> None:
    resource = hotel()

    resource.set_capacity(20)

    assert new_events(resource) == []


def test_lowering_the_capacity_to_the_allotments_leaves_no_pool() -> None:
    resource = hotel()

    resource.set_capacity(10)

    assert resource.pool == 0
    assert free(resource) == {"web": 5, "ota": 5, "phone": 0}


@pytest.mark.parametrize("capacity", [9, -1, True, 1.5])
def test_a_capacity_below_the_allotments_or_not_a_count_is_refused(capacity: Any) -> None:
    resource = hotel()

    error = refused(resource, lambda: resource.set_capacity(capacity), InvalidValue)

    assert error.facts == {"field": "capacity"}


def test_lowering_the_capacity_to_what_is_held_is_accepted() -> None:
    resource = hotel()
    resource.hold("b1", "phone", [N1], 6, None, NOW)

    resource.set_capacity(16)

    assert free(resource) == {"web": 5, "ota": 5, "phone": 0}


def test_the_capacity_cannot_drop_below_the_units_held() -> None:
    resource = given(register(20))
    resource.hold("b1", "phone", [N1], 15, None, NOW)

    with pytest.raises(DomainError):
        resource.set_capacity(10)
    assert resource.capacity == 20


def test_the_capacity_cannot_shrink_the_pool_below_what_was_sold_from_it() -> None:
    resource = hotel()
    resource.hold("b1", "phone", [N1], 10, None, NOW)

    with pytest.raises(DomainError):
        resource.set_capacity(15)
    assert resource.pool == 10


def test_setting_an_allotment_takes_it_out_of_the_pool() -> None:
    resource = hotel()

    resource.set_allotment("phone", 4)

    assert new_events(resource) == [("Resource.AllotmentSet", {"channel": "phone", "quantity": 4})]
    assert resource.pool == 6
    assert free(resource) == {"web": 11, "ota": 11, "phone": 10}


def test_an_allotment_of_zero_gives_it_back_to_the_pool() -> None:
    resource = hotel()

    resource.set_allotment("web", 0)

    assert resource.allotments == {"ota": 5}
    assert free(resource) == {"web": 15, "ota": 20, "phone": 15}


def test_an_unchanged_allotment_records_nothing() -> None:
    resource = hotel()

    resource.set_allotment("web", 5)
    resource.set_allotment("phone", 0)

    assert new_events(resource) == []


def test_a_channels_own_allotment_is_not_counted_twice_when_it_changes() -> None:
    resource = hotel()

    resource.set_allotment("web", 15)  # 15 + ota's 5 = the capacity

    assert resource.pool == 0


@pytest.mark.parametrize(
    ("channel", "quantity"),
    [("phone", 11), ("web", 16), ("no channel", 1), ("web", -1), ("web", True)],
)
def test_an_allotment_above_the_capacity_or_malformed_is_refused(
    channel: str, quantity: Any
) -> None:
    resource = hotel()

    refused(resource, lambda: resource.set_allotment(channel, quantity), InvalidValue)


def test_lowering_an_allotment_that_was_sold_moves_its_units_to_the_pool() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 5, None, NOW)
    resource.hold("b2", "phone", [N1], 10, None, NOW)

    resource.set_allotment("web", 0)  # web's 5 now count against a pool of 15

    assert free(resource) == {"web": 0, "ota": 5, "phone": 0}


def test_an_allotment_cannot_take_units_the_pool_already_sold() -> None:
    resource = hotel()
    resource.hold("b1", "phone", [N1], 10, None, NOW)

    with pytest.raises(DomainError):
        resource.set_allotment("web", 10)
    assert resource.pool == 10


# -- close -----------------------------------------------------------------------------------


def test_closing_slots_records_them_and_returns_the_bookings_affected() -> None:
    resource = hotel()
    resource.hold("b2", "web", [N1, N2], 1, None, NOW)
    resource.hold("b1", "ota", [N3], 1, None, NOW)
    resource.hold("b3", "phone", [N4], 1, None, NOW)
    given(resource)

    affected = resource.close([N3, N1], "burst pipe")

    assert affected == ["b1", "b2"]
    assert new_events(resource) == [
        ("Resource.SlotsClosed", {"slots": [N1, N3], "reason": "burst pipe"})
    ]
    assert resource.closed == {N1, N3}


def test_closing_a_closed_slot_again_records_nothing_but_still_names_its_bookings() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 1, None, NOW)
    resource.close([N1], "flood")
    given(resource)

    assert resource.close([N1], "flood") == ["b1"]

    assert new_events(resource) == []


def test_closing_records_only_the_slots_not_yet_closed() -> None:
    resource = hotel()
    resource.close([N1], "flood")
    given(resource)

    resource.close([N1, N2], "flood")

    assert new_events(resource) == [("Resource.SlotsClosed", {"slots": [N2], "reason": "flood"})]


def test_closing_keeps_the_bookings_it_affects_until_they_are_moved() -> None:
    resource = hotel()
    resource.hold("b1", "web", [N1], 3, None, NOW)

    resource.close([N1], "flood")

    assert resource.used(N1, NOW) == {"web": 3}


@pytest.mark.parametrize(("slots", "reason"), [([N1], " "), (["2026-02-30"], "flood"), (N1, "x")])
def test_an_invalid_close_is_refused(slots: Any, reason: str) -> None:
    resource = hotel()

    refused(resource, lambda: resource.close(slots, reason), InvalidValue)


# -- replay ----------------------------------------------------------------------------------


def test_replaying_the_events_rebuilds_the_same_resource() -> None:
    resource = register(20)
    resource.set_allotment("web", 5)
    resource.set_channel_rules("ota", [N2], 2)
    resource.hold("b1", "web", [N1, N2], 3, SOON, NOW)
    resource.hold("b2", "phone", [N3], 1, None, NOW)
    resource.secure("b1", LATER)
    resource.swap("b2", [N3, N4], 2, LATER)
    resource.release("b2", "cancelled")
    resource.close([N4], "works")
    resource.set_capacity(25)
    events = resource.collect_events()

    rebuilt = replay(events)

    assert state_of(rebuilt) == state_of(resource)
    assert rebuilt.pool == resource.pool == 20
    assert rebuilt.slot_kind is SlotKind.NIGHT
