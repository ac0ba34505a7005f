"""Properties of pricing over random lists, promotions and floors (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.money import minor_units
from domain.price_floors import PriceFloors
from domain.price_list import PriceChange, PriceList
from domain.pricing import Quote, quote
from domain.promotion import Promotion, PromotionTerms, check_terms

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CURRENCIES = ["JPY", "EUR", "KWD"]
SKUS = ["A", "B", "C"]
IDS = ["P1", "P2", "P3", "P4", "P5"]


def amounts(currency: str, high: int = 100_000) -> st.SearchStrategy[Decimal]:
    places = minor_units(currency)
    return st.integers(0, high * 10**places).map(lambda n: Decimal(n).scaleb(-places))


@st.composite
def promotion_terms(draw: st.DrawFn, currency: str) -> PromotionTerms:
    pid = draw(st.sampled_from(IDS))
    kind = draw(st.sampled_from(["percent_off", "amount_off", "fixed_price"]))
    if kind == "percent_off":
        value = Decimal(draw(st.integers(1, 10_000))).scaleb(-2)  # 0.01% .. 100%
    else:
        value = draw(amounts(currency, 2_000))
        if kind == "amount_off" and value == 0:
            value = Decimal(1)
    stacking = draw(st.sampled_from(["exclusive", "stackable", "best_for_customer"]))
    partners = (
        draw(st.lists(st.sampled_from([i for i in IDS if i != pid]), max_size=4))
        if stacking == "stackable"
        else []
    )
    terms = check_terms(
        pid,
        "",
        kind,
        value,
        None if kind == "percent_off" else currency,
        None,
        None,
        draw(st.integers(-3, 3)),
        stacking,
        partners,
    )
    return Promotion.define(terms, None, None, T0).terms


@st.composite
def priced_cases(draw: st.DrawFn) -> tuple[str, Decimal, list[PromotionTerms], Decimal | None]:
    currency = draw(st.sampled_from(CURRENCIES))
    promotions = draw(
        st.lists(promotion_terms(currency), max_size=5, unique_by=lambda p: p.promotion_id)
    )
    floor = draw(st.none() | amounts(currency, 2_000))
    return currency, draw(amounts(currency, 2_000)), promotions, floor


@settings(max_examples=400, deadline=None)
@given(priced_cases())
def test_the_effective_price_is_never_below_the_floor_nor_negative_nor_above_the_list(
    case: tuple[str, Decimal, list[PromotionTerms], Decimal | None],
) -> None:
    currency, list_price, promotions, floor = case
    found = quote("web", "A", currency, T0 + timedelta(hours=1), list_price, promotions, floor)
    assert found.effective is not None
    assert found.effective >= 0
    if floor is not None:
        assert found.effective >= floor
    assert found.effective <= max(list_price, floor or Decimal(0))
    # Expressed in the currency's minor units, exactly.
    exponent = found.effective.as_tuple().exponent
    assert isinstance(exponent, int)
    assert -exponent <= minor_units(currency)
    # Deterministic: the same inputs in another order give the same answer.
    again = quote("web", "A", currency, found.at, list_price, list(reversed(promotions)), floor)
    assert again == found


# -- the past does not change ----------------------------------------------------------------

operations = st.one_of(
    st.tuples(
        st.just("price"),
        st.sampled_from(SKUS),
        st.none() | amounts("EUR", 500),
        st.integers(-48, 72),  # valid_from, hours from now (may lie in the past)
        st.none() | st.integers(1, 96),  # window length in hours
    ),
    st.tuples(
        st.just("promote"),
        st.sampled_from(IDS),
        st.integers(1, 90),
        st.integers(-5, 5),
        st.sampled_from(["exclusive", "stackable", "best_for_customer"]),
    ),
    st.tuples(st.just("end"), st.sampled_from(IDS)),
    st.tuples(st.just("floor"), st.sampled_from(SKUS), st.none() | amounts("EUR", 300)),
    st.tuples(st.just("status"), st.sampled_from(["draft", "active"])),
)


class World:
    def __init__(self) -> None:
        self.prices = PriceList.draft("web", "EUR", "", "clamp", T0)
        self.floors = PriceFloors.start("EUR", T0)
        self.promotions: dict[str, Promotion] = {}

    def act(self, op: tuple[Any, ...], now: datetime) -> None:
        kind = op[0]
        if kind == "price":
            _, sku, amount, start, length = op
            begin = now + timedelta(hours=start)
            end = None if length is None else max(begin, now) + timedelta(hours=length)
            self.prices.schedule(
                [PriceChange(sku, amount, begin, end)], self.floors.floors([sku]), now
            )
        elif kind == "promote":
            _, pid, percent, priority, stacking = op
            if pid not in self.promotions:
                terms = check_terms(
                    pid,
                    "",
                    "percent_off",
                    Decimal(percent),
                    None,
                    None,
                    None,
                    priority,
                    stacking,
                    [i for i in IDS if i != pid] if stacking == "stackable" else [],
                )
                self.promotions[pid] = Promotion.define(terms, None, None, now)
        elif kind == "end":
            if op[1] in self.promotions:
                self.promotions[op[1]].end(now)
        elif kind == "floor":
            self.floors.set({op[1]: op[2]}, now)
        else:
            self.prices.set_status(op[1], now)

    def quote(self, sku: str, at: datetime) -> Quote:
        """What the channel showed at ``at``, from what this world holds."""
        active = self.prices.status_at(at)
        price = self.prices.price_at(sku, at) if active and active.value == "active" else None
        terms = [t for p in self.promotions.values() if (t := p.terms_at(at)) is not None]
        return quote("web", sku, "EUR", at, price, terms, self.floors.floor_at(sku, at))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(operations, st.integers(1, 12 * 60)), min_size=1, max_size=25))
def test_a_price_at_a_moment_is_the_same_before_and_after_later_changes(
    steps: list[tuple[tuple[Any, ...], int]],
) -> None:
    world = World()
    now = T0
    shown: list[tuple[str, datetime, Quote]] = []
    for op, minutes in steps:
        now += timedelta(minutes=minutes)
        world.act(op, now)
        # What a query at this moment answers (the next change comes strictly later).
        for sku in SKUS:
            shown.append((sku, now, world.quote(sku, now)))
    for sku, at, then in shown:
        later = world.quote(sku, at)
        assert later == then, (sku, at)
