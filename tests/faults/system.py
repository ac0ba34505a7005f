"""One Ledgerline deployment for the whole fault suite, each part a process of its own.

PostgreSQL and nats-server are this suite's own (they get restarted); the API
(``serve``), the relay, three projections, the order saga and a webhook connector run as
``ledgerline`` child processes, exactly as in production, so each can be SIGKILLed.
A small HTTP receiver stands in for the webhook's downstream.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.services import Services
from infrastructure.servers import EmbeddedNats, EmbeddedPostgres, ensure_database, free_port
from tests.faults.support import ledgerline, lock_holder, wait_until

WORKERS = (
    "relay",
    "projection:atp",
    "projection:pricing",
    "projection:orders",
    "process:order-saga",
    "connector:hooks",
)


class Receiver:
    """The webhook's downstream: counts every delivery by event id."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.deliveries[json.loads(body)["id"]] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def distinct(self) -> set[str]:
        with self.lock:
            return set(self.deliveries)

    def total(self) -> int:
        with self.lock:
            return sum(self.deliveries.values())

    def close(self) -> None:
        self.server.shutdown()


class System:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.postgres = EmbeddedPostgres(root / "pg")
        # Seven processes with connection pools of their own, plus the test's.
        with psycopg.connect(self.postgres.url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET max_connections = 300")
        self.postgres.halt()
        self.postgres.resume()
        self.database = ensure_database(self.postgres.url, "ledgerline")
        (root / "nats").mkdir(exist_ok=True)
        self.nats = EmbeddedNats(root / "nats")
        self.receiver = Receiver()
        (root / "connectors.toml").write_text(
            "[connectors.hooks]\n"
            'kind = "webhook"\n'
            f'url = "{self.receiver.url}"\n'
            'secret = "fault-suite"\n'
            "backoff = [0.2, 0.5, 1.0]\n"
            "ack_wait = 5\n"
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "LEDGERLINE_DATABASE_URL": self.database,
            "LEDGERLINE_NATS_URL": self.nats.url,
            "LEDGERLINE_DATA_DIR": str(root),
            "LEDGERLINE_PORT": str(self.port),
            "LEDGERLINE_CONNECTORS": str(root / "connectors.toml"),
            "LEDGERLINE_RATE_PER_SECOND": "100000",
            "LEDGERLINE_RATE_BURST": "100000",
            "LEDGERLINE_POOL_SIZE": "4",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, part: str) -> Path:
        return self.root / f"{part.replace(':', '-')}.log"

    def start(self, part: str, *, wait: bool = True) -> None:
        args = ["serve", "--workers", "1"] if part == "api" else ["worker", part]
        self.processes[part] = ledgerline(args, self.env, self.log(part))
        if wait:
            self.wait_running(part)

    def wait_running(self, part: str) -> None:
        """Until the API answers, or the worker holds its lock (it is doing its work)."""
        if part == "api":
            wait_until(self.api_live, "the API to answer", 120)
        else:
            pid = self.processes[part].pid
            wait_until(lambda: lock_holder(self.database, part) == pid, f"{part} to lead", 120)

    def start_all(self) -> None:
        # Started together (each process takes seconds to import), then awaited.
        parts = ("api", *WORKERS)
        for part in parts:
            self.start(part, wait=False)
        for part in parts:
            self.wait_running(part)

    def kill(self, part: str) -> None:
        process = self.processes.pop(part)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def restart(self, part: str) -> None:
        self.kill(part)
        self.start(part)

    def api_live(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        # Graceful shutdown is not under test here: end every part at once.
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        self.receiver.close()
        self.nats.close()
        self.postgres.stop()


def heads(database: str) -> dict[str, list[int]]:
    """Every stored notification id of each relayed log, in order."""
    found: dict[str, list[int]] = {}
    with psycopg.connect(database, autocommit=True) as conn:
        for log in ("inventory", "pricing", "orders"):
            rows = conn.execute(
                f"SELECT notification_id FROM {log}_events ORDER BY notification_id"
            ).fetchall()
            found[log] = [int(row[0]) for row in rows]
    return found


def settled(services: Services, database: str) -> bool:
    """Every relayed log published, every projection and the saga at its log's head."""
    logs = heads(database)
    with psycopg.connect(database, autocommit=True) as conn:
        relayed = dict(conn.execute("SELECT log, position FROM relay_positions").fetchall())
        for log, ids in logs.items():
            if ids and relayed.get(log, 0) < ids[-1]:
                return False
        for follower in (services.follower, services.price_follower, services.order_follower):
            if follower.projection.position(conn) < follower.head():
                return False
    return all(
        process.position >= (process.upstream.recorder.max_notification_id() or 0)
        for process in services.saga.processes()
    )


def wait_settled(services: Services, database: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if settled(services, database):
                return
        except psycopg.OperationalError:
            pass  # the database is coming back
        if time.monotonic() > deadline:
            raise AssertionError("the system did not settle")
        time.sleep(0.1)
