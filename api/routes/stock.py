"""Stock commands on one SKU, and its stock picture (per location and per channel)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.auth import admits
from api.routes.commanding import acting_channel, execute
from api.schemas import (
    Adjustment,
    Code,
    Commitment,
    Receipt,
    ReorderPolicyPut,
    ReservationCreate,
    SafetyBufferPut,
    SkuPut,
    Transfer,
)
from api.services import Services
from application.commands import Request as CommandRequest
from domain.errors import UnknownSku
from domain.identity import check_code


class SkuController(Controller):
    path = "/v1/skus/{sku:str}"
    tags = ["stock"]  # noqa: RUF012

    @put("/", operation_id="putSku", opt=admits("admin", "operator"))
    async def put_sku(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        data: JSONBody[SkuPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Register a SKU (optionally with a GS1 GTIN, check digit verified) or re-describe it."""

        def command(body: SkuPut, req: CommandRequest) -> Any:
            return services.inventory.register_sku(sku, body.name, body.gtin, request=req)

        return await execute(request, "register_sku", SkuPut, command)

    @get("/stock", operation_id="getStock", opt=admits("admin", "operator", "auditor"))
    async def stock(self, sku: Code, services: NamedDependency[Services]) -> dict[str, Any]:
        """On hand, reserved and available per location, and ATP per channel (read model)."""
        check_code(sku, "sku")  # path parameters are not checked against their pattern
        async with services.read_pool.connection() as conn:
            picture = await services.queries.stock_picture(conn, sku)
        if picture is None:
            raise UnknownSku(f"no SKU {sku!r}", sku=sku)
        return picture

    @post(
        "/receipts", operation_id="receiveStock", opt=admits("admin", "operator"), status_code=200
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        data: JSONBody[Receipt],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Goods arrived at a location."""

        def command(body: Receipt, req: CommandRequest) -> Any:
            return services.inventory.receive(sku, body.location, body.quantity, request=req)

        return await execute(request, "receive", Receipt, command)

    @post(
        "/adjustments", operation_id="adjustStock", opt=admits("admin", "operator"), status_code=200
    )
    async def adjust(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        data: JSONBody[Adjustment],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Correct on hand: cycle_count sets the counted figure; damage, shrinkage and
        correction are signed deltas (damage and shrinkage negative)."""

        def command(body: Adjustment, req: CommandRequest) -> Any:
            return services.inventory.adjust(
                sku, body.location, body.reason, body.quantity, request=req
            )

        return await execute(request, "adjust", Adjustment, command)

    @post(
        "/transfers", operation_id="transferStock", opt=admits("admin", "operator"), status_code=200
    )
    async def transfer(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        data: JSONBody[Transfer],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Move unreserved units between two locations."""

        def command(body: Transfer, req: CommandRequest) -> Any:
            return services.inventory.transfer(
                sku, body.from_location, body.to_location, body.quantity, request=req
            )

        return await execute(request, "transfer", Transfer, command)

    @post(
        "/reservations",
        operation_id="reserveStock",
        opt=admits("admin", "operator", "channel"),
        status_code=201,
    )
    async def reserve(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        data: JSONBody[ReservationCreate],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Hold units at a location for an order or booking; with a channel, within its ATP."""

        channel = acting_channel(request, data.channel)

        def command(body: ReservationCreate, req: CommandRequest) -> Any:
            return services.inventory.reserve(
                sku,
                body.reservation_id,
                body.location,
                body.quantity,
                reference=body.reference,
                now=datetime.now(UTC),
                channel=channel,
                expires_at=body.expires_at,
                request=req,
            )

        return await execute(request, "reserve", ReservationCreate, command, status=201)

    @post(
        "/reservations/{reservation_id:str}/release",
        operation_id="releaseReservation",
        opt=admits("admin", "operator", "channel"),
        status_code=200,
    )
    async def release(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        reservation_id: Code,
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Give a reservation's units back to available stock."""

        def command(_: None, req: CommandRequest) -> Any:
            return services.inventory.release(
                sku, reservation_id, acting_channel(request, None), request=req
            )

        return await execute(request, "release", None, command)

    @post(
        "/reservations/{reservation_id:str}/commit",
        operation_id="commitReservation",
        opt=admits("admin", "operator", "channel"),
        status_code=200,
    )
    async def commit(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        reservation_id: Code,
        data: JSONBody[Commitment],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Units shipped: on hand and the reservation fall together (all, or ``quantity``)."""

        def command(body: Commitment, req: CommandRequest) -> Any:
            return services.inventory.commit(
                sku,
                reservation_id,
                body.quantity,
                acting_channel(request, None),
                now=datetime.now(UTC),  # a lapsed hold may back someone else's by now
                request=req,
            )

        return await execute(request, "commit", Commitment, command)

    @put(
        "/safety-buffers/{channel:str}",
        operation_id="putSafetyBuffer",
        opt=admits("admin", "operator"),
    )
    async def safety_buffer(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        channel: Code,
        data: JSONBody[SafetyBufferPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Hold back units from what a channel may promise of this SKU."""

        def command(body: SafetyBufferPut, req: CommandRequest) -> Any:
            return services.inventory.set_safety_buffer(sku, channel, body.quantity, request=req)

        return await execute(request, "set_safety_buffer", SafetyBufferPut, command)

    @put(
        "/reorder-policies/{location:str}",
        operation_id="putReorderPolicy",
        opt=admits("admin", "operator"),
    )
    async def reorder_policy(
        self,
        request: Request[Any, Any, Any],
        sku: Code,
        location: Code,
        data: JSONBody[ReorderPolicyPut],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Set the reorder point and quantity of this SKU at a location."""

        def command(body: ReorderPolicyPut, req: CommandRequest) -> Any:
            return services.inventory.set_reorder_policy(
                sku, location, body.reorder_point, body.reorder_quantity, request=req
            )

        return await execute(request, "set_reorder_policy", ReorderPolicyPut, command)
