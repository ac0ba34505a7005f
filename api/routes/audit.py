"""Audit reads: event history, as-of reconstruction and dispute bundles (auditors, admins).

Everything here is read-only and computed from the logs: a stream's or a log's events with
their metadata and hashes; any aggregate's state at a version or a time; what a channel's
ATP and prices were at a time (replayed, not read from the read models); and the dispute
bundle of an order or a booking, verifiable offline (docs/audit.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from api.auth import admits
from api.routes.pricing import parse_at
from api.schemas import MAX_LIST, Code
from api.services import Services
from domain.errors import InvalidValue, NotFound
from domain.identity import check_code
from domain.money import check_currency
from infrastructure.audit.history import History, correlated, decode_cursor, encode_cursor
from infrastructure.audit.signing import public_key
from projections.as_of import aggregate_at, atp_at, check_moment, prices_at, state_view
from projections.bundle import booking_bundle, order_bundle
from projections.bundle_html import render_html

AUDITORS = admits("admin", "auditor")
MAX_PAGE = 1000


class UnknownStream(NotFound):
    code = "unknown-stream"
    title = "Unknown stream"


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]  # noqa: RUF012

    @get(
        "/streams/{log:str}/{stream_id:uuid}/events",
        operation_id="getAuditStreamEvents",
        opt=AUDITORS,
    )
    async def stream_events(
        self,
        log: FromPath[str],
        stream_id: FromPath[UUID],
        services: NamedDependency[Services],
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """Every event of one stream, oldest first, with its public envelope (actor, channel,
        correlation and causation ids, times, version, position, hash, prev_hash), its
        idempotency key and its log hash. Pass ``next_cursor`` back to continue."""
        history = History(log)
        after = decode_cursor(cursor, "version")["version"] if cursor else 0
        async with services.read_pool.connection() as conn:
            records = await history.stream(conn, stream_id, after, limit)
        more = len(records) == limit
        return {
            "log": log,
            "stream_id": str(stream_id),
            "items": msgspec.to_builtins(records),
            "next_cursor": encode_cursor({"version": records[-1].event.stream_version})
            if more
            else None,
        }

    @get("/logs/{log:str}/events", operation_id="getAuditLogEvents", opt=AUDITORS)
    async def log_events(
        self,
        log: FromPath[str],
        services: NamedDependency[Services],
        after: Annotated[int, QueryParameter(ge=0, le=2**62)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """A log's events after position ``after``, in position order (the log's one order);
        ``next_after`` is the position to ask from next, null at the head."""
        history = History(log)
        async with services.read_pool.connection() as conn:
            records = await history.log_after(conn, after, limit)
        return {
            "log": log,
            "items": msgspec.to_builtins(records),
            "next_after": records[-1].event.position if len(records) == limit else None,
        }

    @get(
        "/correlations/{correlation_id:str}",
        operation_id="getAuditCorrelation",
        opt=AUDITORS,
    )
    async def correlation(
        self,
        correlation_id: FromPath[str],
        services: NamedDependency[Services],
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """Every event of every log carrying ``correlation_id``: one command's events and
        everything they caused (the saga's holds, their expiry, ...), log by log."""
        if not 1 <= len(correlation_id) <= 200:
            raise InvalidValue("correlation_id has 1 to 200 characters", field="correlation_id")
        async with services.read_pool.connection() as conn:
            records, resume = await correlated(conn, correlation_id, cursor, limit)
        return {
            "correlation_id": correlation_id,
            "items": msgspec.to_builtins(records),
            "next_cursor": resume,
        }

    @get("/streams/{log:str}/{stream_id:uuid}/state", operation_id="getAuditState", opt=AUDITORS)
    async def state(
        self,
        log: FromPath[str],
        stream_id: FromPath[UUID],
        services: NamedDependency[Services],
        at: Annotated[str | None, QueryParameter(max_length=64)] = None,
        version: Annotated[int | None, QueryParameter(ge=1, le=2**62)] = None,
    ) -> dict[str, Any]:
        """The aggregate's state as of ``version``, or as of ``at`` (RFC 3339: the events
        recorded by then), replayed from its stream with the domain's own rules."""
        History(log)  # checks the log's name
        moment = None if at is None else parse_at(at)
        check_moment(moment, version)
        async with services.read_pool.connection() as conn:
            found = await aggregate_at(conn, log, stream_id, version=version, at=moment)
        if found is None or (version is not None and found.version < version):
            raise UnknownStream(
                f"stream {stream_id} of log {log} has no such version, or no events by then",
                log=log,
                stream_id=str(stream_id),
            )
        return {
            "log": log,
            "at": None if moment is None else moment.isoformat(),
            "asked_version": version,
            **state_view(found),
        }

    @get(
        "/channels/{channel:str}/availability",
        operation_id="getAuditAvailabilityAt",
        opt=AUDITORS,
    )
    async def availability_at(
        self,
        channel: FromPath[Code],
        services: NamedDependency[Services],
        sku: Annotated[list[str], QueryParameter(name="sku", max_items=MAX_LIST)],
        at: Annotated[str, QueryParameter(max_length=64)],
    ) -> dict[str, Any]:
        """The ATP ``channel`` could promise of each SKU at ``at``, replayed from the
        inventory log (locations feeding it, stock, holds, buffers; a lapsed hold is free)."""
        check_code(channel, "channel")
        for code in sku:
            check_code(code, "sku")
        moment = parse_at(at)
        async with services.read_pool.connection() as conn:
            return await atp_at(conn, channel, sku, moment)

    @get("/channels/{channel:str}/prices", operation_id="getAuditPricesAt", opt=AUDITORS)
    async def prices_at(
        self,
        channel: FromPath[Code],
        services: NamedDependency[Services],
        sku: Annotated[list[str], QueryParameter(name="sku", max_items=MAX_LIST)],
        at: Annotated[str, QueryParameter(max_length=64)],
        currency: Annotated[str | None, QueryParameter(max_length=3)] = None,
    ) -> dict[str, Any]:
        """The prices ``channel`` showed at ``at`` (list price, promotions, MAP floor,
        effective price and why), replayed from the pricing log, in the live endpoint's shape."""
        check_code(channel, "channel")
        for code in sku:
            check_code(code, "sku")
        if currency is not None:
            check_currency(currency)
        moment = parse_at(at)
        async with services.read_pool.connection() as conn:
            return await prices_at(conn, channel, sku, moment, currency)

    @get("/orders/{order_id:uuid}/bundle", operation_id="getOrderBundle", opt=AUDITORS)
    async def order_bundle(
        self,
        order_id: FromPath[UUID],
        services: NamedDependency[Services],
        format: Annotated[str, QueryParameter(pattern="^(json|html)$")] = "json",
    ) -> Response[Any]:
        """The order's dispute bundle: its events, the prices, promotions and ATP when it was
        placed, its routing and holds, connector deliveries, and the hash chain to a signed
        checkpoint. ``format=html`` renders it for reading; the JSON verifies offline."""
        async with services.read_pool.connection() as conn:
            bundle = await order_bundle(conn, order_id, await public_key(conn), datetime.now(UTC))
        return _bundle_response(bundle, format)

    @get("/bookings/{booking_id:uuid}/bundle", operation_id="getBookingBundle", opt=AUDITORS)
    async def booking_bundle(
        self,
        booking_id: FromPath[UUID],
        services: NamedDependency[Services],
        format: Annotated[str, QueryParameter(pattern="^(json|html)$")] = "json",
    ) -> Response[Any]:
        """The booking's dispute bundle: its events, its capacity holds, its confirmation
        documents, the rate in force when held, and the proof to a signed checkpoint."""
        async with services.read_pool.connection() as conn:
            bundle = await booking_bundle(
                conn, booking_id, await public_key(conn), datetime.now(UTC)
            )
        return _bundle_response(bundle, format)


def _bundle_response(bundle: dict[str, Any], format: str) -> Response[Any]:
    if format == "html":
        return Response(render_html(bundle), media_type="text/html; charset=utf-8")
    return Response(
        bundle,
        media_type="application/json",
        headers={"Ledgerline-Bundle-Digest": bundle["digest"]},
    )
