"""Signed checkpoints: made periodically, kept in PostgreSQL, published on NATS JetStream.

Each run looks at every hashed log. Where the log grew since its last checkpoint, it first
checks that the stored log chain from that checkpoint to the head still connects (so a
checkpoint never vouches for a chain that does not extend the previous one), then signs
(log, head position, log hash at the head, now) and stores it in ``audit_checkpoints``.
Stored checkpoints not yet published go to the stream ``LEDGERLINE_AUDIT`` (subject
``ledgerline.audit.checkpoints.<log>``, ``Nats-Msg-Id`` ``checkpoint:<log>:<position>``),
kept without age limit: that copy, outside the database, is what exposes a rewrite.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import msgspec
import nats
import psycopg
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from psycopg.sql import SQL, Identifier

from infrastructure.audit.chain import ZERO, fold
from infrastructure.audit.signing import Checkpoint, Signer, load_signer
from infrastructure.audit.writer import hashes_table
from infrastructure.messaging import connect, replicas

log = structlog.get_logger(__name__)

STREAM = "LEDGERLINE_AUDIT"
SUBJECT_PREFIX = "ledgerline.audit.checkpoints"
DUPLICATE_WINDOW = timedelta(minutes=10)
TABLE = """
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    log text NOT NULL,
    position bigint NOT NULL,
    log_hash bytea NOT NULL,
    signed_at timestamptz NOT NULL,
    public_key bytea NOT NULL,
    signature bytea NOT NULL,
    published boolean NOT NULL DEFAULT false,
    PRIMARY KEY (log, position))
