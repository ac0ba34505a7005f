"""Governance: what every affected channel would show if a change were applied — before it is.

The simulation reads the same inputs as a price query, lays the hypothetical price layers or
promotion over them, and evaluates both with the same domain function. Nothing is written.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.auth import admits
from api.price_schemas import SimulationPost, promotion_definition
from api.routes.commanding import BadRequest
from api.schemas import MAX_LIST, decode_strict
from api.services import Services
from domain.price_list import PriceChange
from projections.price_queries import Inputs, evaluate


def _with_layers(
    inputs: Inputs, currency: str, entries: list[dict[str, Any]], at: datetime
) -> Inputs:
    layers = dict(inputs.layers)
    for entry in entries:  # later entries shadow earlier ones, as when recorded
        covers = entry["valid_from"] <= at and (
            entry["valid_until"] is None or at < entry["valid_until"]
        )
        if covers:
            layers[(currency, entry["sku"])] = {
                **entry,
                "version": None,
                "source": "simulation",
            }
    return replace(inputs, layers=layers)


class SimulationController(Controller):
    path = "/v1/pricing/simulations"
    tags = ["pricing"]  # noqa: RUF012

    @post("/", operation_id="simulatePricing", opt=admits("admin", "operator"), status_code=200)
    async def simulate(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SimulationPost],
        services: NamedDependency[Services],
    ) -> dict[str, Any]:
        """Before and after, per channel and SKU, for a price-list edit or a new promotion,
        at ``at`` (default now), with the refusals the change would meet. Writes nothing."""
        body = decode_strict(await request.body(), SimulationPost)
        if (body.prices is None) == (body.promotion is None):
            raise BadRequest("simulate either prices or a promotion")
        now = datetime.now(UTC)
        at = body.at.astimezone(UTC) if body.at else now
        refused: list[dict[str, Any]] = []
        targets: list[tuple[str, str | None, list[str]]] = []  # channel, currency, skus
        entries: list[dict[str, Any]] = []
        promotion = None
        if body.prices is not None:
            changes = [
                PriceChange(r.sku, r.amount, r.valid_from, r.valid_until)
                for r in body.prices.prices
            ]
            entries, errors = await asyncio.to_thread(
                services.pricing.plan_prices,
                body.prices.channel,
                body.prices.currency,
                changes,
                now,
            )
            refused = [vars(e) for e in errors]
            skus = sorted({c.sku for c in changes})
            targets = [(body.prices.channel, body.prices.currency, skus)]
        else:
            asked = body.promotion
            assert asked is not None
            created, refusal = await asyncio.to_thread(
                lambda: services.pricing.preview_promotion(
                    asked.promotion_id, now, **promotion_definition(asked)
                )
            )
            promotion = replace(created.terms, version=0)
            if refusal is not None:
                refused = [{"code": refusal.code, "detail": refusal.detail, **refusal.facts}]
            async with services.read_pool.connection() as conn:
                lists = await services.price_queries.lists(conn)
                for found in lists:
                    channel, currency = found["channel"], found["currency"]
                    if promotion.channels is not None and channel not in promotion.channels:
                        continue
                    if promotion.currency is not None and currency != promotion.currency:
                        continue
                    skus = (
                        sorted(promotion.skus)
                        if promotion.skus is not None
                        else await services.price_queries.listed_skus(
                            conn, channel, currency, MAX_LIST
                        )
                    )
                    targets.append((channel, currency, skus))
        results: list[dict[str, Any]] = []
        async with services.read_pool.connection() as conn:
            for channel, currency, skus in targets:
                inputs = await services.price_queries.inputs(conn, channel, skus, at, currency)
                before = evaluate(channel, skus, at, inputs, currency)
                if promotion is not None:
                    changed = replace(inputs, promotions=[*inputs.promotions, promotion])
                else:
                    assert currency is not None
                    changed = _with_layers(inputs, currency, entries, at)
                after = evaluate(channel, skus, at, changed, currency)
                for old, new in zip(before, after, strict=True):
                    results.append(
                        {
                            "channel": channel,
                            "sku": old["sku"],
                            "currency": old["currency"],
                            "before": old,
                            "after": new,
                            "changes": old["effective_price"] != new["effective_price"],
                        }
                    )
        return {"at": at.isoformat(), "refused": refused, "results": results}
