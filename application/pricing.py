"""The pricing application: price lists, MAP floors, promotions and pricing rules.

Its own log (``pricing_events``), so price changes never wait on stock writes and a bulk
import of thousands of prices does not hold up a reservation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from application.commands import ANONYMOUS, CommandRunner, Outcome, Request
from domain.errors import (
    BelowMapFloor,
    DomainError,
    UnknownPriceList,
    UnknownPromotion,
    UnknownRule,
    UnknownVersion,
)
from domain.identity import check_code, stream_id
from domain.money import check_currency
from domain.price_floors import PriceFloors
from domain.price_list import ListStatus, MapPolicy, PriceChange, PriceList, RowError
from domain.pricing import quote
from domain.pricing_rule import PricingRule
from domain.promotion import Promotion, PromotionKind, check_terms, promotion_stream

# (channel, currency) of every price list; given by the read side, used only to check a
# promotion for every channel against MAP floors when it is created.
ListCatalog = Callable[[], list[tuple[str, str]]]


def price_list_view(price_list: PriceList) -> dict[str, Any]:
    return {
        "channel": price_list.channel,
        "currency": price_list.currency,
        "name": price_list.name,
        "status": price_list.status.value,
        "map_policy": price_list.map_policy.value,
        "version": price_list.version,
        "skus": len(price_list.layers),
    }


def promotion_view(promotion: Promotion) -> dict[str, Any]:
    terms = promotion.terms
    return {
        "promotion_id": terms.promotion_id,
        "name": terms.name,
        "kind": terms.kind.value,
        "value": str(terms.value),
        "currency": terms.currency,
        "channels": None if terms.channels is None else sorted(terms.channels),
        "skus": None if terms.skus is None else sorted(terms.skus),
        "valid_from": terms.valid_from.isoformat(),
        "valid_until": None if terms.valid_until is None else terms.valid_until.isoformat(),
        "priority": terms.priority,
        "stacking": terms.stacking.value,
        "stacks_with": sorted(terms.stacks_with),
        "version": promotion.version,
    }


def rule_view(rule: PricingRule) -> dict[str, Any]:
    return {
        "rule_id": rule.rule_id,
        "channel": rule.channel,
        "currency": rule.currency,
        "skus": rule.skus,
        "base": str(rule.base),
        "floor": str(rule.floor),
        "ceiling": str(rule.ceiling),
        "low_atp": rule.low_atp,
        "high_atp": rule.high_atp,
        "step_percent": str(rule.step_percent),
        "enabled": rule.enabled,
        "version": rule.version,
    }


def list_id(channel: str, currency: str) -> UUID:
    return stream_id("price-list", f"{channel}:{currency}")


class PricingApp(Application[UUID]):
    name = "pricing"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "2000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }

    def __init__(
        self, env: dict[str, str] | None = None, catalog: ListCatalog | None = None
    ) -> None:
        super().__init__(env)
        self.commands = CommandRunner(self)
        self.catalog: ListCatalog = catalog or (lambda: [])

    # -- price lists -----------------------------------------------------------------------

    def put_price_list(
        self,
        channel: str,
        currency: str,
        name: str,
        map_policy: MapPolicy | str,
        now: datetime,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Open a price list (as a draft), or rename it and change its MAP policy."""
        check_code(channel, "channel")
        check_currency(currency)

        def decide(found: PriceList | None) -> tuple[PriceList, dict[str, Any]]:
            if found is None:
                found = PriceList.draft(channel, currency, name, map_policy, now)
            else:
                found.set_map_policy(map_policy, now)
                found.rename(name, now)
            return found, price_list_view(found)

        return self.commands.run(list_id(channel, currency), decide, request)

    def set_list_status(
        self,
        channel: str,
        currency: str,
        status: ListStatus | str,
        now: datetime,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        return self._on_list(
            channel, currency, lambda found: found.set_status(status, now), request
        )

    def schedule_prices(
        self,
        channel: str,
        currency: str,
        changes: Sequence[PriceChange | RowError],
        now: datetime,
        *,
        source: str = "operator",
        partial: bool = False,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Set or remove prices (one, or a whole import); answers with the rows refused."""
        check_code(channel, "channel")
        check_currency(currency)
        floors = self._floors(currency, _skus(changes))
        refused: list[dict[str, Any]] = []

        def act(found: PriceList) -> None:
            # Assigned, not appended: a lost write race decides the command again.
            refused[:] = [
                vars(e) for e in found.schedule(changes, floors, now, source, partial=partial)
            ]

        return self._on_list(
            channel,
            currency,
            act,
            request,
            lambda _: {"applied": len(changes) - len(refused), "refused": list(refused)},
        )

    def plan_prices(
        self,
        channel: str,
        currency: str,
        changes: Sequence[PriceChange | RowError],
        now: datetime,
    ) -> tuple[list[dict[str, Any]], list[RowError]]:
        """What :meth:`schedule_prices` would record and refuse, without recording it."""
        found = self.price_list(channel, currency)
        return found.plan(changes, self._floors(currency, _skus(changes)), now)

    def roll_back(
        self,
        channel: str,
        currency: str,
        to_version: int,
        now: datetime,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Schedule again the prices the list had at ``to_version`` (as new events)."""
        current = self.price_list(channel, currency)
        if isinstance(to_version, bool) or not 1 <= to_version <= current.version:
            raise UnknownVersion(
                f"price list {channel}/{currency} has versions 1 to {current.version}",
                field="to_version",
                version=to_version,
            )
        earlier: PriceList = self.repository.get(list_id(channel, currency), version=to_version)
        floors = self._floors(currency, sorted(set(current.layers) | set(earlier.layers)))
        return self._on_list(
            channel,
            currency,
            lambda found: found.roll_back(earlier, floors, now),
            request,
            lambda _: {"rolled_back_to": to_version},
        )

    def price_list(self, channel: str, currency: str) -> PriceList:
        check_code(channel, "channel")
        check_currency(currency)
        try:
            found: PriceList = self.repository.get(list_id(channel, currency))
        except AggregateNotFoundError:
            raise _no_list(channel, currency) from None
        return found

    def _on_list(
        self,
        channel: str,
        currency: str,
        act: Callable[[PriceList], None],
        request: Request,
        extra: Callable[[PriceList], dict[str, Any]] | None = None,
    ) -> Outcome:
        check_code(channel, "channel")
        check_currency(currency)

        def decide(found: PriceList | None) -> tuple[PriceList, dict[str, Any]]:
            assert found is not None
            act(found)
            body = price_list_view(found)
            if extra is not None:
                body.update(extra(found))
            return found, body

        return self.commands.run(
            list_id(channel, currency),
            decide,
            request,
            missing=lambda: _no_list(channel, currency),
        )

    # -- MAP floors ------------------------------------------------------------------------

    def set_floors(
        self,
        currency: str,
        floors: dict[str, Decimal | None],
        now: datetime,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        check_currency(currency)

        def decide(found: PriceFloors | None) -> tuple[PriceFloors, dict[str, Any]]:
            if found is None:
                found = PriceFloors.start(currency, now)
            found.set(floors, now)
            current = {sku: found.floor(sku) for sku in sorted(floors)}
            return found, {
                "currency": currency,
                "floors": {sku: None if v is None else str(v) for sku, v in current.items()},
                "version": found.version,
            }

        return self.commands.run(stream_id("price-floors", currency), decide, request)

    def _floors(self, currency: str, skus: list[str]) -> dict[str, Decimal | None]:
        try:
            found: PriceFloors = self.repository.get(stream_id("price-floors", currency))
        except AggregateNotFoundError:
            return {}
        return found.floors(skus)

    # -- promotions ------------------------------------------------------------------------

    def define_promotion(
        self,
        promotion_id: str,
        *,
        name: str,
        kind: PromotionKind | str,
        value: Decimal,
        currency: str | None,
        channels: list[str] | None,
        skus: list[str] | None,
        priority: int,
        stacking: str,
        stacks_with: list[str],
        valid_from: datetime | None,
        valid_until: datetime | None,
        now: datetime,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Define a promotion; refused if, alone, it takes a listed price below its floor
        on a channel whose list rejects such prices (on a clamping list it is raised)."""
        terms = check_terms(
            promotion_id,
            name,
            kind,
            value,
            currency,
            channels,
            skus,
            priority,
            stacking,
            stacks_with,
        )

        def decide(found: Promotion | None) -> tuple[Promotion, dict[str, Any]]:
            if found is not None:
                found.same_as(terms, valid_from, valid_until)
                return found, promotion_view(found)
            created = Promotion.define(terms, valid_from, valid_until, now)
            self._check_against_floors(created)
            return created, promotion_view(created)

        return self.commands.run(promotion_stream(promotion_id), decide, request)

    def preview_promotion(
        self, promotion_id: str, now: datetime, **definition: Any
    ) -> tuple[Promotion, DomainError | None]:
        """The promotion as it would be defined, and the refusal it would meet, if any."""
        terms = check_terms(promotion_id, **{k: definition[k] for k in _TERMS})
        created = Promotion.define(
            terms, definition.get("valid_from"), definition.get("valid_until"), now
        )
        try:
            self._check_against_floors(created)
        except DomainError as error:
            return created, error
        return created, None

    def promotion(self, promotion_id: str) -> Promotion:
        check_code(promotion_id, "promotion_id")
        try:
            found: Promotion = self.repository.get(promotion_stream(promotion_id))
        except AggregateNotFoundError:
            raise UnknownPromotion(
                f"no promotion {promotion_id!r}", promotion_id=promotion_id
            ) from None
        return found

    def end_promotion(
        self, promotion_id: str, now: datetime, request: Request = ANONYMOUS
    ) -> Outcome:
        check_code(promotion_id, "promotion_id")

        def decide(found: Promotion | None) -> tuple[Promotion, dict[str, Any]]:
            assert found is not None
            found.end(now)
            return found, promotion_view(found)

        return self.commands.run(
            promotion_stream(promotion_id),
            decide,
            request,
            missing=lambda: UnknownPromotion(
                f"no promotion {promotion_id!r}", promotion_id=promotion_id
            ),
        )

    def _check_against_floors(self, promotion: Promotion) -> None:
        terms = promotion.terms
        lists = [
            (channel, currency)
            for channel, currency in self.catalog()
            if (terms.channels is None or channel in terms.channels)
            and (terms.currency is None or currency == terms.currency)
        ]
        if terms.channels is not None:
            currencies = [terms.currency] if terms.currency else sorted({c for _, c in lists})
            lists = sorted(set(lists) | {(ch, cur) for ch in terms.channels for cur in currencies})
        for channel, currency in lists:
            try:
                found: PriceList = self.repository.get(list_id(channel, currency))
            except AggregateNotFoundError:
                continue
            if found.map_policy is MapPolicy.CLAMP:
                continue
            skus = sorted(
                found.layers if terms.skus is None else set(terms.skus) & set(found.layers)
            )
            floors = self._floors(currency, skus)
            for sku in skus:
                floor = floors.get(sku)
                if floor is None:
                    continue
                for layer in found.layers[sku]:
                    if layer.amount is None or not _overlaps(layer, terms):
                        continue
                    at = max(layer.valid_from, terms.valid_from)
                    if not terms.applies(channel, sku, currency, at):
                        continue
                    price = quote(channel, sku, currency, at, layer.amount, [terms], None)
                    assert price.effective is not None
                    if price.effective < floor:
                        raise BelowMapFloor(
                            f"promotion {terms.promotion_id} would take {sku} on {channel} to "
                            f"{price.effective} {currency}, below its MAP floor {floor}",
                            field="value",
                            sku=sku,
                            channel=channel,
                            amount=str(price.effective),
                            floor=str(floor),
                        )

    # -- pricing rules ---------------------------------------------------------------------

    def define_rule(
        self, rule_id: str, now: datetime, request: Request = ANONYMOUS, **terms: Any
    ) -> Outcome:
        check_code(rule_id, "rule_id")

        def decide(found: PricingRule | None) -> tuple[PricingRule, dict[str, Any]]:
            if found is not None:
                found.same_as(rule_id=rule_id, **terms)
                return found, rule_view(found)
            created = PricingRule.define(rule_id=rule_id, now=now, **terms)
            return created, rule_view(created)

        return self.commands.run(stream_id("pricing-rule", rule_id), decide, request)

    def disable_rule(self, rule_id: str, now: datetime, request: Request = ANONYMOUS) -> Outcome:
        check_code(rule_id, "rule_id")

        def decide(found: PricingRule | None) -> tuple[PricingRule, dict[str, Any]]:
            assert found is not None
            found.disable(now)
            return found, rule_view(found)

        return self.commands.run(
            stream_id("pricing-rule", rule_id),
            decide,
            request,
            missing=lambda: UnknownRule(f"no pricing rule {rule_id!r}", rule_id=rule_id),
        )

    def rule(self, rule_id: str) -> PricingRule:
        check_code(rule_id, "rule_id")
        try:
            found: PricingRule = self.repository.get(stream_id("pricing-rule", rule_id))
        except AggregateNotFoundError:
            raise UnknownRule(f"no pricing rule {rule_id!r}", rule_id=rule_id) from None
        return found

    def floor(self, currency: str, sku: str) -> Decimal | None:
        return self._floors(currency, [sku]).get(sku)


_TERMS = (
    "name",
    "kind",
    "value",
    "currency",
    "channels",
    "skus",
    "priority",
    "stacking",
    "stacks_with",
)


def _skus(changes: Sequence[PriceChange | RowError]) -> list[str]:
    return sorted({c.sku for c in changes if isinstance(c, PriceChange) and isinstance(c.sku, str)})


def _overlaps(layer: Any, terms: Any) -> bool:
    starts_before_end = terms.valid_until is None or layer.valid_from < terms.valid_until
    ends_after_start = layer.valid_until is None or terms.valid_from < layer.valid_until
    return bool(starts_before_end and ends_after_start)


def _no_list(channel: str, currency: str) -> UnknownPriceList:
    return UnknownPriceList(
        f"no price list for channel {channel!r} in {currency}", channel=channel, currency=currency
    )
