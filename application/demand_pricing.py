"""The process that applies demand-driven pricing rules as ordinary price changes.

It reads the channel's available-to-promise and current list price from the read models,
asks each rule for its target (domain/pricing_rule.py) and, where the list price differs,
schedules the target through the pricing application like any operator would: the event
names the rule as its source and says why. Running it twice, or in two processes at once,
changes nothing more: the idempotency key is made of the rule, the SKU, the ATP figure's
log position and the target, and an unchanged target writes nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import structlog

from application.commands import Request
from application.context import CommandContext
from application.pricing import PricingApp
from domain.errors import DomainError
from domain.price_list import PriceChange

log = structlog.get_logger(__name__)

ACTOR = "process:demand-pricing"


class DemandView(Protocol):
    def rules(self) -> list[str]:
        """Ids of the enabled rules."""
        ...

    def atp(self, channel: str, sku: str) -> tuple[int, int] | None:
        """The channel's ATP for the SKU and the log position that set it; None if unknown."""
        ...

    def list_price(self, channel: str, currency: str, sku: str, at: datetime) -> Decimal | None:
        """The list price in force (before promotions), or None."""
        ...


@dataclass(frozen=True)
class Change:
    rule_id: str
    channel: str
    sku: str
    price_before: Decimal | None
    price_after: Decimal
    reason: str


class DemandPricing:
    def __init__(self, pricing: PricingApp, view: DemandView) -> None:
        self.pricing = pricing
        self.view = view

    def run_once(self, now: datetime) -> list[Change]:
        """Evaluate every enabled rule once; the price changes written."""
        changes: list[Change] = []
        for rule_id in self.view.rules():
            rule = self.pricing.rule(rule_id)
            if not rule.enabled:
                continue
            for sku in rule.skus:
                found = self.view.atp(rule.channel, sku)
                if found is None:
                    continue  # no stock picture for it on this channel yet
                atp, position = found
                target = rule.target(atp, self.pricing.floor(rule.currency, sku))
                current = self.view.list_price(rule.channel, rule.currency, sku, now)
                if current == target.price:
                    continue
                request = Request(
                    CommandContext(actor=ACTOR, correlation_id=f"rule:{rule_id}"),
                    idempotency_key=f"{rule_id}:v{rule.version}:{sku}:{position}:{target.price}",
                    fingerprint=rule_id,
                )
                try:
                    self.pricing.schedule_prices(
                        rule.channel,
                        rule.currency,
                        [PriceChange(sku, target.price)],
                        now,
                        source=target.reason,
                        request=request,
                    )
                except DomainError as error:  # e.g. the list is archived: say so, go on
                    log.warning("demand_pricing.refused", rule=rule_id, sku=sku, error=error.detail)
                    continue
                changes.append(
                    Change(rule_id, rule.channel, sku, current, target.price, target.reason)
                )
        return changes

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Evaluate the rules every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                for change in self.run_once(datetime.now(UTC)):
                    log.info("demand_pricing.changed", **vars(change))
            except Exception:  # a failed round is logged and retried; the process lives on
                log.exception("demand_pricing.round_failed", retry_in=interval)
            stop.wait(interval)

    def start(self, interval: float = 5.0) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run, args=(stop, interval), name="demand-pricing", daemon=True
        )
        thread.start()
        return thread, stop
