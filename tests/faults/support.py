"""Helpers of the fault suite: processes to kill, conditions to poll, streams to count."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from infrastructure.envelope import STREAM_NAME, Envelope
from infrastructure.leadership import lock_key
from infrastructure.messaging import connect

# One line per fault check, printed at the end of the run (tests/faults/conftest.py).
REPORTS: list[str] = []


def report(fault: str, **counts: object) -> str:
    line = f"{fault}: " + ", ".join(f"{name}={value}" for name, value in counts.items())
    REPORTS.append(line)
    print(line, flush=True)
    return line


def wait_until(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition``; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def ledgerline(
    args: list[str], env: dict[str, str], log: Path, **extra: str
) -> subprocess.Popen[bytes]:
    """``ledgerline ARGS`` as a child process, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            env={**os.environ, **env, **extra},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def lock_holder(database: str, worker: str) -> int | None:
    """The OS pid of the process whose session holds ``worker``'s lock, if any."""
    key = lock_key(worker) & 0xFFFFFFFFFFFFFFFF  # pg_locks shows a bigint key as two oids
    with psycopg.connect(database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid",
            (key >> 32, key & 0xFFFFFFFF),
        ).fetchone()
    if row is None:
        return None
    return int(str(row[0]).rsplit(":", 1)[1])


def relayed(database: str, log: str = "inventory") -> int:
    with psycopg.connect(database, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('relay_positions')").fetchone()
        if not exists or exists[0] is None:
            return 0
        row = conn.execute("SELECT position FROM relay_positions WHERE log = %s", (log,)).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class StreamCount:
    messages: int
    positions: dict[str, list[int]]  # per log, in stream order
    duplicates: int  # event ids seen more than once

    def gapless(self, log: str, head: int) -> bool:
        return self.positions.get(log, []) == list(range(1, head + 1))


def read_stream(nats_url: str) -> StreamCount:
    async def main() -> StreamCount:
        client = await connect(nats_url, "fault-check")
        try:
            js = client.jetstream(timeout=10)
            info = await js.stream_info(STREAM_NAME)
            sub = await js.pull_subscribe(
                "ledgerline.events.>",
                stream=STREAM_NAME,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
            )
            ids: Counter[str] = Counter()
            positions: dict[str, list[int]] = {}
            seen = 0
            while seen < info.state.messages:
                for message in await sub.fetch(1000, timeout=10):
                    envelope = msgspec.json.decode(message.data, type=Envelope)
                    ids[envelope.id] += 1
                    positions.setdefault(envelope.log, []).append(envelope.position)
                    seen += 1
            await sub.unsubscribe()
            duplicates = sum(n - 1 for n in ids.values())
            return StreamCount(info.state.messages, positions, duplicates)
        finally:
            await client.close()

    return asyncio.run(main())
