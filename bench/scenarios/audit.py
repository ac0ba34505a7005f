"""``ledgerline audit verify`` over a large log, versus only reading the same rows.

The log is generated, not written command by command (a million commands would take most
of an hour): real stored events of the inventory application serve as templates, each copy
gets its own event id, and the hashes are computed with the writer's own functions, in
notification order over interleaved streams, then loaded with COPY.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import psycopg

from application.inventory import InventoryApp
from bench.harness import Result, fresh_database
from domain.network import ChannelKind, LocationKind
from infrastructure.audit.chain import ZERO, canonical, event_hash, fold
from infrastructure.audit.verify import Verifier
from infrastructure.eventstore import application_env
from infrastructure.servers import ServerUrls

VERSIONS = 100  # events per stream
STREAMS_PER_CHUNK = 500  # streams interleaved in the log at a time


def _templates(db: str) -> list[tuple[str, bytes]]:
    """(topic, state) of a registration and of a receipt, as the application stores them."""
    app = InventoryApp(application_env(db, pool_size=1))
    try:
        app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
        app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])
        app.register_sku("TEMPLATE", "template product")
        app.receive("TEMPLATE", "WH1", 5)
    finally:
        app.close()
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT topic, state FROM inventory_events WHERE originator_version <= 2 "
            "AND originator_id = (SELECT originator_id FROM inventory_events "
            "ORDER BY notification_id DESC LIMIT 1) ORDER BY originator_version"
        ).fetchall()
        conn.execute("TRUNCATE inventory_events, inventory_hashes")
    return [(topic, bytes(state)) for topic, state in rows]


def _load(db: str, events: int) -> None:
    """``events`` hashed events: streams of ``VERSIONS`` versions, interleaved in the log."""
    templates = [
        (topic, state, state.split(b'"event_id":"', 1)[1][:32]) for topic, state in _templates(db)
    ]
    log_hash, position = ZERO, 0
    with psycopg.connect(db) as conn:
        while position < events:
            streams = [uuid.uuid4() for _ in range(STREAMS_PER_CHUNK)]
            heads = dict.fromkeys(streams, ZERO)
            event_rows: list[tuple[Any, ...]] = []
            hash_rows: list[tuple[Any, ...]] = []
            for version in range(1, VERSIONS + 1):
                for stream in streams:
                    if position >= events:
                        break
                    position += 1
                    this_topic, template, marker = templates[min(version, 2) - 1]
                    data = template.replace(marker, uuid.uuid4().hex.encode())
                    prev = heads[stream]
                    hash_ = event_hash(prev, "inventory", stream, version, this_topic, data)
                    heads[stream] = hash_
                    log_hash = fold(log_hash, hash_)
                    event_rows.append((stream, version, this_topic, data, position))
                    hash_rows.append((position, stream, version, prev, hash_, log_hash))
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY inventory_events (originator_id, originator_version, topic, state,"
                    " notification_id) FROM STDIN"
                ) as copy:
                    for row in event_rows:
                        copy.write_row(row)
                with cur.copy("COPY inventory_hashes FROM STDIN") as copy:
                    for row in hash_rows:
                        copy.write_row(row)
            conn.commit()
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('inventory_events', 'notification_id'), %s)",
            (position,),
        )
        conn.commit()
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE inventory_events")
        conn.execute("VACUUM ANALYZE inventory_hashes")


def _read_only(db: str) -> tuple[int, float]:
    """The baseline: the same two ordered scans (binary, in pages of 5,000 rows, as verify
    reads them), every row fetched, nothing checked."""
    started = time.perf_counter()
    read = 0
    with psycopg.connect(db) as conn, conn.transaction():
        for table, columns in (
            (
                "inventory_events",
                "notification_id, uuid_send(originator_id), originator_version, topic, state",
            ),
            (
                "inventory_hashes",
                "notification_id, uuid_send(originator_id), originator_version, prev_hash, hash,"
                " log_hash",
            ),
        ):
            with conn.cursor(name=f"read_{table}", binary=True) as cur:
                cur.execute(f"SELECT {columns} FROM {table} ORDER BY notification_id")  # noqa: S608 - constants
                while rows := cur.fetchmany(5000):
                    read += len(rows)
    return read // 2, time.perf_counter() - started


def _sha_only(db: str, sample: int = 50_000) -> float:
    """Events/s of SHA-256 over the canonical bytes alone (no database), on a sample."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM inventory_events "
            "ORDER BY notification_id LIMIT %s",
            (sample,),
        ).fetchall()
    started = time.perf_counter()
    for stream, version, topic, state in rows:
        hashlib.sha256(ZERO + canonical("inventory", stream, version, topic, bytes(state))).digest()
    return len(rows) / (time.perf_counter() - started)


def verify(urls: ServerUrls, quick: bool) -> Result:
    events = 20_000 if quick else 1_000_000
    with fresh_database(urls) as db:
        started = time.perf_counter()
        _load(db, events)
        load_seconds = time.perf_counter() - started
        read, read_seconds = _read_only(db)
        report = Verifier(db, None).run()
        sha_rate = _sha_only(db)
    return Result(
        scenario="audit_verify",
        figure=f"audit verify, {events:,} events",
        unit="events/s",
        value=report.rate,
        baseline="read the same events and hash rows only",
        baseline_value=read / read_seconds,
        params={"events": events, "versions_per_stream": VERSIONS, "quick": quick},
        extra={
            "verified": report.events,
            "clean": report.clean,
            "verify_seconds": round(report.seconds, 2),
            "read_seconds": round(read_seconds, 2),
            "sha256_only_events_per_s": round(sha_rate, 1),
            "load_seconds": round(load_seconds, 1),
        },
    )
