"""The read baseline: a bare Litestar route running the same SELECT as the availability API.

``python -m bench.bare_app PORT DATABASE_URL``
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from litestar import Litestar, get
from psycopg_pool import AsyncConnectionPool

SELECT = (
    "SELECT sku, atp, log_position FROM atp.availability "
    "WHERE channel = %s AND sku = ANY(%s) ORDER BY sku"
)


def create(database_url: str) -> Litestar:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url, min_size=1, max_size=8, open=False, kwargs={"autocommit": True}
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    @get("/bare/{channel:str}")
    async def bare(channel: str, sku: list[str]) -> list[dict[str, Any]]:
        async with pool.connection() as conn:
            cur = await conn.execute(SELECT, (channel, sku))
            return [{"sku": s, "available": a, "position": p} for s, a, p in await cur.fetchall()]

    return Litestar([bare], lifespan=[lifespan])


if __name__ == "__main__":
    uvicorn.run(
        create(sys.argv[2]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
    )
