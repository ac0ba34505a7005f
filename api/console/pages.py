"""Console pages: server-rendered views over the read models and the audit reads.

Every page reads what the API reads (the same query modules, the same as-of and bundle code);
nothing here holds a business rule. Writes go through the same application commands as the
API, with the logged-in key as the actor, and only for ``admin`` and ``operator`` keys.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
import psycopg
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from api.console.charts import sales_chart
from api.console.session import (
    AUDITORS,
    READERS,
    WRITERS,
    Form,
    check_csrf,
    console_roles,
    page_context,
)
from api.routes.pricing import parse_at
from api.services import Services
from application.commands import Request as CommandRequest
from application.context import CommandContext
from application.onboarding import apply as onboarding_apply
from application.onboarding import plan as onboarding_plan
from application.onboarding import report as onboarding_report
from domain.errors import InvalidValue, NotFound
from domain.identity import check_code, stream_id
from domain.inventory import AdjustmentReason
from infrastructure.audit.bundle_check import check_bundle
from infrastructure.audit.history import History
from infrastructure.audit.signing import public_key
from infrastructure.log_reader import LOGS
from projections.as_of import atp_at, prices_at
from projections.bundle import booking_bundle, order_bundle
from projections.bundle_html import render_html
from projections.console_queries import connector_health, find_skus
from projections.kpis import kpi_figures

READ = console_roles(*READERS)
WRITE = console_roles(*WRITERS)
AUDIT = console_roles(*AUDITORS)


class UnknownPage(NotFound):
    code = "unknown"
    title = "Not found"


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _command_request(request: Request[Any, Any, Any]) -> CommandRequest:
    principal = request.scope["state"]["principal"]
    return CommandRequest(CommandContext(actor=principal.key_id, channel=None))


class ConsolePages(Controller):
    path = "/"
    include_in_schema = False

    @get("/", opt=READ)
    async def home(self) -> Redirect:
        """The console starts at the stock search."""
        return Redirect("/console/dashboard", status_code=303)

    # -- stock --------------------------------------------------------------------------

    @get("/stock", opt=READ)
    async def stock_search(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        q: FromQuery[str] = "",
    ) -> Template:
        """Find a SKU by code, name or GTIN."""
        found: list[dict[str, Any]] = []
        if q.strip():
            async with services.read_pool.connection() as conn:
                found = await find_skus(conn, q.strip()[:64])
        return Template("stock_search.html", context=page_context(request, q=q, found=found))

    @get("/stock/{sku:str}", opt=READ)
    async def stock(
        self,
        request: Request[Any, Any, Any],
        sku: FromPath[str],
        services: NamedDependency[Services],
    ) -> Template:
        """Stock per location and ATP per channel, kept live over server-sent events."""
        check_code(sku, "sku")
        async with services.read_pool.connection() as conn:
            picture = await services.queries.stock_picture(conn, sku)
        if picture is None:
            raise UnknownPage(f"no SKU {sku!r}", sku=sku)
        reasons = [reason.value for reason in AdjustmentReason]
        return Template("stock.html", context=page_context(request, stock=picture, reasons=reasons))

    @post("/stock/{sku:str}/adjustments", opt=WRITE, status_code=303)
    async def adjust(
        self,
        request: Request[Any, Any, Any],
        sku: FromPath[str],
        data: Form,
        services: NamedDependency[Services],
    ) -> Redirect:
        """An operator's stock adjustment, through the same command as the API."""
        check_csrf(request, data)
        check_code(sku, "sku")
        location = check_code(str(data.get("location", "")), "location")
        try:
            reason = AdjustmentReason(str(data.get("reason", "")))
            quantity = int(str(data.get("quantity", "")))
        except ValueError:
            raise InvalidValue(
                "reason and a whole quantity are required", field="quantity"
            ) from None
        command = _command_request(request)
        await asyncio.to_thread(
            services.inventory.adjust, sku, location, reason, quantity, request=command
        )
        return Redirect(f"/console/stock/{sku}", status_code=303)

    @get("/stock/{sku:str}/timeline", opt=READ)
    async def sku_timeline(
        self,
        request: Request[Any, Any, Any],
        sku: FromPath[str],
        services: NamedDependency[Services],
    ) -> Template:
        """Every event of the SKU's stream, oldest first, with who and why."""
        check_code(sku, "sku")
        async with services.read_pool.connection() as conn:
            records = await History("inventory").stream(conn, stream_id("sku", sku), 0, 500)
        events = [_event_row(record) for record in msgspec.to_builtins(records)]
        if not events:
            raise UnknownPage(f"no SKU {sku!r}", sku=sku)
        return Template("timeline.html", context=page_context(request, sku=sku, events=events))

    # -- orders and bookings ----------------------------------------------------------------

    @get("/orders", opt=READ)
    async def orders(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        channel: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        sku: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        """Orders, filtered by channel, status and SKU, oldest first."""
        filters = {"channel": _blank(channel), "status": _blank(status), "sku": _blank(sku)}
        for name in ("channel", "sku"):
            if filters[name] is not None:
                check_code(str(filters[name]), name)
        async with services.read_pool.connection() as conn:
            rows, next_cursor = await services.order_queries.list(
                conn,
                channel=filters["channel"],
                status=filters["status"],
                sku=filters["sku"],
                after=_blank(cursor),
                limit=50,
            )
        return Template(
            "orders.html",
            context=page_context(request, orders=rows, filters=filters, next_cursor=next_cursor),
        )

    @get("/orders/{order_id:uuid}", opt=READ)
    async def order(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[UUID],
        services: NamedDependency[Services],
    ) -> Template:
        """An order, its lines and shipments, and its timeline."""
        async with services.read_pool.connection() as conn:
            found = await services.order_queries.detail(conn, order_id)
        if found is None:
            raise UnknownPage(f"no order {order_id}")
        return Template("order.html", context=page_context(request, order=found))

    @get("/bookings", opt=READ)
    async def bookings(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        channel: FromQuery[str | None] = None,
        resource: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        """Bookings, filtered by channel, resource and status."""
        filters = {
            "channel": _blank(channel),
            "resource": _blank(resource),
            "status": _blank(status),
        }
        for name in ("channel", "resource"):
            if filters[name] is not None:
                check_code(str(filters[name]), name)
        async with services.read_pool.connection() as conn:
            rows, next_cursor = await services.booking_queries.list(
                conn,
                channel=filters["channel"],
                resource=filters["resource"],
                status=filters["status"],
                after=_blank(cursor),
                limit=50,
            )
        return Template(
            "bookings.html",
            context=page_context(request, bookings=rows, filters=filters, next_cursor=next_cursor),
        )

    @get("/bookings/{channel:str}/{reference:str}", opt=READ)
    async def booking(
        self,
        request: Request[Any, Any, Any],
        channel: FromPath[str],
        reference: FromPath[str],
        services: NamedDependency[Services],
    ) -> Template:
        """A booking, its confirmation documents and its timeline."""
        check_code(channel, "channel")
        async with services.read_pool.connection() as conn:
            found = await services.booking_queries.booking(conn, channel, reference)
        if found is None:
            raise UnknownPage(f"no booking {reference!r} of channel {channel!r}")
        return Template("booking.html", context=page_context(request, booking=found))

    # -- prices -------------------------------------------------------------------------

    @get("/prices", opt=READ)
    async def prices(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        sku: FromQuery[str] = "",
        at: FromQuery[str] = "",
    ) -> Template:
        """A SKU's price on every channel now, and (replayed from the log) at a chosen time."""
        now = datetime.now(UTC)
        moment = parse_at(at) if at.strip() else None
        rows: list[dict[str, Any]] = []
        if sku.strip():
            check_code(sku.strip(), "sku")
            async with services.read_pool.connection() as conn:
                channels = await services.queries.channels(conn)
                for channel in channels:
                    current = await services.price_queries.prices(
                        conn, channel["code"], [sku.strip()], now
                    )
                    then = (
                        (await prices_at(conn, channel["code"], [sku.strip()], moment))["items"]
                        if moment is not None
                        else []
                    )
                    atp_then = None
                    if moment is not None:
                        try:
                            atp_then = await atp_at(conn, channel["code"], [sku.strip()], moment)
                        except NotFound:  # the channel did not exist yet at that moment
                            atp_then = None
                    rows.append(
                        {
                            "channel": channel["code"],
                            "now": current,
                            "then": then,
                            "atp_then": atp_then,
                        }
                    )
        return Template(
            "prices.html",
            context=page_context(request, sku=sku.strip(), at=at.strip(), moment=moment, rows=rows),
        )

    # -- disputes -----------------------------------------------------------------------

    @get("/disputes/orders/{order_id:uuid}", opt=AUDIT)
    async def order_dispute(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[UUID],
        services: NamedDependency[Services],
    ) -> Template:
        """The order's dispute bundle, rendered, and whether it verifies."""
        async with services.read_pool.connection() as conn:
            bundle = await order_bundle(conn, order_id, await public_key(conn), datetime.now(UTC))
        return _dispute(request, bundle, f"/console/orders/{order_id}")

    @get("/disputes/bookings/{booking_id:uuid}", opt=AUDIT)
    async def booking_dispute(
        self,
        request: Request[Any, Any, Any],
        booking_id: FromPath[UUID],
        services: NamedDependency[Services],
    ) -> Template:
        """The booking's dispute bundle, rendered, and whether it verifies."""
        async with services.read_pool.connection() as conn:
            bundle = await booking_bundle(
                conn, booking_id, await public_key(conn), datetime.now(UTC)
            )
        return _dispute(request, bundle, None)

    # -- operations ---------------------------------------------------------------------

    @get("/connectors", opt=READ)
    async def connectors(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Template:
        """Connector health: events handled and dead-lettered, lag behind each log's head."""
        async with services.read_pool.connection() as conn:
            rows = await connector_health(conn, LOGS)
        return Template("connectors.html", context=page_context(request, rows=rows))

    @get("/feed", opt=READ)
    async def feed(self, request: Request[Any, Any, Any]) -> Template:
        """The live event feed (server-sent events from NATS)."""
        return Template("feed.html", context=page_context(request))


def _event_row(record: dict[str, Any]) -> dict[str, Any]:
    event = record["event"]
    return {
        "version": event["stream_version"],
        "position": event["position"],
        "type": event["type"],
        "occurred_at": event["occurred_at"],
        "actor": event["actor"],
        "channel": event["channel"],
        "correlation_id": event["correlation_id"],
        "data": json.dumps(event["data"], sort_keys=True),
    }


def _dispute(request: Request[Any, Any, Any], bundle: dict[str, Any], back: str | None) -> Template:
    # Verified as an outsider would: the document alone, against the key it names.
    problems = check_bundle(msgspec.json.decode(msgspec.json.encode(bundle)))
    return Template(
        "dispute.html",
        context=page_context(
            request,
            bundle=bundle,
            problems=problems,
            rendered=render_html(bundle),
            back=back,
        ),
    )


@get("/dashboard", opt=READ, include_in_schema=False)
async def dashboard(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Template:
    """The integration KPIs, with charts of sales per day and channel."""

    def read() -> dict[str, Any]:
        with psycopg.connect(services.follower.conninfo, autocommit=True) as conn:
            return kpi_figures(conn)

    figures = await asyncio.to_thread(read)
    currencies = sorted({row["currency"] for row in figures["sales"]})
    units = sales_chart(_by_day_and_channel(figures["sales"]), "units")
    revenue = {
        currency: sales_chart(
            [row for row in figures["sales"] if row["currency"] == currency], "revenue"
        )
        for currency in currencies
    }
    return Template(
        "dashboard.html",
        context=page_context(request, kpi=figures, units=units, revenue=revenue),
    )


def _by_day_and_channel(sales: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Units summed over currencies (an order has one currency; a channel may list several)."""
    merged: dict[tuple[str, str], int] = {}
    for row in sales:
        key = (row["day"], row["channel"])
        merged[key] = merged.get(key, 0) + row["units"]
    return [{"day": d, "channel": c, "units": u} for (d, c), u in sorted(merged.items())]


@get("/onboarding", opt=WRITE, include_in_schema=False)
async def onboarding_page(request: Request[Any, Any, Any]) -> Template:
    """Upload a CSV of locations, SKUs and stock levels."""
    return Template("onboarding.html", context=page_context(request, result=None))


@post("/onboarding", opt=WRITE, include_in_schema=False, status_code=200)
async def onboarding(
    request: Request[Any, Any, Any],
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    services: NamedDependency[Services],
) -> Template:
    """Check every row; apply the file only when asked and only if no row has a problem."""
    check_csrf(request, data)
    upload = data.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidValue("choose a CSV file", field="file")
    try:
        text = (await upload.read()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidValue("the file is not UTF-8 text", field="file") from None
    checked = await asyncio.to_thread(onboarding_plan, text, services.inventory)
    written = None
    if checked.valid and data.get("action") == "apply":
        written = await asyncio.to_thread(
            onboarding_apply, checked, services.inventory, _command_request(request)
        )
    result = {
        "valid": checked.valid,
        "problems": checked.problems,
        "rows": onboarding_report(checked),
        "counts": checked.counts(),
        "written": written,
    }
    return Template(
        "onboarding.html",
        context=page_context(request, result=result),
        status_code=200 if checked.valid else 422,
    )
