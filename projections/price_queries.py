"""Answers from the pricing read model: what a channel shows for its SKUs at any moment.

The read model keeps every layer, promotion version and floor with its window, so the price
"at t" is resolved here, at query time, by the same domain function the write side uses
(:func:`domain.pricing.quote`). A simulation is the same query with hypothetical layers or
promotions laid over the stored ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool

from domain.order import PriceEvidence
from domain.pricing import Quote, quote
from domain.promotion import PromotionKind, PromotionTerms, Stacking

LISTS_AT = """
SELECT DISTINCT ON (currency) currency, version, status FROM {s}.list_versions
WHERE channel = %(channel)s AND recorded_at <= %(at)s
ORDER BY currency, version DESC
"""
LAYERS_AT = """
SELECT DISTINCT ON (currency, sku) currency, sku, amount, version, valid_from, valid_until,
       source, clamped_from
FROM {s}.layers
WHERE channel = %(channel)s AND currency = ANY(%(currencies)s) AND sku = ANY(%(skus)s)
  AND valid_from <= %(at)s AND (valid_until IS NULL OR valid_until > %(at)s)
ORDER BY currency, sku, version DESC, idx DESC
"""
# Each promotion as known at the moment, then only those in force for this channel.
PROMOTIONS_AT = """
SELECT * FROM (
    SELECT DISTINCT ON (promotion_id) promotion_id, version, recorded_at, name, kind, value,
           currency, channels, skus, valid_from, valid_until, priority, stacking, stacks_with
    FROM {s}.promotions WHERE recorded_at <= %(at)s
    ORDER BY promotion_id, version DESC) p
WHERE valid_from <= %(at)s AND (valid_until IS NULL OR valid_until > %(at)s)
  AND (channels IS NULL OR %(channel)s = ANY(channels))
  AND (skus IS NULL OR skus && %(skus)s)
  AND (currency IS NULL OR currency = ANY(%(currencies)s))
"""
FLOORS_AT = """
SELECT DISTINCT ON (currency, sku) currency, sku, amount FROM {s}.floors
WHERE currency = ANY(%(currencies)s) AND sku = ANY(%(skus)s) AND recorded_at <= %(at)s
ORDER BY currency, sku, version DESC
"""


@dataclass
class Inputs:
    """Everything a channel's prices at one moment depend on."""

    lists: dict[str, tuple[int, str]] = field(default_factory=dict)  # currency -> version, status
    layers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    promotions: list[PromotionTerms] = field(default_factory=list)
    floors: dict[tuple[str, str], Decimal | None] = field(default_factory=dict)


