"""Public events of pricing: `price_list` (one per channel and currency), `promotion`,
`price_floors` (MAP floors, one stream per currency) and `pricing_rule`.

Prices are money objects (`{"amount": "12.50", "currency": "EUR"}`); a price of `null`
removes the SKU's price within the window. A later entry for a SKU shadows earlier ones
from its `valid_from` on; nothing here ever changes what applied before it was recorded.
"""

from __future__ import annotations

from typing import Any

from infrastructure.envelope import Time
from infrastructure.public_events.base import (
    Money,
    PublicEvent,
    StreamType,
    optional_utc,
    utc,
)

LOG = "pricing"
PRICE_LIST = StreamType(
    "price_list", aggregate="PriceList", key=lambda e: f"{e.channel}:{e.currency}", log=LOG
)
PROMOTION = StreamType(
    "promotion", aggregate="Promotion", key=lambda e: str(e.terms["promotion_id"]), log=LOG
)
PRICE_FLOORS = StreamType("price_floors", aggregate="PriceFloors", key="currency", log=LOG)
PRICING_RULE = StreamType("pricing_rule", aggregate="PricingRule", key="rule_id", log=LOG)


def _split(key: str) -> tuple[str, str]:
    channel, _, currency = key.rpartition(":")
    return channel, currency


class PriceEntry(PublicEvent, frozen=True, kw_only=True):
    sku: str
    price: Money | None
    valid_from: Time
    valid_until: Time | None = None
    clamped_from: Money | None = None  # what was asked, when raised to the MAP floor


class PriceListOpened(PublicEvent, frozen=True, kw_only=True):
    """A channel's price list in a currency was opened, as a draft (served to nobody).

    `map_policy`: `reject` refuses prices below a MAP floor, `clamp` raises them to it."""

    channel: str
    currency: str
    name: str
    map_policy: str
    recorded_at: Time


class PricesScheduled(PublicEvent, frozen=True, kw_only=True):
    """Prices set or removed, each for a validity window; `source` says who or what
    (`operator`, `import`, or the demand rule and the ATP that moved it)."""

    channel: str
    currency: str
    entries: list[PriceEntry]
    source: str
    recorded_at: Time


class PriceListRolledBack(PublicEvent, frozen=True, kw_only=True):
    """The prices of an earlier version were scheduled again from `recorded_at` on."""

    channel: str
    currency: str
    to_version: int
    entries: list[PriceEntry]
    recorded_at: Time


class PriceListStatusChanged(PublicEvent, frozen=True, kw_only=True):
    """`status`: `draft` (served to nobody), `active`, or `archived` (for good)."""

    channel: str
    currency: str
    status: str
    recorded_at: Time


class PriceListRenamed(PublicEvent, frozen=True, kw_only=True):
    channel: str
    currency: str
    name: str
    recorded_at: Time


class PriceListMapPolicyChanged(PublicEvent, frozen=True, kw_only=True):
    channel: str
    currency: str
    map_policy: str
    recorded_at: Time


class PromotionDefined(PublicEvent, frozen=True, kw_only=True):
    """A promotion: `kind` `percent_off` (value a percentage), `amount_off` or `fixed_price`
    (value in `currency`); `channels`/`skus` null means all; `stacking` `exclusive`,
    `stackable` (with those in `stacks_with` that name it back) or `best_for_customer`."""

    promotion_id: str
    name: str
    kind: str
    value: str
    currency: str | None
    channels: list[str] | None
    skus: list[str] | None
    priority: int
    stacking: str
    stacks_with: list[str]
    valid_from: Time
    valid_until: Time | None
    recorded_at: Time


class PromotionEnded(PublicEvent, frozen=True, kw_only=True):
    """The promotion stops applying from `valid_until` (it still applied before)."""

    promotion_id: str
    valid_until: Time
    recorded_at: Time


class PriceFloorsStarted(PublicEvent, frozen=True, kw_only=True):
    currency: str
    recorded_at: Time


class PriceFloorsSet(PublicEvent, frozen=True, kw_only=True):
    """Minimum advertised prices from `recorded_at` on; a `null` floor lifts it."""

    currency: str
    floors: dict[str, Money | None]
    recorded_at: Time


class PricingRuleDefined(PublicEvent, frozen=True, kw_only=True):
    """A demand-driven rule for a channel's SKU group (see docs/pricing.md)."""

    rule_id: str
    channel: str
    currency: str
    skus: list[str]
    base: Money
    floor: Money
    ceiling: Money
    low_atp: int
    high_atp: int
    step_percent: str
    recorded_at: Time


class PricingRuleDisabled(PublicEvent, frozen=True, kw_only=True):
    rule_id: str
    recorded_at: Time


def _money(amount: Any, currency: str) -> Money | None:
    return None if amount is None else Money.of(amount, currency)


