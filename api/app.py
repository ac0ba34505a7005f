"""The Litestar application: one factory, one place where routes and handlers are registered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from api.auth import admits, authorize
from api.body_guard import body_guard_middleware
from api.console import TEMPLATES, console_router
from api.console.kpi_metrics import bind_kpi_metrics
from api.middleware import request_id_middleware
from api.openapi_document import render_plugins
from api.problems import EXCEPTION_HANDLERS
from api.routes.audit import AuditController
from api.routes.availability import AvailabilityController
from api.routes.bookings import (
    BookingController,
    BookingPlacementController,
    BookingReadController,
    ResourceController,
)
from api.routes.customers import CustomerController
from api.routes.health import live, ready
from api.routes.keys import KeyController
from api.routes.network import ChannelController, LocationController
from api.routes.orders import OrderController, OrderPlacementController, OrderReadController
from api.routes.pricing import (
    ChannelPricesController,
    FloorController,
    PriceListController,
    PricingRuleController,
    PromotionController,
)
from api.routes.simulation import SimulationController
from api.routes.stock import SkuController
from api.services import Services
from infrastructure.messaging import connect

log = structlog.get_logger(__name__)

ROUTES: list[Any] = [
    CustomerController,
    LocationController,
    ChannelController,
    SkuController,
    KeyController,
    AvailabilityController,
    PriceListController,
    ChannelPricesController,
    FloorController,
    PromotionController,
    PricingRuleController,
    SimulationController,
    OrderPlacementController,
    OrderController,
    OrderReadController,
    ResourceController,
    BookingPlacementController,
    BookingController,
    BookingReadController,
    AuditController,
    live,
    ready,
]


# Labelled by route template, not by the path sent: every odd path a client invents would
# otherwise become a new series held in memory forever.
PROMETHEUS = PrometheusConfig(app_name="ledgerline", group_path=True)


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = admits("admin", "operator", "auditor", "connector")


def create_app(
    services: Services, *, max_body_bytes: int = 64 * 1024, body_timeout: float = 30.0
) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await services.read_pool.open()
        bind_kpi_metrics(services.follower.conninfo)
        try:
            services.nats = await connect(
                services.nats_url, "ledgerline-api", max_reconnect_attempts=-1, connect_timeout=5
            )
        except Exception as error:  # readiness reports it; the API still serves reads
            log.warning("nats.unavailable", error=str(error))
        try:
            yield
        finally:
            if services.nats is not None:
                await services.nats.close()
            await services.read_pool.close()

    async def provide_services() -> Services:
        return services

    return Litestar(
        route_handlers=[*ROUTES, MetricsController, console_router()],
        template_config=TEMPLATES,
        dependencies={"services": Provide(provide_services, use_cache=True)},
        guards=[authorize],
        state=State({"services": services}),
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            request_id_middleware,
            DefineMiddleware(body_guard_middleware, timeout=body_timeout),
            PROMETHEUS.middleware,
        ],
        lifespan=[lifespan],
        request_max_body_size=max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Ledgerline", version="0.1.0", path="/schema", render_plugins=render_plugins()
        ),
        debug=False,
    )
