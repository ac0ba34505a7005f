"""Routing: which location(s) ship an order, as a pure function of stock and geography.

Each unit test reads given / when / then: given candidate sites, what is free at each and what
the channel may promise, when an order's lines are routed, then exactly these picks (or these
shortages) come back. The properties below check the policy over random networks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.routing import Pick, Routing, Shortage, Site, Want, distance_km, route

# Munich, with two sites in town and one each in Hamburg and Berlin.
MUNICH = (Decimal("48.137"), Decimal("11.575"))
STORE = Site("STORE", Decimal("48.137"), Decimal("11.575"))  # 0 km
SOUTH = Site("SOUTH", Decimal("48.14"), Decimal("11.58"))  # under 1 km
BERLIN = Site("BERLIN", Decimal("52.52"), Decimal("13.405"))  # ~500 km
NORTH = Site("NORTH", Decimal("53.55"), Decimal("9.99"))  # ~610 km

PLENTY = 1_000


def promise_all(wants: Sequence[Want]) -> dict[str, int]:
    """An ATP that never limits: the channel may promise far more than is wanted."""
    return {want.sku: PLENTY for want in wants}


def when_routed(
    wants: Sequence[Want],
    sites: Sequence[Site],
    free: Mapping[tuple[str, str], int],
    *,
    promisable: Mapping[str, int] | None = None,
    ship_to: tuple[Decimal, Decimal] | None = MUNICH,
    split_allowed: bool = False,
) -> Routing:
    return route(
        wants,
        sites,
        free,
        promise_all(wants) if promisable is None else promisable,
        ship_to,
        split_allowed,
    )


# -- distance --------------------------------------------------------------------------------


def test_distance_between_hamburg_and_munich_is_about_six_hundred_km() -> None:
    found = distance_km((NORTH.latitude, NORTH.longitude), MUNICH)  # type: ignore[arg-type]

    assert found is not None
    assert 605 < found < 615


def test_distance_from_a_point_to_itself_is_zero_and_symmetric_otherwise() -> None:
    hamburg = (Decimal("53.55"), Decimal("9.99"))

    assert distance_km(MUNICH, MUNICH) == 0
    assert distance_km(hamburg, MUNICH) == pytest.approx(distance_km(MUNICH, hamburg))


def test_distance_is_unknown_when_either_end_has_no_coordinates() -> None:
    assert distance_km(None, MUNICH) is None
    assert distance_km(MUNICH, None) is None


def test_antipodes_are_half_the_earths_circumference_apart() -> None:
    found = distance_km((Decimal(0), Decimal(0)), (Decimal(0), Decimal(180)))

    assert found == pytest.approx(math.pi * 6371.0)


# -- a whole order from one location -----------------------------------------------------------


def test_the_nearest_location_that_can_ship_everything_ships_the_whole_order() -> None:
    # given every site can ship both lines
    wants = [Want(1, "A", 2), Want(2, "B", 1)]
    sites = [NORTH, BERLIN, SOUTH]
    free = {(sku, site.code): 5 for sku in "AB" for site in sites}

    # when
    routing = when_routed(wants, sites, free)

    # then
    assert routing.routed
    assert routing.picks == (Pick(1, "A", "SOUTH", 2), Pick(2, "B", "SOUTH", 1))
    assert routing.locations == ["SOUTH"]
    assert routing.shortages == ()


def test_a_farther_location_with_everything_wins_over_a_nearer_one_with_only_part() -> None:
    # given the store next door has A but not B, Hamburg has both
    wants = [Want(1, "A", 2), Want(2, "B", 1)]
    free = {("A", "STORE"): 9, ("A", "NORTH"): 2, ("B", "NORTH"): 1}

    # when (even with splitting allowed: one parcel beats a nearer split)
    routing = when_routed(wants, [STORE, NORTH], free, split_allowed=True)

    # then
    assert routing.picks == (Pick(1, "A", "NORTH", 2), Pick(2, "B", "NORTH", 1))


def test_a_nearer_location_short_by_one_unit_is_passed_over() -> None:
    wants = [Want(1, "A", 3)]
    free = {("A", "STORE"): 2, ("A", "BERLIN"): 3}

    routing = when_routed(wants, [STORE, BERLIN], free)

    assert routing.locations == ["BERLIN"]


def test_two_lines_of_one_sku_are_counted_together_against_a_location() -> None:
    # given the store has 3 of A, the order wants 2 + 2 on two lines
    wants = [Want(1, "A", 2), Want(2, "A", 2)]
    free = {("A", "STORE"): 3, ("A", "NORTH"): 4}

    routing = when_routed(wants, [STORE, NORTH], free)

    assert routing.picks == (Pick(1, "A", "NORTH", 2), Pick(2, "A", "NORTH", 2))


def test_priority_breaks_a_tie_in_distance() -> None:
    # given two sites at the very same spot, the second configured first
    first = Site("AAA", Decimal("48.2"), Decimal("11.6"), priority=50)
    preferred = Site("ZZZ", Decimal("48.2"), Decimal("11.6"), priority=10)
    free = {("A", "AAA"): 5, ("A", "ZZZ"): 5}

    routing = when_routed([Want(1, "A", 1)], [first, preferred], free)

    assert routing.locations == ["ZZZ"]


def test_the_code_breaks_a_tie_in_distance_and_priority() -> None:
    sites = [Site(code, Decimal("48.2"), Decimal("11.6")) for code in ("WH-B", "WH-C", "WH-A")]
    free = {("A", site.code): 5 for site in sites}

    routing = when_routed([Want(1, "A", 1)], sites, free)

    assert routing.locations == ["WH-A"]


def test_without_ship_to_coordinates_priority_decides_and_distance_plays_no_part() -> None:
    # given the store is in Munich, but the order has no coordinates to measure from
    sites = [
        Site("STORE", STORE.latitude, STORE.longitude, priority=90),
        Site("NORTH", priority=20),
    ]
    free = {("A", "STORE"): 5, ("A", "NORTH"): 5}

    routing = when_routed([Want(1, "A", 1)], sites, free, ship_to=None)

    assert routing.locations == ["NORTH"]


def test_sites_without_coordinates_come_after_located_ones_then_by_priority() -> None:
    # Distance is known only when both ends have coordinates: an unlocated site is not
    # "nearer" than any located one, however high its priority.
    unlocated_high = Site("X-HIGH", priority=1)
    unlocated_low = Site("X-LOW", priority=5)
    far = Site("NORTH", NORTH.latitude, NORTH.longitude, priority=100)
    free = {("A", code): 5 for code in ("X-HIGH", "X-LOW", "NORTH")}

    assert when_routed([Want(1, "A", 1)], [unlocated_high, far], free).locations == ["NORTH"]
    both_unlocated = when_routed([Want(1, "A", 1)], [unlocated_low, unlocated_high], free)
    assert both_unlocated.locations == ["X-HIGH"]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_the_choice_does_not_depend_on_the_order_sites_are_given_in(order: tuple[int]) -> None:
    sites = [
        Site("B", Decimal(50), Decimal(10), priority=7),
        Site("A", Decimal(50), Decimal(10), priority=7),
        Site("C", priority=3),  # the best priority, but no coordinates
        Site("D", Decimal(50), Decimal(10), priority=7),
    ]
    free = {("S", site.code): 5 for site in sites}

    routing = when_routed([Want(1, "S", 5)], [sites[i] for i in order], free)

    assert routing.locations == ["A"]


def test_the_reason_names_the_chosen_location_its_distance_and_its_priority() -> None:
    routing = when_routed([Want(1, "A", 1)], [NORTH, STORE], {("A", "NORTH"): 1})

    assert "NORTH" in routing.reason
    assert "whole order from NORTH" in routing.reason
    assert "of 2 candidate location(s)" in routing.reason
    assert "priority 100" in routing.reason
    assert " km from the ship-to address" in routing.reason


def test_the_reason_leaves_out_distance_when_it_is_unknown() -> None:
    routing = when_routed([Want(1, "A", 1)], [NORTH], {("A", "NORTH"): 1}, ship_to=None)

    assert "whole order from NORTH" in routing.reason
    assert "km" not in routing.reason


# -- splitting -------------------------------------------------------------------------------


def test_a_split_fills_each_line_from_the_nearest_location_first() -> None:
    # given no site has all 5, the store next door has 2, the DC in town 2, Hamburg 4
    free = {("A", "STORE"): 2, ("A", "SOUTH"): 2, ("A", "NORTH"): 4}

    routing = when_routed([Want(1, "A", 5)], [NORTH, SOUTH, STORE], free, split_allowed=True)

    # then (the greedy rule: nearest first, as much as each has; not the fewest in theory,
    # which would be STORE + NORTH)
    assert routing.routed
    assert routing.picks == (
        Pick(1, "A", "STORE", 2),
        Pick(1, "A", "SOUTH", 2),
        Pick(1, "A", "NORTH", 1),
    )


def test_a_split_stops_at_the_first_locations_that_cover_the_line() -> None:
    free = {("A", "STORE"): 2, ("A", "SOUTH"): 9, ("B", "SOUTH"): 0, ("B", "NORTH"): 9}

    routing = when_routed(
        [Want(1, "A", 5), Want(2, "B", 1)], [NORTH, SOUTH, STORE], free, split_allowed=True
    )

    assert routing.picks == (
        Pick(1, "A", "STORE", 2),
        Pick(1, "A", "SOUTH", 3),
        Pick(2, "B", "NORTH", 1),
    )
    assert routing.locations == ["NORTH", "SOUTH", "STORE"]


def test_a_split_counts_what_earlier_lines_took_from_a_location() -> None:
    # given two lines of A: the first empties the store, the second must go further
    free = {("A", "STORE"): 3, ("A", "NORTH"): 2}

    routing = when_routed(
        [Want(1, "A", 3), Want(2, "A", 2)], [NORTH, STORE], free, split_allowed=True
    )

    assert routing.picks == (Pick(1, "A", "STORE", 3), Pick(2, "A", "NORTH", 2))


def test_the_split_reason_names_every_location_used() -> None:
    free = {("A", "STORE"): 1, ("A", "NORTH"): 1}

    routing = when_routed([Want(1, "A", 2)], [NORTH, STORE, BERLIN], free, split_allowed=True)

    assert routing.reason.startswith("split over 2 locations (NORTH, STORE)")


def test_without_split_no_single_location_means_a_shortage_per_line() -> None:
    # given A and B are each in stock, but never together
    free = {("A", "STORE"): 4, ("A", "NORTH"): 1, ("B", "NORTH"): 3}

    routing = when_routed([Want(1, "A", 2), Want(2, "B", 1)], [NORTH, STORE], free)

    # then the shortage reports what the best single location has of each line
    assert not routing.routed
    assert routing.picks == ()
    assert routing.shortages == (Shortage(1, "A", 2, 4), Shortage(2, "B", 1, 3))
    assert routing.reason == "no single location can ship the whole order"


def test_a_split_that_the_locations_together_cannot_cover_is_refused_whole() -> None:
    free = {("A", "STORE"): 1, ("A", "NORTH"): 1, ("B", "NORTH"): 5}

    routing = when_routed(
        [Want(1, "A", 3), Want(2, "B", 1)], [NORTH, STORE], free, split_allowed=True
    )

    # then nothing is picked, not even the line that could be covered
    assert not routing.routed
    assert routing.picks == ()
    assert routing.shortages == (Shortage(1, "A", 3, 2),)
    assert routing.reason == "the locations together cannot ship every line"


def test_stock_at_a_location_that_is_not_a_candidate_is_never_used() -> None:
    free = {("A", "ELSEWHERE"): 100, ("A", "STORE"): 1}

    routing = when_routed([Want(1, "A", 2)], [STORE], free, split_allowed=True)

    assert not routing.routed
    assert routing.shortages == (Shortage(1, "A", 2, 1),)


def test_no_candidate_sites_means_every_line_is_short() -> None:
    routing = when_routed([Want(1, "A", 1)], [], {("A", "STORE"): 5}, split_allowed=False)

    assert routing.shortages == (Shortage(1, "A", 1, 0),)
    assert routing.picks == ()


# -- the channel's available-to-promise ------------------------------------------------------


def test_a_line_beyond_the_channels_atp_is_short_even_when_a_location_has_the_stock() -> None:
    # given the store has 10, but the channel's safety buffer leaves it 3 to promise
    free = {("A", "STORE"): 10, ("B", "STORE"): 10}

    routing = when_routed(
        [Want(1, "A", 4), Want(2, "B", 1)], [STORE], free, promisable={"A": 3, "B": 10}
    )

    assert not routing.routed
    assert routing.picks == ()
    assert routing.shortages == (Shortage(1, "A", 4, 3),)
    assert routing.reason == "the channel cannot promise every line"


def test_the_atp_is_checked_against_all_lines_of_a_sku_together() -> None:
    # 2 + 2 of A against 3 promisable: both lines of A are short
    routing = when_routed(
        [Want(1, "A", 2), Want(2, "A", 2)], [STORE], {("A", "STORE"): 10}, promisable={"A": 3}
    )

    assert routing.shortages == (Shortage(1, "A", 2, 3), Shortage(2, "A", 2, 3))


def test_a_sku_the_channel_may_not_promise_at_all_is_short_with_nothing_available() -> None:
    routing = when_routed([Want(1, "A", 1)], [STORE], {("A", "STORE"): 10}, promisable={})

    assert routing.shortages == (Shortage(1, "A", 1, 0),)


def test_exactly_the_atp_is_promised() -> None:
    routing = when_routed([Want(1, "A", 3)], [STORE], {("A", "STORE"): 3}, promisable={"A": 3})

    assert routing.routed


def test_nothing_wanted_is_nothing_routed() -> None:
    routing = when_routed([], [STORE], {("A", "STORE"): 3})

    assert routing == Routing((), (), "nothing to route")
    assert not routing.routed


@pytest.mark.parametrize("latitude", [Decimal("Infinity"), Decimal("1E+999")])
def test_a_ship_to_with_unusable_coordinates_never_crashes_routing(latitude: Decimal) -> None:
    routing = when_routed(
        [Want(1, "A", 1)], [STORE], {("A", "STORE"): 1}, ship_to=(latitude, Decimal(0))
    )

    assert routing.routed


# -- properties over random networks ---------------------------------------------------------

SKUS = ("A", "B", "C")
CODES = ("L1", "L2", "L3", "L4", "L5")
OUTSIDE = "OUT"  # has stock, but is never a candidate

coordinates = st.one_of(
    st.none(),
    st.tuples(
        st.integers(-9000, 9000).map(lambda n: Decimal(n).scaleb(-2)),
        st.integers(-18000, 18000).map(lambda n: Decimal(n).scaleb(-2)),
    ),
)


@st.composite
def sites_strategy(draw: st.DrawFn) -> list[Site]:
    codes = draw(st.lists(st.sampled_from(CODES), unique=True, max_size=len(CODES)))
    codes = codes or draw(st.sampled_from([[], ["L1", "L2", "L3"]]))
    sites = []
    for code in codes:
        # Few distinct places and priorities, so ties happen.
        where = draw(st.sampled_from([None, MUNICH, (Decimal("53.55"), Decimal("9.99"))]))
        where = draw(st.one_of(st.just(where), coordinates))
        priority = draw(st.sampled_from([1, 50, 100]))
        latitude, longitude = where if where is not None else (None, None)
        sites.append(Site(code, latitude, longitude, priority))
    return sites


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[list[Want], list[Site], dict[tuple[str, str], int], dict[str, int], object, bool]:
    wants = [
        Want(line, draw(st.sampled_from(SKUS)), draw(st.integers(1, 6)))
        for line in range(1, draw(st.integers(1, 4)) + 1)
    ]
    sites = draw(sites_strategy())
    free = {
        (sku, code): draw(st.integers(0, 7))
        for sku in SKUS
        for code in (*CODES, OUTSIDE)
        if draw(st.integers(0, 4))
    }
    unlimited = draw(st.integers(0, 3)) > 0
    promisable = (
        dict.fromkeys(SKUS, PLENTY)
        if unlimited
        else {sku: draw(st.integers(0, 30)) for sku in SKUS if draw(st.integers(0, 5))}
    )
    ship_to = draw(coordinates)
    return wants, sites, free, promisable, ship_to, draw(st.booleans())


Case = tuple[list[Want], list[Site], dict[tuple[str, str], int], dict[str, int], object, bool]


def run(case: Case) -> Routing:
    wants, sites, free, promisable, ship_to, split_allowed = case
    return route(wants, sites, free, promisable, ship_to, split_allowed)  # type: ignore[arg-type]


def needed(wants: Sequence[Want]) -> dict[str, int]:
    total: dict[str, int] = {}
    for want in wants:
        total[want.sku] = total.get(want.sku, 0) + want.quantity
    return total


def ranking(sites: Sequence[Site], ship_to: object) -> list[Site]:
    def key(site: Site) -> tuple[float, int, str]:
        where = None if site.latitude is None else (site.latitude, site.longitude)
        found = distance_km(where, ship_to)  # type: ignore[arg-type]
        return (math.inf if found is None else found, site.priority, site.code)

    return sorted(sites, key=key)


def can_ship_all(site: Site, wants: Sequence[Want], free: Mapping[tuple[str, str], int]) -> bool:
    return all(free.get((sku, site.code), 0) >= n for sku, n in needed(wants).items())


def promisable_covers(wants: Sequence[Want], promisable: Mapping[str, int]) -> bool:
    return all(promisable.get(sku, 0) >= n for sku, n in needed(wants).items())


@settings(max_examples=200, deadline=None, database=None)
@given(cases())
def test_a_routed_plan_covers_each_line_exactly_within_what_is_free_at_given_sites(
    case: Case,
) -> None:
    wants, sites, free, _, _, _ = case
    routing = run(case)
    if not routing.routed:
        assert routing.picks == ()
        assert routing.shortages
        return
    assert routing.shortages == ()
    assert {pick.location for pick in routing.picks} <= {site.code for site in sites}
    assert all(pick.quantity > 0 for pick in routing.picks)
    taken: dict[tuple[str, str], int] = {}
    for pick in routing.picks:
        taken[(pick.sku, pick.location)] = taken.get((pick.sku, pick.location), 0) + pick.quantity
    assert all(units <= free.get(key, 0) for key, units in taken.items())
    by_line = {want.line: want for want in wants}
    for pick in routing.picks:
        assert pick.sku == by_line[pick.line].sku
    for want in wants:
        assert sum(p.quantity for p in routing.picks if p.line == want.line) == want.quantity


@settings(max_examples=200, deadline=None, database=None)
@given(cases())
def test_a_single_location_is_chosen_whenever_one_can_ship_everything(case: Case) -> None:
    wants, sites, free, promisable, ship_to, _ = case
    able = [site for site in ranking(sites, ship_to) if can_ship_all(site, wants, free)]
    routing = run(case)
    if not promisable_covers(wants, promisable):
        assert not routing.routed
    elif able:
        assert routing.routed
        assert routing.locations == [able[0].code]
        assert able[0].code in routing.reason
    else:
        assert len(routing.locations) != 1 or not routing.routed


@settings(max_examples=200, deadline=None, database=None)
@given(cases())
def test_an_order_is_never_routed_when_the_sites_together_have_too_little(case: Case) -> None:
    wants, sites, free, _, _, _ = case
    pooled = {sku: sum(free.get((sku, site.code), 0) for site in sites) for sku in SKUS}
    routing = run(case)
    if any(pooled[sku] < n for sku, n in needed(wants).items()):
        assert not routing.routed
        assert routing.picks == ()


@settings(max_examples=200, deadline=None, database=None)
@given(cases())
def test_a_split_is_made_exactly_when_allowed_and_the_sites_together_suffice(case: Case) -> None:
    wants, sites, free, promisable, ship_to, split_allowed = case
    if not promisable_covers(wants, promisable):
        return
    if any(can_ship_all(site, wants, free) for site in sites):
        return
    pooled_enough = all(
        sum(free.get((sku, site.code), 0) for site in sites) >= n
        for sku, n in needed(wants).items()
    )
    routing = run(case)
    assert routing.routed == (split_allowed and pooled_enough)
    if routing.routed:
        # The greedy rule, worked independently: each line from the ranked sites in turn.
        left = dict(free)
        expected: list[Pick] = []
        for want in wants:
            missing = want.quantity
            for site in ranking(sites, ship_to):
                here = left.get((want.sku, site.code), 0)
                if missing and here:
                    take = min(here, missing)
                    expected.append(Pick(want.line, want.sku, site.code, take))
                    left[(want.sku, site.code)] = here - take
                    missing -= take
        assert list(routing.picks) == expected
        for code in routing.locations:
            assert code in routing.reason


@settings(max_examples=100, deadline=None, database=None)
@given(cases(), st.randoms(use_true_random=False))
def test_routing_is_deterministic_whatever_the_order_of_the_sites(case: Case, rnd: object) -> None:
    wants, sites, free, promisable, ship_to, split_allowed = case
    shuffled = list(sites)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = route(wants, shuffled, free, promisable, ship_to, split_allowed)  # type: ignore[arg-type]

    assert again == run(case)