def _entries(event: Any, currency: str) -> list[PriceEntry]:
    return [
        PriceEntry(
            sku=entry["sku"],
            price=_money(entry["amount"], currency),
            valid_from=utc(entry["valid_from"]),
            valid_until=optional_utc(entry["valid_until"]),
            clamped_from=_money(entry.get("clamped_from"), currency),
        )
        for entry in event.entries
    ]


@PRICE_LIST.event(PriceListOpened, stored="PriceList.Opened")
def _opened(event: Any, key: str) -> PriceListOpened:
    return PriceListOpened(
        channel=event.channel,
        currency=event.currency,
        name=event.name,
        map_policy=event.map_policy,
        recorded_at=utc(event.recorded_at),
    )


@PRICE_LIST.event(PricesScheduled)
def _scheduled(event: Any, key: str) -> PricesScheduled:
    channel, currency = _split(key)
    return PricesScheduled(
        channel=channel,
        currency=currency,
        entries=_entries(event, currency),
        source=event.source,
        recorded_at=utc(event.recorded_at),
    )


@PRICE_LIST.event(PriceListRolledBack, stored="PriceList.RolledBack")
def _rolled_back(event: Any, key: str) -> PriceListRolledBack:
    channel, currency = _split(key)
    return PriceListRolledBack(
        channel=channel,
        currency=currency,
        to_version=event.to_version,
        entries=_entries(event, currency),
        recorded_at=utc(event.recorded_at),
    )


@PRICE_LIST.event(PriceListStatusChanged, stored="PriceList.StatusChanged")
def _status(event: Any, key: str) -> PriceListStatusChanged:
    channel, currency = _split(key)
    return PriceListStatusChanged(
        channel=channel, currency=currency, status=event.status, recorded_at=utc(event.recorded_at)
    )


@PRICE_LIST.event(PriceListRenamed, stored="PriceList.Renamed")
def _renamed(event: Any, key: str) -> PriceListRenamed:
    channel, currency = _split(key)
    return PriceListRenamed(
        channel=channel, currency=currency, name=event.name, recorded_at=utc(event.recorded_at)
    )


@PRICE_LIST.event(PriceListMapPolicyChanged, stored="PriceList.MapPolicyChanged")
def _policy(event: Any, key: str) -> PriceListMapPolicyChanged:
    channel, currency = _split(key)
    return PriceListMapPolicyChanged(
        channel=channel,
        currency=currency,
        map_policy=event.map_policy,
        recorded_at=utc(event.recorded_at),
    )


@PROMOTION.event(PromotionDefined, stored="Promotion.Defined")
def _promotion_defined(event: Any, key: str) -> PromotionDefined:
    terms = event.terms
    return PromotionDefined(
        promotion_id=key,
        name=terms["name"],
        kind=terms["kind"],
        value=str(terms["value"]),
        currency=terms["currency"],
        channels=terms["channels"],
        skus=terms["skus"],
        priority=terms["priority"],
        stacking=terms["stacking"],
        stacks_with=terms["stacks_with"],
        valid_from=utc(event.valid_from),
        valid_until=optional_utc(event.valid_until),
        recorded_at=utc(event.recorded_at),
    )


@PROMOTION.event(PromotionEnded, stored="Promotion.Ended")
def _promotion_ended(event: Any, key: str) -> PromotionEnded:
    return PromotionEnded(
        promotion_id=key,
        valid_until=utc(event.valid_until),
        recorded_at=utc(event.recorded_at),
    )


@PRICE_FLOORS.event(PriceFloorsStarted, stored="PriceFloors.Started")
def _floors_started(event: Any, key: str) -> PriceFloorsStarted:
    return PriceFloorsStarted(currency=key, recorded_at=utc(event.recorded_at))


@PRICE_FLOORS.event(PriceFloorsSet, stored="PriceFloors.FloorsSet")
def _floors_set(event: Any, key: str) -> PriceFloorsSet:
    return PriceFloorsSet(
        currency=key,
        floors={sku: _money(amount, key) for sku, amount in event.floors.items()},
        recorded_at=utc(event.recorded_at),
    )


@PRICING_RULE.event(PricingRuleDefined, stored="PricingRule.Defined")
def _rule_defined(event: Any, key: str) -> PricingRuleDefined:
    return PricingRuleDefined(
        rule_id=key,
        channel=event.channel,
        currency=event.currency,
        skus=list(event.skus),
        base=Money.of(event.base, event.currency),
        floor=Money.of(event.floor, event.currency),
        ceiling=Money.of(event.ceiling, event.currency),
        low_atp=event.low_atp,
        high_atp=event.high_atp,
        step_percent=str(event.step_percent),
        recorded_at=utc(event.recorded_at),
    )


@PRICING_RULE.event(PricingRuleDisabled, stored="PricingRule.Disabled")
def _rule_disabled(event: Any, key: str) -> PricingRuleDisabled:
    return PricingRuleDisabled(rule_id=key, recorded_at=utc(event.recorded_at))
