"""The effective price: list price, promotions, MAP floor — one deterministic evaluation.

Rules (docs/pricing.md explains them with examples):

1. Candidates are the promotions in force at the moment for the channel, SKU and currency,
   ordered by priority (highest first), then by promotion id.
2. The first candidate decides how offers are formed:
   - ``exclusive``: it applies alone;
   - ``stackable``: it applies together with every later stackable candidate that names, and
     is named by, each promotion already in the stack (taken in candidate order);
   - ``best_for_customer``: every candidate is an offer (a stackable one with its stack, as
     above); the offer giving the lowest price applies, the earlier candidate on a tie.
3. Within an offer: fixed prices first (never raising the price), then percentages off, then
   amounts off, each group in candidate order. After each step the price is rounded half-even
   to the currency's minor unit and kept at zero or above.
4. Finally the price is raised to the SKU's MAP floor if it fell below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.money import round_money
from domain.promotion import PromotionKind, PromotionTerms, Stacking

_STEP_ORDER = {
    PromotionKind.FIXED_PRICE: 0,
    PromotionKind.PERCENT_OFF: 1,
    PromotionKind.AMOUNT_OFF: 2,
}
ZERO = Decimal(0)


@dataclass(frozen=True)
class AppliedPromotion:
    promotion_id: str
    version: int
    kind: PromotionKind
    value: Decimal
    price_before: Decimal
    price_after: Decimal


@dataclass(frozen=True)
class Quote:
    channel: str
    sku: str
    currency: str
    at: datetime
    list_price: Decimal | None
    promotions: tuple[AppliedPromotion, ...]
    floor: Decimal | None
    effective: Decimal | None  # None: the SKU has no price on this channel at this moment
    clamped_to_floor: bool
    reason: str


def quote(
    channel: str,
    sku: str,
    currency: str,
    at: datetime,
    list_price: Decimal | None,
    promotions: Iterable[PromotionTerms],
    floor: Decimal | None,
) -> Quote:
    """What ``channel`` shows for ``sku`` in ``currency`` at ``at``, and why."""
    if list_price is None:
        return Quote(channel, sku, currency, at, None, (), floor, None, False, "no list price")
    candidates = sorted(
        (p for p in promotions if p.applies(channel, sku, currency, at)),
        key=lambda p: (-p.priority, p.promotion_id),
    )
    applied = _best_offer(candidates, list_price, currency)
    price = applied[-1].price_after if applied else list_price
    clamped = floor is not None and price < floor
    if clamped:
        assert floor is not None
        price = floor
    return Quote(
        channel=channel,
        sku=sku,
        currency=currency,
        at=at,
        list_price=list_price,
        promotions=tuple(applied),
        floor=floor,
        effective=price,
        clamped_to_floor=clamped,
        reason=_reason(list_price, applied, floor if clamped else None, currency),
    )


def _best_offer(
    candidates: Sequence[PromotionTerms], list_price: Decimal, currency: str
) -> list[AppliedPromotion]:
    if not candidates:
        return []
    leader = candidates[0]
    if leader.stacking is Stacking.EXCLUSIVE:
        return _apply([leader], list_price, currency)
    if leader.stacking is Stacking.STACKABLE:
        return _apply(_stack(leader, candidates), list_price, currency)
    best: list[AppliedPromotion] | None = None
    for candidate in candidates:
        offer = (
            _stack(candidate, candidates)
            if candidate.stacking is Stacking.STACKABLE
            else [candidate]
        )
        result = _apply(offer, list_price, currency)
        if best is None or result[-1].price_after < best[-1].price_after:
            best = result
    assert best is not None
    return best


def _stack(first: PromotionTerms, candidates: Sequence[PromotionTerms]) -> list[PromotionTerms]:
    stack = [first]
    for other in candidates:
        if other is first or other.stacking is not Stacking.STACKABLE:
            continue
        if all(
            other.promotion_id in chosen.stacks_with and chosen.promotion_id in other.stacks_with
            for chosen in stack
        ):
            stack.append(other)
    return stack


def _apply(
    offer: Sequence[PromotionTerms], list_price: Decimal, currency: str
) -> list[AppliedPromotion]:
    order = {p.promotion_id: i for i, p in enumerate(offer)}
    steps = sorted(offer, key=lambda p: (_STEP_ORDER[p.kind], order[p.promotion_id]))
    price = list_price
    applied = []
    for promotion in steps:
        before = price
        if promotion.kind is PromotionKind.FIXED_PRICE:
            price = min(price, promotion.value)
        elif promotion.kind is PromotionKind.PERCENT_OFF:
            price = price - price * promotion.value / Decimal(100)
        else:
            price = price - promotion.value
        price = max(ZERO, round_money(price, currency))
        applied.append(
            AppliedPromotion(
                promotion.promotion_id,
                promotion.version,
                promotion.kind,
                promotion.value,
                before,
                price,
            )
        )
    return applied


def _reason(
    list_price: Decimal,
    applied: Sequence[AppliedPromotion],
    clamped_floor: Decimal | None,
    currency: str,
) -> str:
    parts = [f"list price {list_price} {currency}"]
    for step in applied:
        if step.kind is PromotionKind.PERCENT_OFF:
            what = f"{step.value}% off"
        elif step.kind is PromotionKind.AMOUNT_OFF:
            what = f"{step.value} {currency} off"
        else:
            what = f"fixed price {step.value} {currency}"
        parts.append(f"{step.promotion_id} ({what}) -> {step.price_after}")
    if clamped_floor is not None:
        parts.append(f"raised to MAP floor {clamped_floor}")
    return "; ".join(parts)
