"""``ledgerline serve --workers 2``: two stateless API processes answering on one port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import psycopg

from api.services import Services
from domain.network import LocationKind
from infrastructure.servers import ServerUrls, free_port
from tests.conftest import bearer, issue_key
from tests.faults.support import wait_until


def test_serve_runs_n_api_processes_that_share_the_store(
    services: Services, database: str, servers: ServerUrls, tmp_path: Path
) -> None:
    # Given an admin key, and the API served by two worker processes
    token = issue_key(services, "admin")
    services.inventory.put_location("WH", "Warehouse", LocationKind.WAREHOUSE)
    port = free_port()
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": servers.nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
        "LEDGERLINE_PORT": str(port),
        "LEDGERLINE_POOL_SIZE": "2",
    }
    with (tmp_path / "serve.log").open("ab") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def live() -> bool:
            try:
                return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(live, "the API to answer", 180)
        workers = [
            child
            for child in psutil.Process(serve.pid).children()
            if "spawn_main" in " ".join(child.cmdline())
            and "tracker_fd" in " ".join(child.cmdline())
        ]
        # When a SKU is written through one request and read through others
        with httpx.Client(base_url=url, headers=bearer(token), timeout=10) as client:
            put = client.put("/v1/skus/SERVED-1", json={"name": "served"})
            receipts = [
                client.post(
                    "/v1/skus/SERVED-1/receipts",
                    json={"location": "WH", "quantity": 1},
                    headers={"Idempotency-Key": f"served-{n}"},
                ).status_code
                for n in range(4)
            ]
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)

    # Then two API processes served, and every write reached the one store
    assert len(workers) == 2
    assert put.status_code in (200, 201), put.text
    assert receipts == [200] * 4
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM inventory_events WHERE topic LIKE '%StockReceived'"
        ).fetchone()
    assert row == (4,)
