"""The one place that wires the layers together (used by the CLI and by the tests)."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.ratelimit import RateLimiter
from api.services import Services
from application.access import AccessApp
from application.inventory import InventoryApp
from infrastructure.eventstore import application_env, events_table
from projections.atp import AtpProjection
from projections.atp_queries import AtpQueries
from projections.follower import Follower


def build_services(
    database_url: str,
    nats_url: str,
    *,
    pool_size: int = 8,
    rate_per_second: float = 200.0,
    burst: int = 400,
) -> Services:
    inventory = InventoryApp(application_env(database_url, pool_size=pool_size))
    access = AccessApp(application_env(database_url, pool_size=2))
    follower = Follower(database_url, events_table(InventoryApp.name), AtpProjection("atp"))
    follower.setup()
    read_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=pool_size,
        open=False,
        kwargs={"autocommit": True},
    )
    return Services(
        inventory=inventory,
        access=access,
        rate_limiter=RateLimiter(rate_per_second, burst),
        read_pool=read_pool,
        queries=AtpQueries("atp"),
        follower=follower,
        nats_url=nats_url,
    )