"""
COLUMNS = "log, position, log_hash, signed_at, public_key, signature"


def stream_config() -> StreamConfig:
    return StreamConfig(
        name=STREAM,
        subjects=[f"{SUBJECT_PREFIX}.>"],
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        num_replicas=replicas(),
    )


def msg_id(checkpoint: Checkpoint) -> str:
    return f"checkpoint:{checkpoint.log}:{checkpoint.position}"


def hashed_logs(conn: psycopg.Connection[Any]) -> list[str]:
    """Every log with an events table and a hash table, by name."""
    rows = conn.execute(
        "SELECT substr(e.relname, 1, length(e.relname) - 7) FROM pg_class e"
        " JOIN pg_class h ON h.relname = substr(e.relname, 1, length(e.relname) - 7) || '_hashes'"
        " AND h.relnamespace = e.relnamespace"
        " WHERE e.relkind = 'r' AND e.relname LIKE '%\\_events'"
        " AND e.relnamespace = 'public'::regnamespace ORDER BY 1"
    ).fetchall()
    return [str(row[0]) for row in rows]


def as_checkpoint(row: Any) -> Checkpoint:
    log_name, position, log_hash, signed_at, public_key, signature = row
    return Checkpoint(
        log=log_name,
        position=int(position),
        log_hash=bytes(log_hash).hex(),
        time=signed_at.astimezone(UTC),
        public_key=bytes(public_key).hex(),
        signature=bytes(signature).hex(),
    )


def stored_checkpoints(conn: psycopg.Connection[Any], log_name: str) -> Iterator[Checkpoint]:
    """The database's checkpoints of one log in position order, streamed (a named cursor:
    call inside a transaction)."""
    exists = conn.execute("SELECT to_regclass('audit_checkpoints')").fetchone()
    if exists is None or exists[0] is None:
        return
    with conn.cursor(name=f"checkpoints_{log_name}") as curs:
        curs.itersize = 2000
        curs.execute(
            f"SELECT {COLUMNS} FROM audit_checkpoints WHERE log = %s ORDER BY position",  # noqa: S608 - constant
            (log_name,),
        )
        for row in curs:
            yield as_checkpoint(row)


class Checkpointer:
    """Makes, stores and publishes checkpoints: ``run_once``, or every ``interval`` seconds."""

    def __init__(self, conninfo: str, nats_url: str | None, interval: float = 60.0) -> None:
        self.conninfo = conninfo
        self.nats_url = nats_url
        self.interval = interval

    def checkpoint(self, now: datetime | None = None) -> list[Checkpoint]:
        """Sign and store a checkpoint for every log that grew; the new checkpoints."""
        made: list[Checkpoint] = []
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(TABLE)
            signer = load_signer(conn)
            for log_name in hashed_logs(conn):
                checkpoint = self._checkpoint_log(conn, signer, log_name, now)
                if checkpoint is not None:
                    made.append(checkpoint)
        return made

    def _checkpoint_log(
        self,
        conn: psycopg.Connection[Any],
        signer: Signer,
        log_name: str,
        now: datetime | None,
    ) -> Checkpoint | None:
        hashes = Identifier(hashes_table(log_name))
        head = conn.execute(
            SQL(
                "SELECT notification_id, log_hash FROM {} ORDER BY notification_id DESC LIMIT 1"
            ).format(hashes)
        ).fetchone()
        last = conn.execute(
            "SELECT position, log_hash FROM audit_checkpoints WHERE log = %s"
            " ORDER BY position DESC LIMIT 1",
            (log_name,),
        ).fetchone()
        start, value = (int(last[0]), bytes(last[1])) if last else (0, ZERO)
        if head is None or head[0] <= start:
            return None
        # The stored chain must grow out of the last signed value: fold the hashes since.
        with conn.transaction(), conn.cursor(name=f"fold_{log_name}") as curs:
            curs.itersize = 5000
            curs.execute(
                SQL(
                    "SELECT hash FROM {} WHERE notification_id > %s AND notification_id <= %s"
                    " ORDER BY notification_id"
                ).format(hashes),
                (start, head[0]),
            )
            for (hash_,) in curs:
                value = fold(value, bytes(hash_))
        if value != bytes(head[1]):
            log.error(
                "audit.chain_broken",
                log=log_name,
                since=start,
                head=head[0],
                hint="run 'ledgerline audit verify': not signing a chain that does not "
                "extend the last checkpoint",
            )
            return None
        checkpoint = signer.sign(log_name, int(head[0]), value, now or datetime.now(UTC))
        conn.execute(
            f"INSERT INTO audit_checkpoints ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"  # noqa: S608 - constant
            " ON CONFLICT (log, position) DO NOTHING",
            (
                checkpoint.log,
                checkpoint.position,
                value,
                checkpoint.time,
                signer.public_key,
                bytes.fromhex(checkpoint.signature),
            ),
        )
        log.info("audit.checkpoint", log=log_name, position=checkpoint.position)
        return checkpoint

    async def publish(self) -> int:
        """Publish every stored checkpoint not yet on JetStream, in order; how many."""
        if self.nats_url is None:
            return 0
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            await conn.execute(TABLE)
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM audit_checkpoints WHERE NOT published"  # noqa: S608 - constant
                " ORDER BY log, position"
            )
            pending = [as_checkpoint(row) for row in await cur.fetchall()]
            if not pending:
                return 0
            client = await connect(self.nats_url, "ledgerline-audit", max_reconnect_attempts=0)
            try:
                js = client.jetstream(timeout=5)
                await ensure_stream(js)
                for checkpoint in pending:
                    await js.publish(
                        f"{SUBJECT_PREFIX}.{checkpoint.log}",
                        msgspec.json.encode(checkpoint),
                        headers={"Nats-Msg-Id": msg_id(checkpoint)},
                    )
                    await conn.execute(
                        "UPDATE audit_checkpoints SET published = true"
                        " WHERE log = %s AND position = %s",
                        (checkpoint.log, checkpoint.position),
                    )
            finally:
                await client.close()
        return len(pending)

    def run_once(self, now: datetime | None = None) -> list[Checkpoint]:
        """Checkpoint every log that grew, then publish what is unpublished."""
        made = self.checkpoint(now)
        asyncio.run(self.publish())
        return made

    def start(self) -> tuple[threading.Thread, threading.Event]:
        """Run every ``interval`` seconds on a thread of its own (as ``ledgerline up`` does)."""
        stopping = threading.Event()

        def main() -> None:
            while not stopping.is_set():
                try:
                    self.run_once()
                except Exception as error:  # a server away: the next round catches up
                    log.warning("audit.checkpoint_failed", error=f"{type(error).__name__}: {error}")
                stopping.wait(self.interval)

        thread = threading.Thread(target=main, name="audit-checkpoints", daemon=True)
        thread.start()
        return thread, stopping


async def ensure_stream(js: Any) -> None:
    try:
        await js.add_stream(stream_config())
    except nats.js.errors.BadRequestError:
        await js.update_stream(stream_config())


async def export(nats_url: str, out: TextIO) -> int:
    """Write every checkpoint on JetStream to ``out`` as JSON lines; how many."""
    client = await connect(nats_url, "ledgerline-audit-export")
    written = 0
    try:
        js = client.jetstream(timeout=5)
        try:
            info = await js.stream_info(STREAM)
        except nats.js.errors.NotFoundError:
            return 0
        total = info.state.messages
        if total == 0:
            return 0
        sub = await js.pull_subscribe(
            f"{SUBJECT_PREFIX}.>",
            stream=STREAM,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=60
            ),
        )
        idle = 0
        while written < total and idle < 3:  # three empty fetches: nothing more is coming
            try:
                messages = await sub.fetch(min(1000, total - written), timeout=2)
            except nats.errors.TimeoutError:
                idle += 1
                continue
            for message in messages:
                checkpoint = msgspec.json.decode(message.data, type=Checkpoint)
                out.write(msgspec.json.encode(checkpoint).decode() + "\n")
                written += 1
        await sub.unsubscribe()
    finally:
        await client.close()
    return written


def read_checkpoints(lines: TextIO) -> list[Checkpoint]:
    """Checkpoints from JSON lines (an export); blank lines skipped."""
    return [msgspec.json.decode(line, type=Checkpoint) for line in lines if line.strip()]
