"""A 3-node JetStream cluster, streams with 3 replicas: kill the stream's leader node in the
middle of a burst, and every connector still receives every event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.inventory import InventoryApp
from domain.inventory import Inventory
from infrastructure.connectors.base import FunctionConnector
from infrastructure.connectors.start import Start
from infrastructure.envelope import STREAM_NAME, Envelope
from infrastructure.messaging import connect
from infrastructure.servers import EmbeddedNatsCluster
from tests.connectors.support import envelopes, handled_ids, network, relaying, running, write
from tests.faults.support import read_stream, relayed, report, wait_until

BATCHES = 16  # of 40 events each


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedNatsCluster]:
    monkeypatch.setenv("LEDGERLINE_NATS_REPLICAS", "3")
    nodes = EmbeddedNatsCluster(tmp_path / "cluster")
    try:
        nodes.wait_ready()
        yield nodes
    finally:
        nodes.close()


def _burst(app: InventoryApp, first: int, last: int) -> None:
    for n in range(first, last):
        inventory = Inventory.register(f"SKU-{n}", "burst")
        for _ in range(39):
            inventory.receive("WH1", 1)
        app.save(inventory)


async def _stream_leader(url: str) -> str:
    client = await connect(url, "fault-check")
    try:
        info = await client.jetstream(timeout=10).stream_info(STREAM_NAME)
        assert info.config.num_replicas == 3
        assert info.cluster is not None
        assert info.cluster.leader is not None
        return info.cluster.leader
    finally:
        await client.close()


def test_every_connector_receives_every_event_when_a_cluster_node_dies_mid_stream(
    database: str, cluster: EmbeddedNatsCluster
) -> None:
    seen: dict[str, list[Envelope]] = {"hooks": [], "feeds": []}

    def collector(name: str) -> FunctionConnector:
        async def handle(envelope: Envelope) -> None:
            seen[name].append(envelope)

        return FunctionConnector(name, handle)

    async def scenario() -> tuple[int, str, set[str]]:
        await write(database, network)
        async with (
            relaying(database, cluster.url),
            running(collector("hooks"), database, cluster.url, Start("beginning")),
            running(collector("feeds"), database, cluster.url, Start("beginning")),
        ):
            # Given a burst under way, relayed to the cluster and consumed by two connectors
            await write(database, lambda app: _burst(app, 0, BATCHES // 2))
            await asyncio.to_thread(wait_until, lambda: relayed(database) >= 150, "publishing")
            # When the node leading the stream is killed while the burst goes on
            leader = await _stream_leader(cluster.url)
            cluster.kill(cluster.node_of(leader))
            head = await write(database, lambda app: _burst(app, BATCHES // 2, BATCHES))
            # Then both connectors handle every stored event
            wanted = {e.id for e in await envelopes(database)}
            for name in seen:
                await asyncio.to_thread(
                    wait_until,
                    lambda n=name: wanted <= asyncio.run(handled_ids(database, n)),
                    f"{name} to handle {len(wanted)} events",
                    120,
                )
        return head, leader, wanted

    head, leader, stored_ids = asyncio.run(scenario())
    stream = read_stream(cluster.url)
    stored = head
    delivered = {name: len(envelopes_seen) for name, envelopes_seen in seen.items()}
    report(
        "NATS cluster node killed (stream leader, R3)",
        killed=leader,
        events_stored=stored,
        in_stream=stream.messages,
        duplicates_in_stream=stream.duplicates,
        **{f"delivered_{name}": count for name, count in delivered.items()},
    )
    assert stream.duplicates == 0
    assert stream.gapless("inventory", head)
    for name, handled in seen.items():
        # A redelivery after the failover reaches the handler only if its ack was lost, and
        # the runtime's dedup then skips it: each event is handled once per connector.
        assert len(handled) == stored, name
        assert {e.id for e in handled} == stored_ids, name
        assert [e.position for e in handled] == list(range(1, head + 1)), name
