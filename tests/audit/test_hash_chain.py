"""Every stored event is hashed in its own transaction, on both insert paths, whoever writes."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import textwrap
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.inventory import InventoryApp
from infrastructure.audit.chain import ZERO, event_hash, fold
from infrastructure.audit.verify import Verifier
from infrastructure.eventstore import LARGE_BATCH_BYTES, application_env
from tests.audit.support import rows, write_history, write_large_batch


def assert_chains_recompute(database: str, log: str = "inventory") -> int:
    """Recompute both chains from the events alone and compare with every stored hash."""
    heads: dict[tuple[UUID, int], bytes] = {}
    log_hash = ZERO
    stored = rows(database, log)
    for row in stored:
        stream, version = row["originator_id"], row["originator_version"]
        prev = ZERO if version == 1 else heads[(stream, version - 1)]
        hash_ = event_hash(prev, log, stream, version, row["topic"], bytes(row["state"]))
        log_hash = fold(log_hash, hash_)
        assert (bytes(row["prev_hash"]), bytes(row["hash"]), bytes(row["log_hash"])) == (
            prev,
            hash_,
            log_hash,
        ), row["notification_id"]
        heads[(stream, version)] = hash_
    return len(stored)


def count(database: str, table: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_each_event_is_chained_to_its_stream_and_its_log_on_both_insert_paths(
    database: str,
) -> None:
    # Given commands saved one by one (pipelined) and one save of more than 256 KB
    write_history(database)
    write_large_batch(database)

    with psycopg.connect(database) as conn:
        bulk = conn.execute(
            "SELECT sum(length(state)) FROM inventory_events WHERE originator_id = ("
            "SELECT originator_id FROM inventory_events ORDER BY notification_id DESC LIMIT 1)"
        ).fetchone()
    assert bulk is not None
    assert bulk[0] > LARGE_BATCH_BYTES

    # Then every event has its hash row, and both chains recompute from the events alone
    assert count(database, "inventory_hashes") == count(database, "inventory_events") > 1500
    assert assert_chains_recompute(database) == count(database, "inventory_events")
    assert Verifier(database, None).run().clean


def test_events_stored_before_the_chain_existed_are_hashed_when_the_application_starts(
    database: str,
) -> None:
    # Given a store whose newest events have no hash rows (as after an upgrade)
    write_history(database)
    with psycopg.connect(database) as conn:
        conn.execute("DELETE FROM inventory_hashes WHERE notification_id > 4")
    # When the application starts again and writes on
    app = InventoryApp(application_env(database, pool_size=1))
    try:
        app.receive("SKU-0", "WH1", 7)
    finally:
        app.close()
    # Then the old events were hashed in order and the new one chains on from them
    assert count(database, "inventory_hashes") == count(database, "inventory_events")
    assert_chains_recompute(database)


WRITER = textwrap.dedent(
    """
    import sys
    from application.inventory import InventoryApp
    from domain.inventory import Inventory
    from infrastructure.eventstore import LARGE_BATCH_BYTES, application_env

    database, me = sys.argv[1], int(sys.argv[2])
    app = InventoryApp(application_env(database, pool_size=2))
    print("ready", flush=True)
    sys.stdin.readline()  # every writer starts at once
    try:
        for n in range(60):
            app.receive(f"SHARED-{n % 3}", "WH1", 1)  # streams every writer extends
            app.register_sku(f"OWN-{me}-{n}", "own")
            if n % 20 == 0:  # now and then a save too large for pipeline mode
                bulk = Inventory.register(f"BULK-{me}-{n}", "bulk")
                for _ in range(1200):
                    bulk.receive("WH1", 1)
                app.save(bulk)
    finally:
        app.close()
    """
)


def test_several_processes_writing_one_log_leave_both_chains_whole(database: str) -> None:
    # Given streams that several writer processes extend at the same time
    app = InventoryApp(application_env(database, pool_size=1))
    try:
        app.put_location("WH1", "WH1", "warehouse")
        for n in range(3):
            app.register_sku(f"SHARED-{n}", "shared")
    finally:
        app.close()
    writers = []
    for me in range(4):  # started one by one: the library's start-up DDL races otherwise
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, database, str(me)],
            env={**os.environ, "LEDGERLINE_LOG_LEVEL": "warning"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
        writers.append(writer)
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    assert [writer.wait(timeout=240) for writer in writers] == [0, 0, 0, 0]

    # Then every event is hashed, each chain links to the event before it, whatever process
    # wrote that, and the verifier agrees
    events = count(database, "inventory_events")
    assert events > 4 * (60 * 2 + 3 * 1200)
    assert count(database, "inventory_hashes") == events
    assert assert_chains_recompute(database) == events
    report = Verifier(database, None).run()
    assert report.clean, [f.line() for f in report.findings]
    assert report.events == events
    # (and the writers really did interleave in the log)
    order = [
        found.group(1)
        for row in rows(database)
        if (found := re.search(rb'"OWN-(\d)-', bytes(row["state"])))
    ]
    assert sum(a != b for a, b in itertools.pairwise(order)) > 20


def test_a_conflicting_insert_still_raises_a_conflict_and_leaves_no_hash_behind(
    database: str,
) -> None:
    # Given a stored stream, and a save of a version that already exists (a lost race),
    # small (pipelined) or large (without pipeline mode)
    write_history(database, skus=1, receipts=1)
    app = InventoryApp(application_env(database, pool_size=1))
    try:
        with psycopg.connect(database) as conn:
            row = conn.execute(
                "SELECT originator_id FROM inventory_events ORDER BY notification_id DESC LIMIT 1"
            ).fetchone()
        assert row is not None
        taken = app.recorder.select_events(row[0])[-1]
        big = StoredEvent(
            taken.originator_id, taken.originator_version, taken.topic, b" " * 300_000
        )
        for duplicate in (taken, big):
            # Then the writer gets the conflict it retries on, and nothing is stored
            with pytest.raises(IntegrityError):
                app.recorder.insert_events([duplicate])
    finally:
        app.close()
    assert count(database, "inventory_hashes") == count(database, "inventory_events")
    assert Verifier(database, None).run().clean
