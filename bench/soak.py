"""``python -m bench.soak [--minutes 10] [--rate 20]``: a steady load for a long time.

The production topology on embedded servers: ``ledgerline serve`` and each worker (relay,
projections, order saga, a webhook connector) as processes of their own. A client sends
commands over HTTP at a fixed rate (receipts, reservations, their releases and orders, so
stock stays level) and every ``--sample`` seconds the run records each process's memory
(RSS), the lag of every projection, of the relay and of the connector, and the errors and
latencies of that interval. It reports; it asserts nothing. Figures go to
``bench/results/soak.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from api.bootstrap import build_services
from application.commands import Request
from application.context import CommandContext
from bench.harness import RESULTS, machine, percentile, servers
from domain.network import ChannelKind, LocationKind
from domain.price_list import PriceChange
from infrastructure.servers import ServerUrls, free_port, temporary_database

WORKERS = (
    "relay",
    "projection:atp",
    "projection:pricing",
    "projection:orders",
    "process:order-saga",
    "connector:hooks",
)
CLIENTS = 8
SKUS = [f"SOAK-{n:02d}" for n in range(20)]
ADDRESS = {"name": "Soak", "line1": "Marienplatz 1", "city": "München", "country": "DE"}


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Interval:
    sent: int = 0
    errors: int = 0
    refused: int = 0  # 409: business refusals (out of stock), answers like any other
    error_statuses: dict[str, int] = field(default_factory=dict)  # "0": no answer
    latencies: list[float] = field(default_factory=list)


class Load:
    """Commands at a fixed rate on one client; each interval's counts, swapped out."""

    def __init__(self, url: str, token: str, rate: float) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self.rate = rate
        self.interval = Interval()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.holds: list[tuple[str, str]] = []

    def take(self) -> Interval:
        with self.lock:
            taken, self.interval = self.interval, Interval()
        return taken

    def run(self) -> None:
        # Commands start on schedule whatever the answers' latency (an open-loop load),
        # up to CLIENTS in flight at once.
        due = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                due += 1 / self.rate
                pool.submit(self._one, n)
                time.sleep(max(0.0, due - time.monotonic()))

    def _one(self, n: int) -> None:
        sku = SKUS[n % len(SKUS)]
        step = n % 4
        key = f"soak-{n}"
        with self.lock:
            # Release a hold made a while ago (its reservation has surely been answered).
            held = self.holds.pop(0) if step == 2 and len(self.holds) > CLIENTS else None
        if step == 0:
            path, body = f"/v1/skus/{sku}/receipts", {"location": "NORTH", "quantity": 1}
        elif step == 1:
            path = f"/v1/skus/{sku}/reservations"
            body = {"reservation_id": key, "location": "NORTH", "quantity": 1, "reference": key}
            with self.lock:
                self.holds.append((sku, key))
        elif held is not None:
            path, body = f"/v1/skus/{held[0]}/reservations/{held[1]}/release", {}
        else:
            path = "/v1/channels/web/orders"
            body = {
                "order_number": key,
                "lines": [
                    {"sku": sku, "quantity": 1, "unit_price": {"amount": "9.90", "currency": "EUR"}}
                ],
                "customer": {"name": "Soak", "email": "soak@example.com"},
                "ship_to": ADDRESS,
            }
        started = time.perf_counter()
        try:
            answer = self.client.post(path, json=body, headers={"Idempotency-Key": key})
            status = answer.status_code
        except httpx.HTTPError:
            status = 0
        elapsed = time.perf_counter() - started
        with self.lock:
            self.interval.sent += 1
            self.interval.latencies.append(elapsed)
            if status == 409:
                self.interval.refused += 1
            elif not 200 <= status < 300:
                self.interval.errors += 1
                counts = self.interval.error_statuses
                counts[str(status)] = counts.get(str(status), 0) + 1


def _set_up(database: str, nats_url: str) -> str:
    """A network, SKUs in stock and priced on the web channel; an admin key."""
    services = build_services(database, nats_url, pool_size=2)
    try:
        inv = services.inventory
        inv.put_location("NORTH", "North DC", LocationKind.WAREHOUSE)
        inv.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["NORTH"])
        now = datetime.now(UTC) - timedelta(seconds=1)
        for sku in SKUS:
            inv.register_sku(sku, sku)
            inv.receive(sku, "NORTH", 500)
        pricing = services.pricing
        pricing.put_price_list("web", "EUR", "web EUR", "reject", now)
        pricing.schedule_prices("web", "EUR", [PriceChange(s, Decimal("9.90")) for s in SKUS], now)
        pricing.set_list_status("web", "EUR", "active", now)
        issued = services.access.issue_key(
            "soak", ["admin"], now=now, request=Request(CommandContext(actor="soak"))
        )
        assert issued.token is not None
        return issued.token
    finally:
        services.close()


