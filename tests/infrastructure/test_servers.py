"""The servers the suite runs on are real: PostgreSQL answers SQL, NATS has JetStream."""

from __future__ import annotations

import asyncio
import uuid

import nats
import psycopg

from infrastructure.servers import ServerUrls


def test_postgres_is_a_real_server(database: str) -> None:
    with psycopg.connect(database) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
    assert version is not None
    assert int(version[0]) >= 140000


def test_nats_has_jetstream_that_stores_and_acknowledges(servers: ServerUrls) -> None:
    async def scenario() -> int:
        client = await nats.connect(servers.nats_url)
        js = client.jetstream()
        name = f"T{uuid.uuid4().hex[:8]}"
        await js.add_stream(name=name, subjects=[f"{name}.>"])
        try:
            ack = await js.publish(f"{name}.x", b"hello", headers={"Nats-Msg-Id": "one"})
            duplicate = await js.publish(f"{name}.x", b"hello", headers={"Nats-Msg-Id": "one"})
            assert duplicate.duplicate
            info = await js.stream_info(name)
            return ack.seq if info.state.messages == 1 else -1
        finally:
            await js.delete_stream(name)
            await client.close()

    assert asyncio.run(scenario()) == 1
