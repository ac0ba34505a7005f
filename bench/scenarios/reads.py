"""Reads: the availability API under load, and how soon a write shows in the read model."""

from __future__ import annotations

import bisect
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import psycopg

from application.access import AccessApp
from application.inventory import InventoryApp
from bench.harness import Result, fresh_database, summary_ms
from bench.pacing import paced_receives
from domain.network import ChannelKind, LocationKind
from infrastructure.eventstore import application_env, events_table
from infrastructure.servers import ServerUrls, free_port
from projections.atp import AtpProjection
from projections.follower import Follower

ROOT = Path(__file__).resolve().parents[2]
SKUS = 200
WRITERS = 4  # writer threads for the rate-driven scenario (one alone cannot reach 1,000/s)


def _load_network(app: InventoryApp, skus: int = SKUS) -> None:
    for code in ("WH1", "WH2", "ST1"):
        app.put_location(code, code, LocationKind.WAREHOUSE)
    for code in ("web", "market", "pos", "phone"):
        app.put_channel(
            code, code, ChannelKind.WEB_SHOP, ["WH1", "WH2"] if code != "pos" else ["ST1"]
        )
    for n in range(skus):
        app.register_sku(f"SKU-{n}", "bench")
        app.receive(f"SKU-{n}", "WH1", 10 + n)


@contextmanager
def _process(args: list[str], port: int, env: dict[str, str]) -> Iterator[psutil.Process]:
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args} did not start") from None
                time.sleep(0.1)
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=20)


def _load(
    port: int,
    path: str,
    concurrency: int,
    seconds: float,
    token: str | None,
    watched: psutil.Process,
) -> tuple[dict[str, float], int]:
    peak = [watched.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], watched.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        output = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                "127.0.0.1",
                str(port),
                path,
                str(concurrency),
                str(seconds),
                *([token] if token else []),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    finally:
        done.set()
        sampler.join()
    return json.loads(output.stdout), peak[0]


def read_api(urls: ServerUrls, quick: bool) -> Result:
    concurrency, seconds = 64, (2.0 if quick else 20.0)
    warmup = 0.0 if quick else 1.0  # the quick run's figures only show it works
    skus = "&".join(f"sku=SKU-{n}" for n in range(0, 20))
    with fresh_database(urls) as db:
        app = InventoryApp(application_env(db, pool_size=2))
        access = AccessApp(application_env(db, pool_size=1))
        try:
            _load_network(app, 40 if quick else SKUS)  # a request asks for 20 of them
            issued = access.issue_key("bench", ["channel:web"], now=datetime.now(UTC))
        finally:
            app.close()
            access.close()
        assert issued.token is not None
        port = free_port()
        env = {
            "LEDGERLINE_DATABASE_URL": db,
            "LEDGERLINE_NATS_URL": urls.nats_url,
            "LEDGERLINE_RATE_PER_SECOND": "1000000000",
            "LEDGERLINE_RATE_BURST": "1000000000",
        }
        with _process(["-m", "api.cli", "up", "--port", str(port)], port, env) as api:
            # Warm up, then measure.
            if warmup:
                _load(port, f"/v1/channels/web/availability?{skus}", 8, warmup, issued.token, api)
            ours, ours_rss = _load(
                port,
                f"/v1/channels/web/availability?{skus}",
                concurrency,
                seconds,
                issued.token,
                api,
            )
        bare_port = free_port()
        with _process(["-m", "bench.bare_app", str(bare_port), db], bare_port, {}) as bare:
            if warmup:
                _load(bare_port, f"/bare/web?{skus}", 8, warmup, None, bare)
            base, base_rss = _load(bare_port, f"/bare/web?{skus}", concurrency, seconds, None, bare)
    return Result(
        scenario="read_api",
        figure="availability of 20 SKUs over HTTP, 64 concurrent",
        unit="requests/s",
        value=ours["rps"],
        baseline="bare Litestar route, same SELECT",
        baseline_value=base["rps"],
        params={
            "concurrency": concurrency,
            "seconds": seconds,
            "skus_per_request": 20,
            "quick": quick,
        },
        extra={
            "ours": ours,
            "bare": base,
            "api_peak_rss_mb": round(ours_rss / 2**20, 1),
            "bare_peak_rss_mb": round(base_rss / 2**20, 1),
        },
    )


def projection_lag(urls: ServerUrls, quick: bool) -> Result:
    rate, seconds = (200, 2.0) if quick else (1000, 10.0)
    skus = 40 if quick else SKUS
    with fresh_database(urls) as db:
        app = InventoryApp(application_env(db, pool_size=WRITERS + 1))
        follower = Follower(db, events_table("inventory"), AtpProjection("atp"))
        follower.setup()
        thread, stop = follower.start()
        observations: list[tuple[int, float]] = []  # (tracking position, when seen)
        watching = threading.Event()

        def watch() -> None:
            with psycopg.connect(db, autocommit=True) as conn:
                last = -1
                while not watching.is_set():
                    row = conn.execute("SELECT position FROM atp.tracking").fetchone()
                    if row and row[0] != last:
                        last = row[0]
                        observations.append((last, time.perf_counter()))
                    time.sleep(0.0005)

        try:
            _load_network(app, skus)
            follower.wait(follower.head(), timeout=60)
            watcher = threading.Thread(target=watch)
            watcher.start()
            commits, achieved = paced_receives(app, rate, seconds, WRITERS, skus)
            n, interval = len(commits), 1.0 / rate
            follower.wait(follower.head(), timeout=60)
            time.sleep(0.05)
            watching.set()
            watcher.join()
        finally:
            stop.set()
            thread.join(timeout=10)
            app.close()
        positions = [p for p, _ in observations]
        lags = []
        for position, committed in commits:
            i = bisect.bisect_left(positions, position)
            if i < len(observations):
                lags.append(max(0.0, observations[i][1] - committed))

        # Baseline: the raw LISTEN/NOTIFY round trip at the same rate.
        with (
            psycopg.connect(db, autocommit=True) as listener,
            psycopg.connect(db, autocommit=True) as notifier,
        ):
            listener.execute("LISTEN bench")
            raw: list[float] = []
            for _ in range(min(n, 2000)):
                sent = time.perf_counter()
                notifier.execute("NOTIFY bench")
                for _note in listener.notifies(timeout=1, stop_after=1):
                    raw.append(time.perf_counter() - sent)
                time.sleep(interval)
    ours, base = summary_ms(lags), summary_ms(raw)
    return Result(
        scenario="projection_lag",
        figure="commit to read model, p99",
        unit="ms",
        value=ours["p99_ms"],
        baseline="raw LISTEN/NOTIFY round trip, p99",
        baseline_value=base["p99_ms"],
        params={
            "target_rate": rate,
            "achieved_rate": round(achieved, 1),
            "writer_threads": WRITERS,
            "seconds": seconds,
            "quick": quick,
        },
        extra={"ours": ours, "listen_notify": base},
    )
