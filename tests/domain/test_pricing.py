"""Price lists, promotions, MAP floors and the effective price, in the business's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import AlreadyExists, BelowMapFloor, InvalidValue, PriceListArchived
from domain.money import check_amount, round_money
from domain.price_floors import PriceFloors
from domain.price_list import PriceChange, PriceList, RowsRejected
from domain.pricing import quote
from domain.pricing_rule import Band, PricingRule
from domain.promotion import Promotion, PromotionTerms, check_terms

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
D = Decimal


def a_list(currency: str = "EUR", policy: str = "reject") -> PriceList:
    price_list = PriceList.draft("web", currency, "Web", policy, T0)
    price_list.activate(T0)
    return price_list


def promo(
    pid: str,
    kind: str = "percent_off",
    value: str = "10",
    *,
    currency: str | None = None,
    priority: int = 0,
    stacking: str = "exclusive",
    stacks_with: tuple[str, ...] = (),
    channels: list[str] | None = None,
    skus: list[str] | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    now: datetime = T0,
) -> Promotion:
    terms = check_terms(
        pid, pid, kind, D(value), currency, channels, skus, priority, stacking, list(stacks_with)
    )
    return Promotion.define(terms, valid_from, valid_until, now)


def effective(
    price: str | None,
    promotions: list[Promotion],
    floor: str | None = None,
    currency: str = "EUR",
    at: datetime = T0 + HOUR,
) -> Decimal | None:
    terms: list[PromotionTerms] = [p.terms for p in promotions]
    found = quote(
        "web",
        "SKU-1",
        currency,
        at,
        None if price is None else D(price),
        terms,
        None if floor is None else D(floor),
    )
    return found.effective


# -- validity windows ------------------------------------------------------------------------


def test_the_latest_recorded_price_wins_where_windows_overlap() -> None:
    price_list = a_list()
    price_list.schedule([PriceChange("SKU-1", D("20.00"))], {}, T0)
    # Later, a summer price for a week inside the open-ended one.
    price_list.schedule([PriceChange("SKU-1", D("15.00"), T0 + DAY, T0 + 8 * DAY)], {}, T0 + HOUR)
    assert price_list.price_at("SKU-1", T0 + 2 * HOUR) == D("20.00")
    assert price_list.price_at("SKU-1", T0 + 2 * DAY) == D("15.00")
    assert price_list.price_at("SKU-1", T0 + 9 * DAY) == D("20.00")


def test_an_older_list_entry_does_not_win_over_a_newer_one_with_an_earlier_start() -> None:
    price_list = a_list()
    price_list.schedule([PriceChange("SKU-1", D("30.00"), T0 + 5 * DAY)], {}, T0)
    price_list.schedule([PriceChange("SKU-1", D("25.00"), T0 + DAY)], {}, T0 + HOUR)
    # The change recorded last is the intended one, from its start onward.
    assert price_list.price_at("SKU-1", T0 + 6 * DAY) == D("25.00")


def test_a_change_scheduled_for_the_future_applies_only_from_its_start() -> None:
    price_list = a_list()
    price_list.schedule([PriceChange("SKU-1", D("10.00"))], {}, T0)
    price_list.schedule([PriceChange("SKU-1", D("12.00"), T0 + 3 * DAY)], {}, T0 + HOUR)
    assert price_list.price_at("SKU-1", T0 + 3 * DAY - timedelta(seconds=1)) == D("10.00")
    assert price_list.price_at("SKU-1", T0 + 3 * DAY) == D("12.00")


def test_a_window_starting_in_the_past_starts_when_recorded_and_the_past_is_unchanged() -> None:
    price_list = a_list()
    price_list.schedule([PriceChange("SKU-1", D("10.00"))], {}, T0)
    price_list.schedule([PriceChange("SKU-1", D("8.00"), T0 - DAY)], {}, T0 + DAY)
    assert price_list.price_at("SKU-1", T0 + HOUR) == D("10.00")
    assert price_list.layer_at("SKU-1", T0 + DAY) is not None
    assert price_list.price_at("SKU-1", T0 + DAY) == D("8.00")


def test_removing_a_price_ends_it_from_now_and_keeps_it_before() -> None:
    price_list = a_list()
    price_list.schedule([PriceChange("SKU-1", D("10.00"))], {}, T0)
    price_list.schedule([PriceChange("SKU-1", None)], {}, T0 + DAY)
    assert price_list.price_at("SKU-1", T0 + HOUR) == D("10.00")
    assert price_list.price_at("SKU-1", T0 + 2 * DAY) is None


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    price_list = a_list()
    with pytest.raises(InvalidValue, match="valid_until"):
        price_list.schedule([PriceChange("SKU-1", D("10.00"), T0 + 2 * DAY, T0 + DAY)], {}, T0)
    assert price_list.collect_events()[-1].__class__.__name__ == "StatusChanged"


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(InvalidValue, match="time zone"):
        a_list().schedule(
            [PriceChange("SKU-1", D("1.00"), datetime(2026, 3, 2))],
            {},
            T0,
        )


def test_an_archived_list_takes_no_more_changes() -> None:
    price_list = a_list()
    price_list.archive(T0 + HOUR)
    with pytest.raises(PriceListArchived):
        price_list.schedule([PriceChange("SKU-1", D("1.00"))], {}, T0 + DAY)


def test_status_is_known_per_moment() -> None:
    price_list = PriceList.draft("web", "EUR", "Web", "reject", T0)
    price_list.activate(T0 + DAY)
    assert price_list.status_at(T0 + HOUR).value == "draft"
    assert price_list.status_at(T0 + 2 * DAY).value == "active"
    assert price_list.status_at(T0 - HOUR) is None


def test_one_bad_row_refuses_the_whole_change_and_names_the_row() -> None:
    price_list = a_list()
    rows = [PriceChange(f"SKU-{n}", D("1.00")) for n in range(5)]
    rows[3] = PriceChange("SKU-3", D("1.001"))
    with pytest.raises(RowsRejected) as refused:
        price_list.schedule(rows, {}, T0)
    assert [e["row"] for e in refused.value.facts["errors"]] == [4]
    assert price_list.layers == {}


def test_partial_application_records_the_good_rows_and_reports_the_bad() -> None:
    price_list = a_list()
    rows = [PriceChange("SKU-1", D("1.00")), PriceChange("bad sku", D("1.00"))]
    errors = price_list.schedule(rows, {}, T0, partial=True)
    assert [(e.row, e.field) for e in errors] == [(2, "sku")]
    assert set(price_list.layers) == {"SKU-1"}


def test_a_large_change_is_recorded_in_several_events_of_bounded_size() -> None:
    price_list = a_list()
    price_list.collect_events()
    price_list.schedule([PriceChange(f"S-{n}", D("1.00")) for n in range(1201)], {}, T0)
    assert [len(e.entries) for e in price_list.collect_events()] == [500, 500, 201]


# -- MAP floors ------------------------------------------------------------------------------


def test_a_price_below_the_map_floor_is_refused_with_a_named_error() -> None:
    price_list = a_list()
    with pytest.raises(BelowMapFloor) as refused:
        price_list.schedule([PriceChange("SKU-1", D("9.99"))], {"SKU-1": D("10.00")}, T0)
    assert refused.value.facts["floor"] == "10.00"


def test_a_clamping_list_raises_the_price_to_the_floor_and_records_what_was_asked() -> None:
    price_list = a_list(policy="clamp")
    price_list.schedule([PriceChange("SKU-1", D("9.99"))], {"SKU-1": D("10.00")}, T0)
    layer = price_list.layer_at("SKU-1", T0 + HOUR)
    assert layer is not None
    assert (layer.amount, layer.clamped_from) == (D("10.00"), D("9.99"))
    event = price_list.collect_events()[-1]
    assert event.entries[0]["clamped_from"] == D("9.99")


def test_a_promotion_cannot_take_the_effective_price_below_the_floor() -> None:
    found = quote(
        "web", "SKU-1", "EUR", T0 + HOUR, D("20.00"), [promo("HALF", value="50").terms], D("15")
    )
    assert found.effective == D("15")
    assert found.clamped_to_floor
    assert "MAP floor" in found.reason


def test_floors_take_effect_when_recorded_and_are_kept_per_moment() -> None:
    floors = PriceFloors.start("EUR", T0)
    floors.set({"SKU-1": D("5.00")}, T0 + HOUR)
    floors.set({"SKU-1": None}, T0 + DAY)
    assert floors.floor_at("SKU-1", T0) is None
    assert floors.floor_at("SKU-1", T0 + 2 * HOUR) == D("5.00")
    assert floors.floor_at("SKU-1", T0 + 2 * DAY) is None


# -- promotions and stacking -----------------------------------------------------------------


def test_an_exclusive_promotion_of_highest_priority_applies_alone() -> None:
    first = promo("A-EXCL", value="10", priority=5)
    second = promo("B-STACK", value="20", priority=1, stacking="stackable")
    assert effective("100.00", [first, second]) == D("90.00")


def test_stackable_promotions_combine_only_when_each_names_the_other() -> None:
    a = promo("A", value="10", priority=2, stacking="stackable", stacks_with=("B",))
    b = promo(
        "B", "amount_off", "5", currency="EUR", priority=1, stacking="stackable", stacks_with=("A",)
    )
    one_way = promo("C", value="50", priority=0, stacking="stackable", stacks_with=("A",))
    # Percent first, then amount off: 100 - 10% = 90, - 5 = 85; C names A, A not C.
    assert effective("100.00", [a, b, one_way]) == D("85.00")


def test_best_for_customer_gives_the_lowest_of_the_possible_offers() -> None:
    a = promo("A", value="10", priority=9, stacking="best_for_customer")
    b = promo("B", "fixed_price", "70.00", currency="EUR", priority=1, stacking="exclusive")
    c = promo("C", "amount_off", "25", currency="EUR", priority=0, stacking="best_for_customer")
    assert effective("100.00", [a, b, c]) == D("70.00")


def test_a_fixed_price_never_raises_the_price() -> None:
    assert effective("50.00", [promo("F", "fixed_price", "60.00", currency="EUR")]) == D("50.00")


def test_an_amount_off_never_makes_a_price_negative() -> None:
    big = promo("BIG", "amount_off", "80.00", currency="EUR")
    assert effective("50.00", [big]) == D("0.00")


def test_a_promotion_for_another_channel_sku_or_currency_does_not_apply() -> None:
    elsewhere = promo("X", channels=["pos"])
    other_sku = promo("Y", skus=["SKU-2"])
    dollars = promo("Z", "amount_off", "1.00", currency="USD")
    assert effective("10.00", [elsewhere, other_sku, dollars]) == D("10.00")


def test_a_promotion_applies_only_inside_its_window() -> None:
    week = promo("WEEK", valid_from=T0 + DAY, valid_until=T0 + 8 * DAY)
    assert effective("10.00", [week], at=T0 + HOUR) == D("10.00")
    assert effective("10.00", [week], at=T0 + 2 * DAY) == D("9.00")
    assert effective("10.00", [week], at=T0 + 8 * DAY) == D("10.00")


def test_ending_a_promotion_keeps_what_it_did_before_the_end() -> None:
    running = promo("RUN")
    running.end(T0 + DAY)
    before = running.terms_at(T0 + HOUR)
    assert before is not None
    assert running.terms.applies("web", "SKU-1", "EUR", T0 + HOUR)
    assert not running.terms.applies("web", "SKU-1", "EUR", T0 + 2 * DAY)


def test_defining_a_promotion_again_with_other_terms_is_refused() -> None:
    original = promo("SAME", value="10")
    original.same_as(
        check_terms("SAME", "SAME", "percent_off", D("10"), None, None, None, 0, "exclusive", []),
        None,
        None,
    )
    with pytest.raises(AlreadyExists):
        original.same_as(
            check_terms(
                "SAME", "SAME", "percent_off", D("15"), None, None, None, 0, "exclusive", []
            ),
            None,
            None,
        )


@pytest.mark.parametrize("value", ["0", "100.5", "-1", "12.34567", "NaN"])
def test_a_percentage_outside_0_to_100_or_too_precise_is_refused(value: str) -> None:
    with pytest.raises(InvalidValue):
        check_terms("P", "", "percent_off", D(value), None, None, None, 0, "exclusive", [])


def test_only_a_stackable_promotion_names_partners() -> None:
    with pytest.raises(InvalidValue, match="stackable"):
        check_terms("P", "", "percent_off", D("5"), None, None, None, 0, "exclusive", ["Q"])


# -- money and rounding ----------------------------------------------------------------------


def test_rounding_is_half_even_in_a_currency_without_minor_units() -> None:
    # 10% off 125 JPY = 112.5 -> 112 (even); 10% off 135 = 121.5 -> 122 (even).
    assert effective("125", [promo("J")], currency="JPY") == D("112")
    assert effective("135", [promo("J")], currency="JPY") == D("122")


def test_rounding_is_half_even_in_a_currency_with_three_minor_units() -> None:
    # 15% off 1.235 KWD = 1.04975 -> 1.050; 50% off 0.005 = 0.0025 -> 0.002 (even).
    assert effective("1.235", [promo("K", value="15")], currency="KWD") == D("1.050")
    assert effective("0.005", [promo("K", value="50")], currency="KWD") == D("0.002")
    assert round_money(D("0.0035"), "BHD") == D("0.004")


def test_an_amount_with_more_decimals_than_the_currency_has_is_refused() -> None:
    with pytest.raises(InvalidValue, match="JPY"):
        check_amount(D("100.5"), "JPY")
    assert check_amount(D("1.5"), "KWD") == D("1.500")
    with pytest.raises(InvalidValue):
        check_amount(D("1.2345"), "KWD")


def test_an_unknown_currency_is_refused() -> None:
    with pytest.raises(InvalidValue, match="ISO 4217"):
        PriceList.draft("web", "EUX", "", "reject", T0)


# -- rollback --------------------------------------------------------------------------------


def test_rolling_back_schedules_the_earlier_prices_again_and_keeps_history() -> None:
    price_list = a_list()
    price_list.schedule([PriceChange("SKU-1", D("10.00")), PriceChange("SKU-2", D("5.00"))], {}, T0)
    earlier_version = price_list.version
    events = list(price_list.collect_events())
    price_list.schedule(
        [PriceChange("SKU-1", D("99.00")), PriceChange("SKU-3", D("1.00"))], {}, T0 + HOUR
    )
    earlier: PriceList | None = None
    for event in events:
        earlier = event.mutate(earlier)
    assert earlier is not None
    assert earlier.version == earlier_version
    price_list.roll_back(earlier, {}, T0 + DAY)
    later = T0 + 2 * DAY
    assert price_list.price_at("SKU-1", later) == D("10.00")
    assert price_list.price_at("SKU-2", later) == D("5.00")
    assert price_list.price_at("SKU-3", later) is None
    assert price_list.price_at("SKU-1", T0 + 2 * HOUR) == D("99.00")  # history kept


# -- demand rules ----------------------------------------------------------------------------


def test_a_demand_rule_raises_the_price_when_stock_is_scarce_within_its_band() -> None:
    rule = PricingRule.define(
        "R", "web", "EUR", ["SKU-1"], D("10.00"), D("8.00"), D("10.50"), 5, 100, D("10"), T0
    )
    assert rule.target(3, None).price == D("10.50")  # 11.00 capped by the ceiling
    assert rule.target(3, None).band is Band.SCARCE
    assert rule.target(50, None).price == D("10.00")
    assert rule.target(500, None).price == D("9.00")
    assert rule.target(500, D("9.50")).price == D("9.50")  # never below MAP
