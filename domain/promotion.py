"""Promotions: a discount or a fixed price, for some channels and SKUs, for a while.

A promotion's terms never change once defined; it can only be ended early, and ending it
takes effect from the moment it is recorded. So, as with price lists, nothing done today
changes what a promotion did in the past.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyExists, InvalidValue
from domain.identity import check_choice, check_code, check_instant, check_text, stream_id
from domain.money import check_amount, check_currency

MAX_SCOPE = 500
MAX_PRIORITY = 1_000_000
MAX_PERCENT_DECIMALS = 4


class PromotionKind(StrEnum):
    PERCENT_OFF = "percent_off"  # value: a percentage in (0, 100]
    AMOUNT_OFF = "amount_off"  # value: money off, in the promotion's currency
    FIXED_PRICE = "fixed_price"  # value: the price, in the promotion's currency


class Stacking(StrEnum):
    EXCLUSIVE = "exclusive"  # applies alone
    STACKABLE = "stackable"  # combines with the promotions it names, if they name it back
    BEST_FOR_CUSTOMER = "best_for_customer"  # the cheapest of the possible offers applies


@dataclass(frozen=True)
class PromotionTerms:
    promotion_id: str
    name: str
    kind: PromotionKind
    value: Decimal
    currency: str | None  # None (percent off only): every currency
    channels: frozenset[str] | None  # None: every channel
    skus: frozenset[str] | None  # None: every SKU
    valid_from: datetime
    valid_until: datetime | None
    priority: int  # higher first
    stacking: Stacking
    stacks_with: frozenset[str]
    version: int
    recorded_at: datetime

    def applies(self, channel: str, sku: str, currency: str, at: datetime) -> bool:
        return (
            self.valid_from <= at
            and (self.valid_until is None or at < self.valid_until)
            and (self.currency is None or self.currency == currency)
            and (self.channels is None or channel in self.channels)
            and (self.skus is None or sku in self.skus)
        )


def check_terms(
    promotion_id: str,
    name: str,
    kind: PromotionKind | str,
    value: object,
    currency: str | None,
    channels: Iterable[str] | None,
    skus: Iterable[str] | None,
    priority: int,
    stacking: Stacking | str,
    stacks_with: Iterable[str],
) -> dict[str, Any]:
    """Every term validated, as plain values ready for an event."""
    check_code(promotion_id, "promotion_id")
    check_text(name, "name", 200, allow_empty=True)
    chosen = check_choice(PromotionKind, kind, "kind")
    rule = check_choice(Stacking, stacking, "stacking")
    if currency is not None:
        check_currency(currency)
    if chosen is PromotionKind.PERCENT_OFF:
        percent = check_percent(value)
        amount: Decimal = percent
    else:
        if currency is None:
            raise InvalidValue(f"a {chosen.value} promotion needs a currency", field="currency")
        amount = check_amount(value, currency, "value")
        if chosen is PromotionKind.AMOUNT_OFF and amount == 0:
            raise InvalidValue("an amount off must be more than zero", field="value")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidValue("priority must be a whole number", field="priority")
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidValue(f"priority must be within ±{MAX_PRIORITY}", field="priority")
    partners = sorted({check_code(p, "stacks_with") for p in stacks_with})
    if partners and rule is not Stacking.STACKABLE:
        raise InvalidValue("only a stackable promotion names others", field="stacks_with")
    if promotion_id in partners:
        raise InvalidValue("a promotion cannot stack with itself", field="stacks_with")
    return {
        "promotion_id": promotion_id,
        "name": name,
        "kind": chosen.value,
        "value": amount,
        "currency": currency,
        "channels": _scope(channels, "channels"),
        "skus": _scope(skus, "skus"),
        "priority": priority,
        "stacking": rule.value,
        "stacks_with": partners[:MAX_SCOPE],
    }


def check_percent(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidValue("a percentage must be a decimal number", field="value")
    try:
        percent = Decimal(value)
    except ArithmeticError:
        raise InvalidValue("a percentage must be a decimal number", field="value") from None
    exponent = percent.as_tuple().exponent if percent.is_finite() else 0
    if (
        not percent.is_finite()
        or not Decimal(0) < percent <= Decimal(100)
        or (isinstance(exponent, int) and -exponent > MAX_PERCENT_DECIMALS)
    ):
        raise InvalidValue(
            f"a percentage must be above 0 and at most 100, with at most "
            f"{MAX_PERCENT_DECIMALS} decimals; got {value}",
            field="value",
        )
    return percent


def _scope(codes: Iterable[str] | None, what: str) -> list[str] | None:
    if codes is None:
        return None
    found = sorted({check_code(code, what.rstrip("s")) for code in codes})
    if not found:
        raise InvalidValue(f"{what} must name at least one, or be left out for all", field=what)
    if len(found) > MAX_SCOPE:
        raise InvalidValue(f"{what} may name at most {MAX_SCOPE}", field=what)
    return found


def promotion_stream(promotion_id: str) -> UUID:
    return stream_id("promotion", promotion_id)


class Promotion(Aggregate):
    @staticmethod
    def create_id(terms: dict[str, Any], **_: Any) -> UUID:
        return promotion_stream(terms["promotion_id"])

    @classmethod
    def define(
        cls,
        terms: dict[str, Any],
        valid_from: datetime | None,
        valid_until: datetime | None,
        now: datetime,
    ) -> Promotion:
        """A new promotion from checked ``terms`` (see :func:`check_terms`)."""
        now = check_instant(now, "now")
        begin, end = _window(valid_from, valid_until, now)
        return cls(terms=terms, valid_from=begin, valid_until=end, recorded_at=now)

    @event("Defined")
    def __init__(
        self,
        terms: dict[str, Any],
        valid_from: datetime,
        valid_until: datetime | None,
        recorded_at: datetime,
    ) -> None:
        self.promotion_id: str = terms["promotion_id"]
        self.defined = dict(terms)
        self.terms = PromotionTerms(
            promotion_id=terms["promotion_id"],
            name=terms["name"],
            kind=PromotionKind(terms["kind"]),
            value=Decimal(terms["value"]),
            currency=terms["currency"],
            channels=None if terms["channels"] is None else frozenset(terms["channels"]),
            skus=None if terms["skus"] is None else frozenset(terms["skus"]),
            valid_from=valid_from,
            valid_until=valid_until,
            priority=terms["priority"],
            stacking=Stacking(terms["stacking"]),
            stacks_with=frozenset(terms["stacks_with"]),
            version=1,
            recorded_at=recorded_at,
        )
        self.history: list[PromotionTerms] = [self.terms]

    def same_as(
        self, terms: dict[str, Any], valid_from: datetime | None, valid_until: datetime | None
    ) -> None:
        """Defining it again is harmless only with the same terms (a retried create)."""
        asked = {**terms, "value": Decimal(terms["value"])}
        kept = {**self.defined, "value": Decimal(self.defined["value"])}
        until = None if valid_until is None else check_instant(valid_until, "valid_until")
        begin = None if valid_from is None else check_instant(valid_from, "valid_from")
        original = self.history[0]
        if (
            asked != kept
            or until != original.valid_until
            or (begin is not None and max(begin, original.recorded_at) != original.valid_from)
        ):
            raise AlreadyExists(
                f"promotion {self.promotion_id!r} exists with other terms",
                promotion_id=self.promotion_id,
            )

    def terms_at(self, at: datetime) -> PromotionTerms | None:
        """The terms as known at ``at`` (None before it was defined)."""
        found = None
        for terms in self.history:
            if terms.recorded_at > at:
                break
            found = terms
        return found

    def end(self, now: datetime) -> None:
        """Stop it from ``now`` on (no-op if it has already ended)."""
        now = max(check_instant(now, "now"), self.terms.recorded_at)
        if self.terms.valid_until is not None and self.terms.valid_until <= now:
            return
        self._ended(valid_until=now, recorded_at=now)

    @event("Ended")
    def _ended(self, valid_until: datetime, recorded_at: datetime) -> None:
        self.terms = replace(
            self.terms,
            valid_until=valid_until,
            version=self.version + 1,
            recorded_at=recorded_at,
        )
        self.history.append(self.terms)


def _window(
    valid_from: datetime | None, valid_until: datetime | None, now: datetime
) -> tuple[datetime, datetime | None]:
    begin = now if valid_from is None else max(check_instant(valid_from, "valid_from"), now)
    end = None if valid_until is None else check_instant(valid_until, "valid_until")
    if end is not None and end <= begin:
        raise InvalidValue(
            "valid_until must be later than valid_from and than now", field="valid_until"
        )
    return begin, end
