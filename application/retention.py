"""Retention: personal data kept only as long as a rule allows, erased by explicit events.

One category so far: ship-to addresses, erased ``ship_to_days`` after the order's last
delivery. For each order due the process records ``ShipToErased`` (aggregate, read model and
connectors show the address erased), then destroys the address's own key (it is sealed apart
from the customer's, decision 0018), so as-of and replays show it erased too. Repeating a
run is safe: an order already erased is no longer due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from application.commands import Request
from application.context import CommandContext
from application.orders import OrdersApp
from application.privacy import KeyShredder
from domain.customer import category_key

RETENTION = Request(CommandContext(actor="retention"))


@dataclass(frozen=True)
class RetentionRules:
    ship_to_days: int | None = None  # None: kept


class Retention:
    def __init__(
        self,
        orders: OrdersApp,
        keys: KeyShredder,
        delivered_before: Callable[[datetime, int], list[UUID]],
        rules: RetentionRules,
    ) -> None:
        self.orders = orders
        self.keys = keys
        self.delivered_before = delivered_before  # (cutoff, limit) -> orders due
        self.rules = rules

    def run_once(self, now: datetime, limit: int = 100) -> int:
        """Apply every rule to at most ``limit`` orders due at ``now``; how many were erased.
        (One batch: the read model answering what is due learns of these erasures after.)"""
        if self.rules.ship_to_days is None:
            return 0
        basis = f"retention: ship-to kept {self.rules.ship_to_days} days after delivery"
        due = self.delivered_before(now - timedelta(days=self.rules.ship_to_days), limit)
        for order in due:
            self.orders.erase_ship_to(order, basis, RETENTION)
            self.keys.destroy_keys([category_key("ship_to", order)])
        return len(due)
