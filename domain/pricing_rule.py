"""Demand-driven pricing: a rule that moves a channel's price with the stock left to sell.

For each SKU of its group, a rule names a base price and a band [floor, ceiling]. When the
channel's available-to-promise (ATP) is at or below ``low_atp`` (scarce), the target is the
base raised by ``step_percent``; at or above ``high_atp`` (plenty), the base lowered by it;
otherwise the base. The target is kept within the band and never below the SKU's MAP floor,
and rounded half-even to the currency's minor unit. The rule only decides; a process writes
the result as an ordinary price change, so every automatic change is in the price history
with the rule and the ATP that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyExists, InvalidValue
from domain.identity import check_code, check_instant, check_quantity, stream_id
from domain.money import check_amount, check_currency, round_money
from domain.promotion import check_percent

MAX_GROUP = 500


class Band(StrEnum):
    SCARCE = "scarce"
    NORMAL = "normal"
    PLENTIFUL = "plentiful"


@dataclass(frozen=True)
class Target:
    price: Decimal
    band: Band
    reason: str


class PricingRule(Aggregate):
    @staticmethod
    def create_id(rule_id: str, **_: Any) -> UUID:
        return stream_id("pricing-rule", rule_id)

    @classmethod
    def define(
        cls,
        rule_id: str,
        channel: str,
        currency: str,
        skus: list[str],
        base: object,
        floor: object,
        ceiling: object,
        low_atp: int,
        high_atp: int,
        step_percent: object,
        now: datetime,
    ) -> PricingRule:
        return cls(
            **_checked(
                rule_id,
                channel,
                currency,
                skus,
                base,
                floor,
                ceiling,
                low_atp,
                high_atp,
                step_percent,
            ),
            recorded_at=check_instant(now, "now"),
        )

    @event("Defined")
    def __init__(
        self,
        rule_id: str,
        channel: str,
        currency: str,
        skus: list[str],
        base: Decimal,
        floor: Decimal,
        ceiling: Decimal,
        low_atp: int,
        high_atp: int,
        step_percent: Decimal,
        recorded_at: datetime,
    ) -> None:
        self.rule_id = rule_id
        self.channel = channel
        self.currency = currency
        self.skus = list(skus)
        self.base = Decimal(base)
        self.floor = Decimal(floor)
        self.ceiling = Decimal(ceiling)
        self.low_atp = low_atp
        self.high_atp = high_atp
        self.step_percent = Decimal(step_percent)
        self.enabled = True

    def same_as(self, **terms: Any) -> None:
        asked = _checked(**terms)
        kept = {key: getattr(self, key) for key in asked}
        if asked != kept:
            raise AlreadyExists(
                f"pricing rule {self.rule_id!r} exists with other terms", rule_id=self.rule_id
            )

    def disable(self, now: datetime) -> None:
        if self.enabled:
            self._disabled(recorded_at=check_instant(now, "now"))

    @event("Disabled")
    def _disabled(self, recorded_at: datetime) -> None:
        self.enabled = False

    def target(self, atp: int, map_floor: Decimal | None) -> Target:
        """The price this rule wants for a SKU with ``atp`` units left to promise."""
        step = self.base * self.step_percent / Decimal(100)
        if atp <= self.low_atp:
            band, raw = Band.SCARCE, self.base + step
        elif atp >= self.high_atp:
            band, raw = Band.PLENTIFUL, self.base - step
        else:
            band, raw = Band.NORMAL, self.base
        low = max(self.floor, map_floor) if map_floor is not None else self.floor
        price = round_money(min(max(raw, low), max(self.ceiling, low)), self.currency)
        return Target(price, band, f"rule {self.rule_id}: ATP {atp} is {band.value}")


def _checked(
    rule_id: str,
    channel: str,
    currency: str,
    skus: list[str],
    base: object,
    floor: object,
    ceiling: object,
    low_atp: int,
    high_atp: int,
    step_percent: object,
) -> dict[str, Any]:
    check_code(rule_id, "rule_id")
    check_code(channel, "channel")
    check_currency(currency)
    group = sorted({check_code(sku, "sku") for sku in skus})
    if not group or len(group) > MAX_GROUP:
        raise InvalidValue(f"skus must name 1 to {MAX_GROUP} SKUs", field="skus")
    base_amount = check_amount(base, currency, "base")
    floor_amount = check_amount(floor, currency, "floor")
    ceiling_amount = check_amount(ceiling, currency, "ceiling")
    if not floor_amount <= base_amount <= ceiling_amount:
        raise InvalidValue("floor <= base <= ceiling must hold", field="base")
    check_quantity(low_atp, "low_atp", allow_zero=True)
    check_quantity(high_atp, "high_atp", allow_zero=True)
    if low_atp >= high_atp:
        raise InvalidValue("low_atp must be below high_atp", field="low_atp")
    return {
        "rule_id": rule_id,
        "channel": channel,
        "currency": currency,
        "skus": group,
        "base": base_amount,
        "floor": floor_amount,
        "ceiling": ceiling_amount,
        "low_atp": low_atp,
        "high_atp": high_atp,
        "step_percent": check_percent(step_percent),
    }
