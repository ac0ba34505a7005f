"""Locations and channels: the operator's map of where stock is and who may sell it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.auth import admits
from api.routes.commanding import execute
from api.schemas import ChannelPut, Code, LocationPut
from api.services import Services
from application.commands import Request as CommandRequest


class LocationController(Controller):
    path = "/v1/locations"
    tags = ["network"]  # noqa: RUF012

    @put("/{code:str}", operation_id="putLocation", opt=admits("admin", "operator"))
    async def put_location(
        self,
        request: Request[Any, Any, Any],
        code: Code,
        data: JSONBody[LocationPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Register a location (warehouse, store, 3PL) or change its name, kind or coordinates."""

        def command(body: LocationPut, req: CommandRequest) -> Any:
            return services.inventory.put_location(
                code, body.name, body.kind, body.latitude, body.longitude, request=req
            )

        return await execute(request, "put_location", LocationPut, command)

    @get("/", operation_id="listLocations", opt=admits("admin", "operator", "auditor"))
    async def list_locations(self, services: NamedDependency[Services]) -> list[dict[str, Any]]:
        """Every location, by code."""
        async with services.read_pool.connection() as conn:
            return await services.queries.locations(conn)


class ChannelController(Controller):
    path = "/v1/channels"
    tags = ["network"]  # noqa: RUF012

    @put("/{code:str}", operation_id="putChannel", opt=admits("admin", "operator"))
    async def put_channel(
        self,
        request: Request[Any, Any, Any],
        code: Code,
        data: JSONBody[ChannelPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Register a sales channel or change its name, kind and the locations that feed it."""

        def command(body: ChannelPut, req: CommandRequest) -> Any:
            return services.inventory.put_channel(
                code, body.name, body.kind, list(body.locations), request=req
            )

        return await execute(request, "put_channel", ChannelPut, command)

    @get("/", operation_id="listChannels", opt=admits("admin", "operator", "auditor"))
    async def list_channels(self, services: NamedDependency[Services]) -> list[dict[str, Any]]:
        """Every channel with the locations that feed it."""
        async with services.read_pool.connection() as conn:
            return await services.queries.channels(conn)
