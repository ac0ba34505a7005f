"""``ledgerline events tail``: events on JetStream, live, as JSON lines.

An ephemeral consumer without acks: watching changes nothing for anyone. It shows what
JetStream holds; history beyond its retention is in PostgreSQL (see the connector backfill).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from infrastructure.connectors.start import Start
from infrastructure.envelope import STREAM_NAME
from infrastructure.messaging import connect


async def tail(
    nats_url: str,
    stop: asyncio.Event,
    subject: str = "ledgerline.events.>",
    start: Start | None = None,
    limit: int | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Print each envelope on its own line until ``stop`` or ``limit``; how many printed."""
    client = await connect(nats_url, "ledgerline-tail")
    printed = 0
    try:
        js = client.jetstream(timeout=5)
        config = (start or Start("new")).apply(
            ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=60.0)
        )
        sub = await js.pull_subscribe(subject, stream=STREAM_NAME, config=config)
        while not stop.is_set() and (limit is None or printed < limit):
            try:
                messages = await sub.fetch(
                    100 if limit is None else min(100, limit - printed), timeout=1.0
                )
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                # Already compact JSON: print it as published, byte for byte.
                out.write(message.data.decode() + "\n")
                printed += 1
            out.flush()
        await sub.unsubscribe()
    finally:
        await client.close()
    return printed
