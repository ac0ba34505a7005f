"""The API as an ASGI app factory, for ``ledgerline serve --workers N`` (uvicorn workers).

Every worker process builds its own services from the environment: API processes hold no
state of their own (idempotency answers, rate limits per process, read models and events all
live in PostgreSQL), so any number of them can run behind a load balancer.
"""

from __future__ import annotations

from datetime import timedelta

from litestar import Litestar

from api.app import create_app
from api.bootstrap import build_services
from api.server import body_timeout_from_env
from api.services import Services
from application.orders import OrderSettings
from infrastructure.log import configure_logging
from infrastructure.settings import Settings, get_settings


def services_from(
    database_url: str, nats_url: str, settings: Settings, pool_size: int | None = None
) -> Services:
    """The services wired as the settings say (the CLI, the workers and the app factory)."""
    return build_services(
        database_url,
        nats_url,
        pool_size=pool_size or settings.pool_size,
        rate_per_second=settings.rate_per_second,
        burst=settings.rate_burst,
        order_settings=OrderSettings(
            price_tolerance_percent=settings.price_tolerance_percent,
            payment_window=timedelta(seconds=settings.payment_window_seconds),
            location_priority=settings.location_priority,
        ),
    )


def create() -> Litestar:
    """The app of one API worker process; its servers come from the environment."""
    settings = get_settings()
    # A worker process of its own: it does not pass through the CLI's main().
    configure_logging(settings.log_level)
    if settings.database_url is None or settings.nats_url is None:
        raise RuntimeError(
            "api.asgi:create needs LEDGERLINE_DATABASE_URL and LEDGERLINE_NATS_URL "
            "(ledgerline serve sets them for its workers)"
        )
    services = services_from(settings.database_url, settings.nats_url, settings)
    return create_app(
        services, max_body_bytes=settings.max_body_bytes, body_timeout=body_timeout_from_env()
    )
