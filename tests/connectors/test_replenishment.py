"""Replenishment: one request per crossing below the reorder point, published and POSTed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from domain.inventory import AdjustmentReason
from infrastructure.connectors.replenishment import ReplenishmentConnector
from infrastructure.connectors.start import Start
from infrastructure.envelope import Envelope
from infrastructure.public_events import decode
from infrastructure.public_events.replenishment import ReplenishmentRequested
from tests.connectors.support import (
    FAST,
    network,
    relaying,
    running,
    stream_positions,
    wait_for,
    wait_handled,
    write,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _stock(app) -> None:
    network(app)
    app.register_sku("SKU-1", "Shirt")
    app.receive("SKU-1", "WH1", 10)
    app.set_reorder_policy("SKU-1", "WH1", 5, 20)
    app.reserve("SKU-1", "r1", "WH1", 4, reference="o1", now=NOW)  # 6 left: not below
    app.reserve("SKU-1", "r2", "WH1", 2, reference="o2", now=NOW)  # 4: crosses
    app.reserve("SKU-1", "r3", "WH1", 1, reference="o3", now=NOW)  # 3: still below, no repeat
    app.receive("SKU-1", "WH1", 20)  # 23: back above
    app.adjust("SKU-1", "WH1", AdjustmentReason.CYCLE_COUNT, 8)  # 1 available: crosses again
    app.receive("SKU-1", "ST1", 1)  # a location without a policy never asks


async def _requests(nats_url: str) -> list[Envelope]:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        sub = await js.pull_subscribe(
            "ledgerline.events.replenishment.>",
            stream="LEDGERLINE_EVENTS",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )
        try:
            return [
                msgspec.json.decode(m.data, type=Envelope) for m in await sub.fetch(10, timeout=1)
            ]
        except nats.errors.TimeoutError:
            return []
    finally:
        await client.close()


def test_a_request_goes_out_once_per_crossing_below_the_reorder_point(
    database: str, nats_url: str
) -> None:
    posted: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/replenish"
    connector = ReplenishmentConnector("reorders", url=url, secret="s3cret")

    async def scenario() -> list[Envelope]:
        await write(database, _stock)
        async with relaying(database, nats_url):
            async with running(connector, database, nats_url, Start("beginning"), FAST):
                await wait_handled(database, "reorders", connector.subjects)
            # Replayed from scratch, the same crossings publish nothing new (same ids)
            async with running(
                connector,
                database,
                nats_url,
                Start("beginning"),
                FAST,
                restart=True,
                forget_handled=True,
            ):
                await wait_handled(database, "reorders", connector.subjects)
        return await _requests(nats_url)

    try:
        published = asyncio.run(scenario())
    finally:
        server.shutdown()
        server.server_close()
    requests = [decode(e) for e in published]
    assert all(isinstance(r, ReplenishmentRequested) for r in requests)
    assert [(r.sku, r.location, r.available, r.reorder_point, r.quantity) for r in requests] == [  # type: ignore[attr-defined]
        ("SKU-1", "WH1", 4, 5, 20),
        ("SKU-1", "WH1", 1, 5, 20),
    ]
    assert {e.causation_id for e in published} == {r.trigger_event_id for r in requests}  # type: ignore[attr-defined]
    # POSTed too: once per crossing per run (at least once: the replay posts again)
    assert sorted(json.loads(body)["id"] for body in posted) == sorted(
        [e.id for e in published] * 2
    )


def test_events_tail_prints_each_event_as_a_json_line(
    database: str, nats_url: str, tmp_path: Path
) -> None:
    async def publish() -> int:
        head = await write(database, network)
        async with relaying(database, nats_url):

            async def published() -> bool:
                return len(await stream_positions(nats_url)) == head

            await wait_for(published, "the relay")
        return head

    head = asyncio.run(publish())
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "events",
            "tail",
            "--from",
            "beginning",
            "--subject",
            "ledgerline.events.channel.>",
            "--limit",
            "2",
        ],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.decode().splitlines()
    assert head == 4
    assert [json.loads(line)["data"]["code"] for line in lines] == ["web", "market"]
    assert all(json.loads(line)["stream_type"] == "channel" for line in lines)
