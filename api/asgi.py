"""The API as an ASGI app factory, for ``ledgerline serve --workers N`` (uvicorn workers).

Every worker process builds its own services from the environment: API processes hold no
state of their own (idempotency answers, rate limits per process, read models and events all
live in PostgreSQL), so any number of them can run behind a load balancer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import psycopg
import structlog
from eventsourcing.persistence import PersistenceError
from litestar import Litestar

from api.app import create_app
from api.bootstrap import build_services
from api.server import body_timeout_from_env
from api.services import Services
from application.orders import OrderSettings
from infrastructure.log import configure_logging
from infrastructure.settings import Settings, get_settings

T = TypeVar("T")
SETUP_ATTEMPTS = 8
log = structlog.get_logger("ledgerline.setup")


def with_setup_retries(build: Callable[[], T], what: str) -> T:
    """``build()``, tried again while the database refuses it for a passing reason.

    Processes started together race on the schema's CREATE ... IF NOT EXISTS statements
    ("tuple concurrently updated"), and the database may still be starting.
    """
    for attempt in range(1, SETUP_ATTEMPTS + 1):
        try:
            return build()
        except (PersistenceError, psycopg.Error) as error:
            if attempt == SETUP_ATTEMPTS:
                raise
            log.warning("setup.retry", part=what, error=str(error), attempt=attempt)
            time.sleep(min(0.1 * 2**attempt, 5.0))
    raise AssertionError("unreachable")


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
    database_url, nats_url = settings.database_url, settings.nats_url
    services = with_setup_retries(lambda: services_from(database_url, nats_url, settings), "api")
    return create_app(
        services, max_body_bytes=settings.max_body_bytes, body_timeout=body_timeout_from_env()
    )
