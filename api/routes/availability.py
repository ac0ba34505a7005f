"""What a channel may promise: its ATP for a list of SKUs, and what changed since a cursor."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from api.auth import admits
from api.schemas import MAX_LIST, Code
from api.services import Services
from domain.errors import UnknownChannel
from domain.identity import check_code
from projections.atp_queries import Cursor

MAX_PAGE = 1000


class AvailabilityController(Controller):
    path = "/v1/channels/{channel:str}/availability"
    tags = ["availability"]  # noqa: RUF012

    @get(
        "/",
        operation_id="getAvailability",
        opt=admits("admin", "operator", "auditor", "channel", "connector"),
    )
    async def availability(
        self,
        channel: Code,
        services: NamedDependency[Services],
        sku: Annotated[
            list[str],
            QueryParameter(name="sku", max_items=MAX_LIST, description="SKU codes, repeated"),
        ],
    ) -> dict[str, Any]:
        """Available-to-promise of each SKU for this channel (unknown SKUs are listed apart)."""
        check_code(channel, "channel")  # path parameters are not checked against their pattern
        for code in sku:
            check_code(code, "sku")
        async with services.read_pool.connection() as conn:
            exists, position, items = await services.queries.channel_availability(
                conn, channel, sorted(set(sku))
            )
        if not exists:
            raise UnknownChannel(f"no channel {channel!r}", channel=channel)
        known = {item["sku"] for item in items}
        return {
            "channel": channel,
            "items": items,
            "unknown_skus": sorted(set(sku) - known),
            "position": position,
        }

    @get(
        "/changes",
        operation_id="getAvailabilityChanges",
        opt=admits("admin", "operator", "auditor", "channel", "connector"),
    )
    async def changes(
        self,
        channel: Code,
        services: NamedDependency[Services],
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """ATP figures that changed since ``cursor`` (omit it to start from the beginning).

        Pass the returned ``next_cursor`` to continue; an empty ``items`` means up to date.
        """
        check_code(channel, "channel")
        after = Cursor.decode(cursor) if cursor is not None else None
        async with services.read_pool.connection() as conn:
            if not await services.queries.channel_exists(conn, channel):
                raise UnknownChannel(f"no channel {channel!r}", channel=channel)
            items, resume = await services.queries.changes(conn, channel, after, limit)
        return {
            "channel": channel,
            "items": items,
            "next_cursor": resume.encode() if resume else None,
        }
