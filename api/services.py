"""What the HTTP layer needs from the rest of the system, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.ratelimit import RateLimiter
from application.access import AccessApp
from application.inventory import InventoryApp
from projections.atp_queries import AtpQueries
from projections.follower import Follower


@dataclass
class Services:
    inventory: InventoryApp
    access: AccessApp
    rate_limiter: RateLimiter
    read_pool: AsyncConnectionPool[Any]
    queries: AtpQueries
    follower: Follower
    nats_url: str
    nats: Any = None  # a connected nats.aio.client.Client, set by the app's lifespan
