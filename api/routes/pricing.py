"""Pricing: price lists, MAP floors, promotions, demand rules, and what a channel shows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from api.auth import admits
from api.price_import import UnreadableFile, read_prices
from api.price_schemas import (
    Currency,
    FloorsPut,
    PriceListPut,
    PriceListStatusPut,
    PricesPost,
    PricingRulePut,
    PromotionPut,
    Rollback,
    promotion_definition,
)
from api.routes.commanding import BadRequest, command_request, execute, respond
from api.schemas import MAX_LIST, Code
from api.services import Services
from application.commands import Request as CommandRequest
from application.pricing import promotion_view, rule_view
from domain.errors import UnknownPriceList
from domain.identity import check_code
from domain.money import check_currency
from domain.price_list import PriceChange

MAX_IMPORT_BYTES = 16 * 1024 * 1024


def parse_at(at: str | None) -> datetime:
    """``at=`` as a UTC moment; now when absent."""
    if at is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise BadRequest(f"at must be an RFC 3339 time, got {at!r}", field="at") from None
    if moment.tzinfo is None:
        raise BadRequest("at needs a time zone, e.g. 2026-11-23T12:00:00Z", field="at")
    return moment.astimezone(UTC)


def _changes(body: PricesPost) -> list[PriceChange]:
    return [PriceChange(r.sku, r.amount, r.valid_from, r.valid_until) for r in body.prices]


class PriceListController(Controller):
    path = "/v1/channels/{channel:str}/price-lists/{currency:str}"
    tags = ["pricing"]  # noqa: RUF012

    @put("/", operation_id="putPriceList", opt=admits("admin", "operator"))
    async def put_list(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        currency: Currency,
        data: JSONBody[PriceListPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Open the channel's price list in a currency (as a draft), or rename it and set
        what happens to a price below a MAP floor (``reject`` or ``clamp``)."""

        def command(body: PriceListPut, req: CommandRequest) -> Any:
            return services.pricing.put_price_list(
                channel, currency, body.name, body.map_policy, datetime.now(UTC), request=req
            )

        return await execute(request, "put_price_list", PriceListPut, command)

    @get("/", operation_id="getPriceList", opt=admits("admin", "operator", "auditor", "channel"))
    async def get_list(
        self, channel: Code, currency: Currency, services: NamedDependency[Services]
    ) -> dict[str, Any]:
        """The list's name, status, MAP policy and version (read model)."""
        check_code(channel, "channel")
        check_currency(currency)
        async with services.read_pool.connection() as conn:
            lists = await services.price_queries.lists(conn, channel)
        for found in lists:
            if found["currency"] == currency:
                return found
        raise UnknownPriceList(
            f"no price list for channel {channel!r} in {currency}",
            channel=channel,
            currency=currency,
        )

    @put("/status", operation_id="setPriceListStatus", opt=admits("admin", "operator"))
    async def set_status(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        currency: Currency,
        data: JSONBody[PriceListStatusPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Make the list active (served to the channel), draft again, or archived for good."""

        def command(body: PriceListStatusPut, req: CommandRequest) -> Any:
            return services.pricing.set_list_status(
                channel, currency, body.status, datetime.now(UTC), request=req
            )

        return await execute(request, "set_price_list_status", PriceListStatusPut, command)

    @post(
        "/prices", operation_id="schedulePrices", opt=admits("admin", "operator"), status_code=200
    )
    async def schedule(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        currency: Currency,
        data: JSONBody[PricesPost],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Set (``amount``) or remove (``amount: null``) prices, each with an optional
        validity window. One invalid row refuses all, unless ``partial`` is true."""

        def command(body: PricesPost, req: CommandRequest) -> Any:
            return services.pricing.schedule_prices(
                channel,
                currency,
                _changes(body),
                datetime.now(UTC),
                partial=body.partial,
                request=req,
            )

        return await execute(request, "schedule_prices", PricesPost, command)

    @post(
        "/imports",
        operation_id="importPrices",
        opt=admits("admin", "operator"),
        status_code=200,
        request_max_body_size=MAX_IMPORT_BYTES,
    )
    async def import_prices(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        currency: Currency,
        services: NamedDependency[Services],
        partial: Annotated[bool, QueryParameter(description="apply the valid rows")] = False,
    ) -> Response[Any]:
        """Import a price file (``text/csv`` with a ``sku,amount[,valid_from,valid_until]``
        header, or ``application/json`` rows) as one command. Every bad row is named in the
        answer; nothing is applied if any row is bad unless ``partial=true``."""
        raw = await request.body()
        try:
            rows = read_prices(raw, request.headers.get("content-type", ""))
        except UnreadableFile as error:
            raise BadRequest(str(error)) from None
        req = command_request(request, raw + (b"?partial" if partial else b""))
        outcome = await asyncio.to_thread(
            services.pricing.schedule_prices,
            channel,
            currency,
            rows,
            datetime.now(UTC),
            source="import",
            partial=partial,
            request=req,
        )
        return respond("import_prices", outcome, 200)

    @post(
        "/rollback",
        operation_id="rollBackPriceList",
        opt=admits("admin", "operator"),
        status_code=200,
    )
    async def roll_back(
        self,
        request: Request[Any, Any, Any],
        channel: Code,
        currency: Currency,
        data: JSONBody[Rollback],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Schedule again, from now on, the prices the list had at an earlier version.
        History is kept: the rollback is a new event, and can itself be rolled back."""

        def command(body: Rollback, req: CommandRequest) -> Any:
            return services.pricing.roll_back(
                channel, currency, body.to_version, datetime.now(UTC), request=req
            )

        return await execute(request, "roll_back_price_list", Rollback, command)


class ChannelPricesController(Controller):
    path = "/v1/channels/{channel:str}/prices"
    tags = ["pricing"]  # noqa: RUF012

    @get(
        "/",
        operation_id="getPrices",
        opt=admits("admin", "operator", "auditor", "channel", "connector"),
    )
    async def prices(
        self,
        channel: Code,
        services: NamedDependency[Services],
        sku: Annotated[
            list[str],
            QueryParameter(name="sku", max_items=MAX_LIST, description="SKU codes, repeated"),
        ],
        currency: Annotated[str | None, QueryParameter(max_length=3)] = None,
        at: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> dict[str, Any]:
        """List price, promotions applied, MAP floor and effective price of each SKU, with
        the reason, at ``at`` (any past or future RFC 3339 time; default now). Each answer
        names the price-list version and promotion versions it used; an answer about a past
        moment never changes."""
        check_code(channel, "channel")
        for code in sku:
            check_code(code, "sku")
        if currency is not None:
            check_currency(currency)
        moment = parse_at(at)
        async with services.read_pool.connection() as conn:
            items = await services.price_queries.prices(
                conn, channel, sorted(set(sku)), moment, currency
            )
        return {"channel": channel, "at": moment.isoformat(), "items": items}


class FloorController(Controller):
    path = "/v1/price-floors/{currency:str}"
    tags = ["pricing"]  # noqa: RUF012

    @put("/", operation_id="putPriceFloors", opt=admits("admin", "operator"))
    async def put_floors(
        self,
        request: Request[Any, Any, Any],
        currency: Currency,
        data: JSONBody[FloorsPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Set minimum advertised prices per SKU (``null`` lifts one). They take effect now;
        the effective price of every channel is never shown below them."""

        def command(body: FloorsPut, req: CommandRequest) -> Any:
            return services.pricing.set_floors(
                currency, dict(body.floors), datetime.now(UTC), request=req
            )

        return await execute(request, "set_price_floors", FloorsPut, command)


class PromotionController(Controller):
    path = "/v1/promotions/{promotion_id:str}"
    tags = ["pricing"]  # noqa: RUF012

    @put("/", operation_id="putPromotion", opt=admits("admin", "operator"))
    async def put_promotion(
        self,
        request: Request[Any, Any, Any],
        promotion_id: Code,
        data: JSONBody[PromotionPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Define a promotion (its terms are fixed once defined; end it and define another
        to change them). Refused if it alone would take a listed price below its MAP floor
        on a channel whose list rejects such prices."""

        def command(body: PromotionPut, req: CommandRequest) -> Any:
            return services.pricing.define_promotion(
                promotion_id, now=datetime.now(UTC), request=req, **promotion_definition(body)
            )

        return await execute(request, "define_promotion", PromotionPut, command)

    @get("/", operation_id="getPromotion", opt=admits("admin", "operator", "auditor"))
    async def get_promotion(
        self, promotion_id: Code, services: NamedDependency[Services]
    ) -> dict[str, Any]:
        """A promotion's terms and window."""
        found = await asyncio.to_thread(services.pricing.promotion, promotion_id)
        return promotion_view(found)

    @post("/end", operation_id="endPromotion", opt=admits("admin", "operator"), status_code=200)
    async def end(
        self,
        request: Request[Any, Any, Any],
        promotion_id: Code,
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """End the promotion now (it keeps applying to every moment before)."""

        def command(_: None, req: CommandRequest) -> Any:
            return services.pricing.end_promotion(promotion_id, datetime.now(UTC), request=req)

        return await execute(request, "end_promotion", None, command)


class PricingRuleController(Controller):
    path = "/v1/pricing-rules/{rule_id:str}"
    tags = ["pricing"]  # noqa: RUF012

    @put("/", operation_id="putPricingRule", opt=admits("admin", "operator"))
    async def put_rule(
        self,
        request: Request[Any, Any, Any],
        rule_id: Code,
        data: JSONBody[PricingRulePut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Define a demand-driven rule: the price of each SKU of the group moves from
        ``base`` by ``step_percent`` when the channel's ATP is at or below ``low_atp`` (up)
        or at or above ``high_atp`` (down), within [max(floor, MAP floor), ceiling]."""

        def command(body: PricingRulePut, req: CommandRequest) -> Any:
            return services.pricing.define_rule(
                rule_id,
                datetime.now(UTC),
                request=req,
                channel=body.channel,
                currency=body.currency,
                skus=list(body.skus),
                base=body.base,
                floor=body.floor,
                ceiling=body.ceiling,
                low_atp=body.low_atp,
                high_atp=body.high_atp,
                step_percent=body.step_percent,
            )

        return await execute(request, "define_pricing_rule", PricingRulePut, command)

    @get("/", operation_id="getPricingRule", opt=admits("admin", "operator", "auditor"))
    async def get_rule(self, rule_id: Code, services: NamedDependency[Services]) -> dict[str, Any]:
        """A rule's terms and whether it is enabled."""
        return rule_view(await asyncio.to_thread(services.pricing.rule, rule_id))

    @post(
        "/disable",
        operation_id="disablePricingRule",
        opt=admits("admin", "operator"),
        status_code=200,
    )
    async def disable(
        self,
        request: Request[Any, Any, Any],
        rule_id: Code,
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Stop the rule; prices it set stay until changed."""

        def command(_: None, req: CommandRequest) -> Any:
            return services.pricing.disable_rule(rule_id, datetime.now(UTC), request=req)

        return await execute(request, "disable_pricing_rule", None, command)
