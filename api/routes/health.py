"""Liveness and readiness: is the process up; can it reach PostgreSQL and NATS, and keep up."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from psycopg.sql import SQL, Identifier

from api.auth import PUBLIC
from api.services import Services
from infrastructure.metrics import PROJECTION_LAG, PROJECTION_POSITION

MAX_READY_LAG = 10_000


@get("/health/live", operation_id="live", tags=["health"], opt=PUBLIC)
async def live() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@get("/health/ready", operation_id="ready", tags=["health"], opt=PUBLIC)
async def ready(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    """PostgreSQL and NATS reachable, and the ATP projection no more than a bounded lag behind."""
    checks: dict[str, Any] = {}
    ok = True
    try:
        async with asyncio.timeout(2):
            async with services.read_pool.connection() as conn:
                position = await services.queries.position(conn)
                cur = await conn.execute(
                    SQL("SELECT COALESCE(MAX(notification_id), 0) FROM {}").format(
                        Identifier(services.follower.events_table)
                    )
                )
                row = await cur.fetchone()
        head = int(row[0]) if row else 0
        lag = head - position
        PROJECTION_POSITION.labels("atp").set(position)
        PROJECTION_LAG.labels("atp").set(lag)
        checks["postgres"] = "ok"
        checks["projection_atp"] = {"position": position, "head": head, "lag": lag}
        if lag > MAX_READY_LAG:
            ok = False
    except Exception as error:  # any failure means not ready; say which
        checks["postgres"] = f"error: {type(error).__name__}"
        ok = False
    nats = services.nats
    if nats is not None and nats.is_connected:
        checks["nats"] = "ok"
    else:
        checks["nats"] = "not connected"
        ok = False
    return Response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