def _lags(database: str) -> dict[str, int]:
    with psycopg.connect(database, autocommit=True) as conn:

        def one(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        heads = {
            log: one(f"SELECT COALESCE(max(notification_id), 0) FROM {log}_events")  # noqa: S608
            for log in ("inventory", "pricing", "orders")
        }
        relayed: dict[str, int] = {
            str(log): int(position)
            for log, position in conn.execute("SELECT log, position FROM relay_positions")
        }
        positions = {
            "atp": one("SELECT COALESCE(max(position), 0) FROM atp.tracking"),
            "pricing": one("SELECT COALESCE(max(position), 0) FROM pricing.tracking"),
            "orders": one("SELECT COALESCE(max(position), 0) FROM orders.tracking"),
        }
        handled = one("SELECT count(*) FROM connector_handled WHERE connector = 'hooks'")
    return {
        "atp": heads["inventory"] - positions["atp"],
        "pricing": heads["pricing"] - positions["pricing"],
        "orders": heads["orders"] - positions["orders"],
        "relay": sum(heads[log] - relayed.get(log, 0) for log in heads),
        "connector": max(0, sum(heads.values()) - handled),
    }


def soak(urls: ServerUrls, minutes: float, rate: float, sample: float, out: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="ledgerline-soak-"))
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    (work / "connectors.toml").write_text(
        '[connectors.hooks]\nkind = "webhook"\n'
        f'url = "http://127.0.0.1:{sink.server_address[1]}/hooks"\nsecret = "soak"\n'
    )
    with temporary_database(urls.database_url, "soak") as database:
        token = _set_up(database, urls.nats_url)
        port = free_port()
        env = {
            **os.environ,
            "LEDGERLINE_DATABASE_URL": database,
            "LEDGERLINE_NATS_URL": urls.nats_url,
            "LEDGERLINE_DATA_DIR": str(work),
            "LEDGERLINE_PORT": str(port),
            "LEDGERLINE_CONNECTORS": str(work / "connectors.toml"),
            "LEDGERLINE_LOG_LEVEL": "warning",
            "LEDGERLINE_RATE_PER_SECOND": "100000",
            "LEDGERLINE_RATE_BURST": "100000",
        }
        parts: dict[str, subprocess.Popen[bytes]] = {}
        for part in ("api", *WORKERS):
            args = ["serve"] if part == "api" else ["worker", part]
            with (work / f"{part.replace(':', '-')}.log").open("ab") as log:
                parts[part] = subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "api.cli", *args], env=env, stdout=log, stderr=log
                )
        try:
            _await_api(f"http://127.0.0.1:{port}")
            load = Load(f"http://127.0.0.1:{port}", token, rate)
            sender = threading.Thread(target=load.run, daemon=True)
            samples: list[dict[str, Any]] = []
            started = last = time.monotonic()
            sender.start()
            while time.monotonic() - started < minutes * 60:
                time.sleep(sample)
                interval = load.take()
                now = time.monotonic()
                elapsed, last = now - last, now
                samples.append(
                    {
                        "t_s": round(now - started, 1),
                        "sent": interval.sent,
                        "rate_per_s": round(interval.sent / elapsed, 2),
                        "errors": interval.errors,
                        "error_statuses": interval.error_statuses,
                        "refused": interval.refused,
                        "p50_ms": round(percentile(interval.latencies, 50) * 1000, 2),
                        "p99_ms": round(percentile(interval.latencies, 99) * 1000, 2),
                        "rss_mb": {
                            part: round(_rss(process) / 2**20, 1) for part, process in parts.items()
                        },
                        "lag_events": _lags(database),
                    }
                )
                print(json.dumps(samples[-1]), flush=True)
            load.stop.set()
            sender.join(30)
        finally:
            for process in parts.values():
                process.send_signal(signal.SIGTERM)
            for process in parts.values():
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
            sink.shutdown()
    figures = _summary(samples, minutes, rate, sample)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def _rss(process: subprocess.Popen[bytes]) -> int:
    """The resident memory of a process and its children (``serve`` runs uvicorn in it)."""
    try:
        root = psutil.Process(process.pid)
        return int(sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]))
    except psutil.Error:
        return 0


def _await_api(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the API did not come up")


def _summary(
    samples: list[dict[str, Any]], minutes: float, rate: float, sample: float
) -> dict[str, Any]:
    """First minute after warm-up against the last minute: memory, lag, errors."""
    per_minute = max(1, round(60 / sample))
    early = samples[per_minute : 2 * per_minute] or samples[:per_minute]
    late = samples[-per_minute:]

    def mean_rss(window: list[dict[str, Any]], part: str) -> float:
        return round(statistics.fmean(s["rss_mb"][part] for s in window), 1)

    parts = list(samples[0]["rss_mb"]) if samples else []
    lags = {
        name: [s["lag_events"][name] for s in samples]
        for name in (samples[0]["lag_events"] if samples else {})
    }
    return {
        "command": (
            f"python -m bench.soak --minutes {minutes:g} --rate {rate:g} --sample {sample:g}"
        ),
        "machine": machine(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": minutes,
        "target_rate_per_s": rate,
        "commands_sent": sum(s["sent"] for s in samples),
        "achieved_rate_per_s": round(sum(s["sent"] for s in samples) / samples[-1]["t_s"], 2)
        if samples
        else 0.0,
        "errors_total": sum(s["errors"] for s in samples),
        "errors_first_minute": sum(s["errors"] for s in samples[:per_minute]),
        "errors_last_minute": sum(s["errors"] for s in late),
        "refused_total": sum(s["refused"] for s in samples),
        "latency_p99_ms_first_vs_last_minute": [
            max((s["p99_ms"] for s in early), default=0.0),
            max((s["p99_ms"] for s in late), default=0.0),
        ],
        "rss_mb_second_vs_last_minute": {
            part: [mean_rss(early, part), mean_rss(late, part)] for part in parts
        },
        "lag_events_max": {name: max(values) for name, values in lags.items()},
        "lag_events_p99": {
            name: percentile([float(v) for v in values], 99) for name, values in lags.items()
        },
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="commands per second")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)
    with servers() as urls:
        figures = soak(urls, args.minutes, args.rate, args.sample, args.out)
    summary = {k: v for k, v in figures.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
