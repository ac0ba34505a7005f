"""Minimum advertised prices (MAP): per SKU, in one currency, one aggregate per currency.

Floors are set by brands and change rarely, so one stream per currency is no contention
point and lets a price change read every floor it needs in one load. A floor takes effect
when recorded and is never backdated, so the floor in force at a past moment never changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValue
from domain.identity import check_code, check_instant, stream_id
from domain.money import check_amount, check_currency

MAX_FLOORS_PER_CHANGE = 10_000


class PriceFloors(Aggregate):
    @staticmethod
    def create_id(currency: str, **_: Any) -> UUID:
        return stream_id("price-floors", currency)

    @classmethod
    def start(cls, currency: str, now: datetime) -> PriceFloors:
        return cls(currency=check_currency(currency), recorded_at=check_instant(now, "now"))

    @event("Started")
    def __init__(self, currency: str, recorded_at: datetime) -> None:
        self.currency = currency
        # Per SKU, (recorded_at, floor or None for "no floor"), oldest first.
        self.history: dict[str, list[tuple[datetime, Decimal | None]]] = {}
        self.last_recorded = recorded_at

    def __deepcopy__(self, memo: dict[int, Any]) -> PriceFloors:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.history = {sku: list(entries) for sku, entries in self.history.items()}
        clone._pending_events = list(self._pending_events)
        return clone

    def floor(self, sku: str) -> Decimal | None:
        entries = self.history.get(sku)
        return entries[-1][1] if entries else None

    def floor_at(self, sku: str, at: datetime) -> Decimal | None:
        found = None
        for recorded_at, amount in self.history.get(sku, ()):
            if recorded_at > at:
                break
            found = amount
        return found

    def floors(self, skus: list[str]) -> dict[str, Decimal | None]:
        return {sku: self.floor(sku) for sku in skus}

    def set(self, floors: Mapping[str, object], now: datetime) -> None:
        """Set (or, with None, lift) floors; unchanged ones are not recorded again."""
        if not floors:
            raise InvalidValue("no floors given", field="floors")
        if len(floors) > MAX_FLOORS_PER_CHANGE:
            raise InvalidValue(f"at most {MAX_FLOORS_PER_CHANGE} floors at once", field="floors")
        changed: dict[str, Decimal | None] = {}
        for sku, amount in sorted(floors.items()):
            check_code(sku, "sku")
            value = None if amount is None else check_amount(amount, self.currency, "floor")
            if value != self.floor(sku):
                changed[sku] = value
        if changed:
            now = max(check_instant(now, "now"), self.last_recorded)
            self._set(floors=changed, recorded_at=now)

    @event("FloorsSet")
    def _set(self, floors: dict[str, Decimal | None], recorded_at: datetime) -> None:
        for sku, amount in floors.items():
            value = None if amount is None else Decimal(amount)
            self.history.setdefault(sku, []).append((recorded_at, value))
        self.last_recorded = recorded_at
