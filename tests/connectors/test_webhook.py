"""The webhook connector against a real HTTP receiver that fails, stalls and refuses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import nats
import psycopg
import pytest

from infrastructure.connectors.signing import verify
from infrastructure.connectors.start import Start
from infrastructure.connectors.webhook import WebhookConnector
from infrastructure.envelope import DeadLetter, Envelope
from tests.connectors.support import (
    FAST,
    envelopes,
    network,
    relaying,
    running,
    wait_for,
    wait_handled,
    write,
)

SECRET = "whsec-test"
SUBJECTS = ("ledgerline.events.inventory.>",)


@dataclass
class Receiver:
    """Answers by SKU: FLAKY fails 3 times, SLOW answers late, STALL's first try times out,
    GONE's second event is refused for good (410), DOWN's second never succeeds (503)."""

    url: str = ""
    requests: list[tuple[str, Envelope, int, bool]] = field(
        default_factory=list
    )  # id, env, status, signed
    tries: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, envelope: Envelope) -> tuple[int, float]:
        sku, version = envelope.data["sku"], envelope.stream_version
        with self.lock:
            self.tries[envelope.id] += 1
            tries = self.tries[envelope.id]
        if sku == "FLAKY" and tries <= 3:
            return 503, 0.0
        if sku == "SLOW":
            return 200, 0.2
        if sku == "STALL" and version == 2 and tries == 1:
            return 200, 1.5  # longer than the connector's timeout: it gives up and retries
        if sku == "GONE" and version == 2:
            return 410, 0.0
        if sku == "DOWN" and version == 2:
            return 503, 0.0
        return 200, 0.0

    def accepted(self) -> list[tuple[str, Envelope]]:
        with self.lock:
            return [(i, e) for i, e, status, _ in self.requests if status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            envelope = msgspec.json.decode(body, type=Envelope)
            signed = verify(SECRET, self.headers["Ledgerline-Signature"], body, int(time.time()))
            status, delay = state.answer(envelope)
            time.sleep(delay)
            with state.lock:
                state.requests.append(
                    (self.headers["Ledgerline-Event-Id"], envelope, status, signed)
                )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if status >= 400 else b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _interleaved(app) -> None:
    network(app)
    skus = ["PLAIN", "FLAKY", "SLOW", "STALL", "GONE", "DOWN"]
    for sku in skus:
        app.register_sku(sku, sku)
    for _ in range(3):  # versions 2..4 of every SKU, streams interleaved in the log
        for sku in skus:
            app.receive(sku, "WH1", 1)


async def _dead_letters(nats_url: str) -> list[DeadLetter]:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        sub = await js.pull_subscribe("ledgerline.deadletter.hooks", stream="LEDGERLINE_DEADLETTER")
        letters = []
        try:
            for message in await sub.fetch(10, timeout=1):
                letters.append(msgspec.json.decode(message.data, type=DeadLetter))
                await message.ack()
        except nats.errors.TimeoutError:
            pass
        return letters
    finally:
        await client.close()


def test_webhook_delivers_every_event_signed_and_in_stream_order_despite_failures(
    database: str, nats_url: str, receiver: Receiver
) -> None:
    hooks = WebhookConnector("hooks", receiver.url, SECRET, SUBJECTS, timeout=0.5)

    async def scenario() -> tuple[list[Envelope], list[DeadLetter]]:
        await write(database, _interleaved)
        stored = [e for e in await envelopes(database) if e.stream_type == "inventory"]
        async with (
            relaying(database, nats_url),
            running(hooks, database, nats_url, Start("beginning")),
        ):
            # Every event handled: taken by the receiver or given up on (dead letter first)
            await wait_handled(database, "hooks", SUBJECTS)
        return stored, await _dead_letters(nats_url)

    stored, letters = asyncio.run(scenario())

    assert all(signed for _, _, _, signed in receiver.requests)
    assert all(i == e.id for i, e, _, _ in receiver.requests)
    # In order per stream: no event was sent before every earlier event of its stream was
    # taken, or given up on
    given_up = {e.id for e in stored if e.data["sku"] in ("GONE", "DOWN") and e.stream_version == 2}
    settled: dict[str, int] = defaultdict(int)
    refusals: dict[str, int] = defaultdict(int)
    for event_id, envelope, status, _ in receiver.requests:
        stream = envelope.stream_id
        assert envelope.stream_version <= settled[stream] + 1, envelope
        if status == 200:
            settled[stream] = max(settled[stream], envelope.stream_version)
        elif event_id in given_up:
            refusals[event_id] += 1
            if status == 410 or refusals[event_id] == FAST.max_deliver:
                settled[stream] = max(settled[stream], envelope.stream_version)
    assert {i for i, _ in receiver.accepted()} == {e.id for e in stored} - given_up
    flaky = [e for e in stored if e.data["sku"] == "FLAKY"]
    assert all(receiver.tries[e.id] == 4 for e in flaky)
    # The refused and the never-answered events are dead letters, with why
    by_sku = {letter.envelope.data["sku"]: letter for letter in letters}
    assert set(by_sku) == {"GONE", "DOWN"}
    assert "HTTP 410" in by_sku["GONE"].reason
    assert by_sku["GONE"].attempts == 1
    assert "HTTP 503" in by_sku["DOWN"].reason
    assert by_sku["DOWN"].attempts == FAST.max_deliver
    assert {letter.envelope.id for letter in letters} == given_up


def test_sigterm_lets_the_event_in_hand_finish_then_stops(
    database: str, nats_url: str, tmp_path: Path
) -> None:
    arrived = threading.Event()
    answered: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrived.set()
            time.sleep(1.0)  # SIGTERM lands while this is in flight
            answered.append(self.headers["Ledgerline-Event-Id"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "connectors.toml"
    config.write_text(
        "[connectors.hooks]\n"
        'kind = "webhook"\n'
        f'url = "http://127.0.0.1:{server.server_address[1]}/hooks"\n'
        'secret = "s"\n'
        'subjects = ["ledgerline.events.inventory.>"]\n'
    )

    async def publish() -> None:
        await write(database, _interleaved)
        async with relaying(database, nats_url):
            await wait_for(lambda: _relayed_all(database), "the relay")

    asyncio.run(publish())
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "connector", "run", "hooks", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert arrived.wait(60)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
        server.shutdown()
        server.server_close()
    # The request in flight was answered, recorded and acked; nothing after it was sent
    assert len(answered) == 1
    with psycopg.connect(database) as conn:
        handled = conn.execute("SELECT event_id::text FROM connector_handled").fetchall()
    assert handled == [(answered[0],)]


def _relayed_all(database: str) -> bool:
    with psycopg.connect(database) as conn:
        if conn.execute("SELECT to_regclass('relay_positions')").fetchone() == (None,):
            return False
        relayed = conn.execute("SELECT max(position) FROM relay_positions").fetchone()
        head = conn.execute("SELECT max(notification_id) FROM inventory_events").fetchone()
    return relayed == head
