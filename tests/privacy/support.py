"""An order and a booking with a customer's personal data, and a search of every place the
data could be left behind: every PostgreSQL table, and what the relay publishes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import psycopg
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.sql import SQL, Identifier

from api.services import Services
from infrastructure.eventstore import events_table
from infrastructure.log_reader import LOGS, LogReader
from infrastructure.servers import ServerUrls
from tests.api.test_orders_api import ADDRESS, order
from tests.conftest import settle
from tests.connectors.support import relaying, wait_for
from tests.orders.support import merchant

NAME = "Erika Mustermann"
EMAIL = "erika@example.com"
STREET = "Marienplatz 1"
PERSONAL = (NAME, EMAIL, STREET, "München")
CUSTOMER = {"customer_id": "C-1", "name": NAME, "email": EMAIL}


def placed_order(client: TestClient[Litestar], services: Services, number: str = "W-1") -> Any:
    """Given customer C-1's order on web, shipped to their address, placed with an
    idempotency key (so an answer holding their data is kept for retries)."""
    merchant(services, {"TEE": {"SOUTH": 5, "NORTH": 1}})
    placed = client.post(
        "/v1/channels/web/orders",
        json=order(number, 2, customer=CUSTOMER, ship_to=ADDRESS),
        headers={"Idempotency-Key": f"place-{number}"},
    )
    assert placed.status_code == 201, placed.text
    settle(services)
    return placed.json()


def leftovers(database: str, needles: tuple[str, ...] = PERSONAL) -> dict[str, list[str]]:
    """{needle: ["schema.table", ...]} for every table holding it, as text or as bytes."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(database, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(
                SQL("SELECT t::text FROM {} t").format(Identifier(schema, table))
            ).fetchall()
            # bytea renders as hex: look for each needle's UTF-8 bytes in hex, too.
            text = "\n".join(row[0] for row in rows)
            for needle in needles:
                if needle in text or needle.encode().hex() in text:
                    found.setdefault(needle, []).append(f"{schema}.{table}")
    return found


def table_count(database: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def _relay_all(database: str, nats_url: str) -> list[bytes]:
    """Run the relay over the whole store; every message it publishes, as sent."""
    client = await nats.connect(nats_url)
    received: list[bytes] = []

    async def keep(msg: Any) -> None:
        received.append(msg.data)

    await client.subscribe("ledgerline.events.>", cb=keep)
    try:
        async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
            total = 0
            for log in LOGS:  # a count: positions may skip a number (a rolled back insert)
                if await LogReader(log).exists(conn):
                    cur = await conn.execute(
                        SQL("SELECT count(*) FROM {}").format(Identifier(events_table(log)))
                    )
                    row = await cur.fetchone()
                    total += int(row[0]) if row else 0
        async with relaying(database, nats_url):
            await wait_for(
                lambda: len(received) >= total, f"the relay to publish all {total} events"
            )
    finally:
        await client.drain()
    return received


def relay_everything(database: str, nats_url: str) -> list[dict[str, Any]]:
    return [json.loads(data) for data in asyncio.run(_relay_all(database, nats_url))]


def audit_verify(
    database: str, servers: ServerUrls, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": servers.nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
        "LEDGERLINE_LOG_LEVEL": "warning",
    }
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
