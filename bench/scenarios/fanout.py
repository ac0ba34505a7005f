"""Fan-out latency: commit -> connector handler, through the real relay, JetStream and the
connector runtime, at a fixed write rate; versus raw JetStream publish -> consume round trips.

The writers and the relay run as in ``ledgerline up`` (the relay on an event loop of its own
thread, in the writers' process); the connector runs in a process of its own, as
``ledgerline connector run`` does (``bench.fanout_connector``). It is a real
``ConnectorRunner``, its dedup record written in the handler's transaction; its handler only
notes when it saw each log position, by CLOCK_MONOTONIC, which both processes read.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import nats
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from application.inventory import InventoryApp
from bench.harness import Result, fresh_database, summary_ms
from bench.pacing import paced_receives
from domain.network import ChannelKind, LocationKind
from infrastructure.eventstore import application_env
from infrastructure.relay import Relay
from infrastructure.servers import ServerUrls

SKUS = 50
ROOT = Path(__file__).resolve().parents[2]
RAW_STREAM = "BENCH_FANOUT_RAW"


def _network(app: InventoryApp) -> None:
    app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
    app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])
    for n in range(SKUS):
        app.register_sku(f"SKU-{n}", "bench")


class _Position(msgspec.Struct):
    position: int


class _Loop:
    """An asyncio loop on a thread of its own, running one coroutine until stopped."""

    def __init__(self, name: str, main: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.error: BaseException | None = None

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(main(self.stop))
            except BaseException as error:  # reported by close()
                self.error = error
            finally:
                self.loop.close()

        self.thread = threading.Thread(target=run, name=name, daemon=True)
        self.thread.start()

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may have ended already
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=30)
        if self.error is not None:
            raise self.error


def _wait(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"fan-out bench: timed out waiting for {what}")
        time.sleep(0.005)


async def _raw_round_trips(nats_url: str, count: int, interval: float) -> list[float]:
    """Publish (awaiting JetStream's ack) and pull-consume one message at a time, as the
    relay publishes and the runtime fetches; the time from publish to consumed."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream(timeout=5)
        with contextlib.suppress(Exception):
            await js.delete_stream(RAW_STREAM)
        await js.add_stream(
            StreamConfig(name=RAW_STREAM, subjects=["bench.raw.>"], storage=StorageType.FILE)
        )
        sub = await js.pull_subscribe(
            "bench.raw.>",
            durable="bench-raw",
            stream=RAW_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1),
        )
        sent: dict[int, float] = {}
        samples: list[float] = []

        async def consume() -> None:
            while len(samples) < count:
                try:
                    messages = await sub.fetch(1, timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                for message in messages:
                    samples.append(time.perf_counter() - sent[int(message.data)])
                    await message.ack()

        consumer = asyncio.ensure_future(consume())
        started = time.perf_counter()
        for n in range(count):
            due = started + n * interval
            if (pause := due - time.perf_counter()) > 0:
                await asyncio.sleep(pause)
            sent[n] = time.perf_counter()
            await js.publish(f"bench.raw.{n % 10}", str(n).encode())
        await asyncio.wait_for(consumer, timeout=60)
        await js.delete_stream(RAW_STREAM)
        return samples
    finally:
        await client.close()


def _read_seen(path: Path, seen: dict[int, float]) -> bool:
    """Positions (and times) the connector process logged so far; True once it is ready."""
    ready = False
    text = path.read_text() if path.exists() else ""
    for line in text.split("\n")[:-1]:  # the last is empty, or a line still being written
        if line == "ready":
            ready = True
        else:
            position, when = line.split()
            seen[int(position)] = float(when)
    return ready


def fanout(urls: ServerUrls, quick: bool) -> Result:
    rate, seconds, writers = (100, 2.0, 4) if quick else (1000, 10.0, 4)
    seen: dict[int, float] = {}  # log position -> when the connector's handler ran
    streamed: dict[int, float] = {}  # log position -> when JetStream stored it (relay's part)

    with fresh_database(urls) as db, tempfile.TemporaryDirectory() as tmp:
        app = InventoryApp(application_env(db, pool_size=writers + 1))
        relay = Relay(db, urls.nats_url, logs=("inventory",), poll_interval=0.2)

        async def relaying(stop: asyncio.Event) -> None:
            # A core NATS subscriber beside the relay sees each event as the relay's
            # publish is stored: it splits the latency into the relay's part and the rest.
            client = await nats.connect(urls.nats_url)

            async def on_event(message: Any) -> None:
                position = msgspec.json.decode(message.data, type=_Position).position
                streamed[position] = time.monotonic()

            await client.subscribe("ledgerline.events.inventory.>", cb=on_event)
            try:
                await relay.run(stop)
            finally:
                await client.close()

        relay_loop = _Loop("bench-relay", relaying)
        log = Path(tmp) / "handled.txt"
        connector = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "bench.fanout_connector", db, urls.nats_url, str(log)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(lambda: _read_seen(log, seen) or connector.poll() is not None, "the connector")
            if connector.poll() is not None:
                raise RuntimeError("the fan-out bench's connector process did not start")
            _network(app)
            head = int(app.recorder.max_notification_id() or 0)
            _wait(lambda: _read_seen(log, seen) and head in seen, "the network's events")
            commits, achieved = paced_receives(
                app, rate, seconds, writers, SKUS, clock=time.monotonic
            )
            last = max(position for position, _ in commits)
            _wait(lambda: _read_seen(log, seen) and last in seen, "the timed events")
        finally:
            connector.terminate()
            connector.wait(timeout=30)
            relay_loop.close()
            app.close()
    lags = [max(0.0, seen[position] - committed) for position, committed in commits]
    relayed = [
        max(0.0, streamed[position] - committed)
        for position, committed in commits
        if position in streamed
    ]

    raw = asyncio.run(_raw_round_trips(urls.nats_url, min(len(commits), 2000), 1.0 / rate))
    ours, base = summary_ms(lags), summary_ms(raw)
    handled = sorted(seen[position] for position, _ in commits)
    drained = len(handled) / (handled[-1] - commits[0][1]) if len(handled) > 1 else 0.0
    return Result(
        scenario="fanout",
        figure="commit to connector handler, p99",
        unit="ms",
        value=ours["p99_ms"],
        baseline="raw JetStream publish to pull-consume round trip, p99",
        baseline_value=base["p99_ms"],
        params={
            "target_rate": rate,
            "achieved_rate": round(achieved, 1),
            "events": len(commits),
            "writer_threads": writers,
            "seconds": seconds,
            "quick": quick,
        },
        extra={
            "ours": ours,
            "commit_to_jetstream": summary_ms(relayed),
            "raw_jetstream": base,
            # Events the connector handled per second, first commit to last handled: below
            # the write rate, a queue builds and the lag grows with the run.
            "connector_events_per_s": round(drained, 1),
        },
    )
