"""End to end: a separate `ledgerline up` process, real HTTP clients racing for the last units."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from application.access import AccessApp
from infrastructure.eventstore import application_env
from infrastructure.servers import ServerUrls
from tests.conftest import bearer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def tokens(database: str) -> dict[str, str]:
    """Keys made before the process starts, straight into the access log."""
    access = AccessApp(application_env(database, pool_size=1))
    try:
        made = {}
        for role in ("admin", "channel:web"):
            issued = access.issue_key(role, [role], now=datetime.now(UTC))
            assert issued.token is not None
            made[role] = issued.token
        return made
    finally:
        access.close()


@pytest.fixture
def api_process(
    database: str, servers: ServerUrls, tmp_path: Path, tokens: dict[str, str]
) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": servers.nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
    }
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "up", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((tmp_path / "api.log").read_text())
        time.sleep(0.2)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_sixty_http_clients_racing_for_ten_units_are_told_exactly_ten_times_yes(
    api_process: str, tokens: dict[str, str]
) -> None:
    base = api_process
    admin = bearer(tokens["admin"])
    with httpx.Client(base_url=base, timeout=30, headers=admin) as http:
        # Given 10 units at the only location feeding the web channel
        assert http.put("/v1/locations/WH1", json={"name": "WH", "kind": "warehouse"}).is_success
        assert http.put(
            "/v1/channels/web", json={"name": "Web", "kind": "web_shop", "locations": ["WH1"]}
        ).is_success
        assert http.put("/v1/skus/HOT-1", json={"name": "Hot"}).is_success
        received = http.post("/v1/skus/HOT-1/receipts", json={"location": "WH1", "quantity": 10})
        assert received.status_code == 200

    # When 60 web-shop clients, each with its own connection, reserve one unit at once
    barrier = threading.Barrier(60)
    statuses: Counter[tuple[int, str]] = Counter()
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=base, timeout=60, headers=bearer(tokens["channel:web"])) as http:
            barrier.wait()
            answer = http.post(
                "/v1/skus/HOT-1/reservations",
                json={
                    "reservation_id": f"r{n}",
                    "location": "WH1",
                    "quantity": 1,
                    "reference": f"order-{n}",
                    "channel": "web",
                },
            )
        kind = answer.json().get("type", "") if answer.status_code != 201 else ""
        with lock:
            statuses[(answer.status_code, kind)] += 1

    with ThreadPoolExecutor(max_workers=60) as pool:
        for future in [pool.submit(client, n) for n in range(60)]:
            future.result()

    # Then exactly 10 clients heard 201, the other 50 an insufficient-stock problem
    assert statuses == Counter(
        {
            (201, ""): 10,
            (409, "urn:ledgerline:problem:insufficient-stock"): 50,
        }
    )
    # and the channel's availability, once the projection caught up, is 0
    with httpx.Client(base_url=base, timeout=10, headers=admin) as http:
        deadline = time.monotonic() + 20
        while True:
            picture = http.get("/v1/skus/HOT-1/stock").json()
            if picture["locations"][0]["reserved"] == 10 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert picture["locations"] == [
            {
                "location": "WH1",
                "on_hand": 10,
                "reserved": 10,
                "available": 0,
                "reorder_point": None,
                "reorder_quantity": None,
            }
        ]
        availability = http.get("/v1/channels/web/availability", params={"sku": "HOT-1"}).json()
        assert availability["items"][0]["available"] == 0