def _terms(row: dict[str, Any]) -> PromotionTerms:
    return PromotionTerms(
        promotion_id=row["promotion_id"],
        name=row["name"],
        kind=PromotionKind(row["kind"]),
        value=row["value"],
        currency=row["currency"],
        channels=None if row["channels"] is None else frozenset(row["channels"]),
        skus=None if row["skus"] is None else frozenset(row["skus"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        priority=row["priority"],
        stacking=Stacking(row["stacking"]),
        stacks_with=frozenset(row["stacks_with"]),
        version=row["version"],
        recorded_at=row["recorded_at"],
    )


def money(amount: Decimal | None, currency: str) -> dict[str, str] | None:
    return None if amount is None else {"amount": str(amount), "currency": currency}


def render(found: Quote, inputs: Inputs, layer: dict[str, Any] | None) -> dict[str, Any]:
    version, status = inputs.lists.get(found.currency, (None, None))
    return {
        "sku": found.sku,
        "currency": found.currency,
        "list_price": money(found.list_price, found.currency),
        "effective_price": money(found.effective, found.currency),
        "promotions": [
            {
                "promotion_id": step.promotion_id,
                "version": step.version,
                "kind": step.kind.value,
                "value": str(step.value),
                "price_before": str(step.price_before),
                "price_after": str(step.price_after),
            }
            for step in found.promotions
        ],
        "map_floor": money(found.floor, found.currency),
        "clamped_to_floor": found.clamped_to_floor,
        "reason": found.reason,
        "price_list": None
        if version is None
        else {
            "version": version,
            "status": status,
            "entry_version": None if layer is None else layer["version"],
            "valid_from": None if layer is None else layer["valid_from"].isoformat(),
            "valid_until": None
            if layer is None or layer["valid_until"] is None
            else layer["valid_until"].isoformat(),
            "source": None if layer is None else layer["source"],
        },
    }


def evaluate(
    channel: str,
    skus: Sequence[str],
    at: datetime,
    inputs: Inputs,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """Each SKU's price in each currency the channel lists (or ``currency``), at ``at``."""
    currencies = [currency] if currency else sorted(inputs.lists)
    answers = []
    for cur in currencies:
        version, status = inputs.lists.get(cur, (None, None))
        for sku in skus:
            layer = inputs.layers.get((cur, sku))
            floor = inputs.floors.get((cur, sku))
            if status == "active" and layer is not None:
                found = quote(channel, sku, cur, at, layer["amount"], inputs.promotions, floor)
            else:
                why = (
                    f"no {cur} price list"
                    if version is None
                    else f"price list is {status}"
                    if status != "active"
                    else "no list price"
                )
                found = Quote(channel, sku, cur, at, None, (), floor, None, False, why)
                layer = None
            answers.append(render(found, inputs, layer))
    return answers


class PriceQueries:
    def __init__(self, schema: str = "pricing") -> None:
        self.schema = schema
        self._s = Identifier(schema)

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(s=self._s)

    def _params(
        self, channel: str, skus: Sequence[str], at: datetime, currencies: Iterable[str]
    ) -> dict[str, Any]:
        return {"channel": channel, "skus": list(skus), "at": at, "currencies": list(currencies)}

    async def inputs(
        self,
        conn: psycopg.AsyncConnection[Any],
        channel: str,
        skus: Sequence[str],
        at: datetime,
        currency: str | None = None,
    ) -> Inputs:
        found = Inputs()
        async with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            await cur.execute(self._sql(LISTS_AT), {"channel": channel, "at": at})
            for row in await cur.fetchall():
                if currency is None or row["currency"] == currency:
                    found.lists[row["currency"]] = (row["version"], row["status"])
            params = self._params(
                channel, skus, at, found.lists or ([currency] if currency else [])
            )
            await cur.execute(self._sql(LAYERS_AT), params)
            found.layers = {(r["currency"], r["sku"]): r for r in await cur.fetchall()}
            await cur.execute(self._sql(PROMOTIONS_AT), params)
            found.promotions = [_terms(r) for r in await cur.fetchall()]
            await cur.execute(self._sql(FLOORS_AT), params)
            found.floors = {(r["currency"], r["sku"]): r["amount"] for r in await cur.fetchall()}
        return found

    def inputs_sync(
        self,
        conn: psycopg.Connection[Any],
        channel: str,
        skus: Sequence[str],
        at: datetime,
        currency: str | None = None,
    ) -> Inputs:
        found = Inputs()
        with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(self._sql(LISTS_AT), {"channel": channel, "at": at})
            for row in cur.fetchall():
                if currency is None or row["currency"] == currency:
                    found.lists[row["currency"]] = (row["version"], row["status"])
            params = self._params(
                channel, skus, at, found.lists or ([currency] if currency else [])
            )
            cur.execute(self._sql(LAYERS_AT), params)
            found.layers = {(r["currency"], r["sku"]): r for r in cur.fetchall()}
            cur.execute(self._sql(PROMOTIONS_AT), params)
            found.promotions = [_terms(r) for r in cur.fetchall()]
            cur.execute(self._sql(FLOORS_AT), params)
            found.floors = {(r["currency"], r["sku"]): r["amount"] for r in cur.fetchall()}
        return found

    async def prices(
        self,
        conn: psycopg.AsyncConnection[Any],
        channel: str,
        skus: Sequence[str],
        at: datetime,
        currency: str | None = None,
    ) -> list[dict[str, Any]]:
        inputs = await self.inputs(conn, channel, skus, at, currency)
        return evaluate(channel, skus, at, inputs, currency)

    async def lists(
        self, conn: psycopg.AsyncConnection[Any], channel: str | None = None
    ) -> list[dict[str, Any]]:
        async with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            await cur.execute(
                self._sql(
                    "SELECT channel, currency, name, map_policy, status, version FROM {s}.lists "
                    "WHERE %(channel)s::text IS NULL OR channel = %(channel)s "
                    "ORDER BY channel, currency"
                ),
                {"channel": channel},
            )
            return list(await cur.fetchall())

    async def listed_skus(
        self, conn: psycopg.AsyncConnection[Any], channel: str, currency: str, limit: int
    ) -> list[str]:
        async with conn.cursor() as cur:
            await cur.execute(
                self._sql(
                    "SELECT DISTINCT sku FROM {s}.layers WHERE channel = %s AND currency = %s "
                    "ORDER BY sku LIMIT %s"
                ),
                (channel, currency, limit),
            )
            return [row[0] for row in await cur.fetchall()]

    def catalog(self, conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
        """(channel, currency) of every price list."""
        rows = conn.execute(self._sql("SELECT channel, currency FROM {s}.lists")).fetchall()
        return [(row[0], row[1]) for row in rows]

    def rules(self, conn: psycopg.Connection[Any]) -> list[str]:
        """The ids of the enabled pricing rules."""
        rows = conn.execute(
            self._sql("SELECT rule_id FROM {s}.rules WHERE enabled ORDER BY rule_id")
        ).fetchall()
        return [row[0] for row in rows]


class ReadModelPriceBook:
    """Effective prices for order placement, read from the pricing read model.

    It is at most the pricing projection's lag behind the pricing log; the list version and
    promotions it used are recorded on the order, so the check can be audited.
    """

    def __init__(self, conninfo: str, queries: PriceQueries, pool_size: int = 4) -> None:
        self.queries = queries
        self.pool: ConnectionPool[Any] = ConnectionPool(
            conninfo, min_size=1, max_size=pool_size, open=True, kwargs={"autocommit": True}
        )

    def evidence(
        self, channel: str, currency: str, skus: Sequence[str], at: datetime
    ) -> dict[str, PriceEvidence]:
        with self.pool.connection() as conn:
            inputs = self.queries.inputs_sync(conn, channel, skus, at, currency)
        found = {}
        for answer in evaluate(channel, skus, at, inputs, currency):
            listed = answer["price_list"] or {}
            found[answer["sku"]] = PriceEvidence(
                effective=_amount(answer["effective_price"]),
                list_price=_amount(answer["list_price"]),
                promotion_ids=tuple(step["promotion_id"] for step in answer["promotions"]),
                list_version=listed.get("version"),
                entry_version=listed.get("entry_version"),
            )
        return found

    def close(self) -> None:
        self.pool.close()


def _amount(money: dict[str, str] | None) -> Decimal | None:
    return None if money is None else Decimal(money["amount"])
