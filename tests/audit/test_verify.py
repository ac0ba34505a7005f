"""``verify`` finds every edit, deletion and reordering of stored events, and names the event.

The intruder here has the database: they change rows with plain SQL, the way nothing in
Ledgerline ever does. Checkpoints kept outside the database expose even a rewrite that
recomputed every hash.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from application.inventory import InventoryApp
from infrastructure.audit.checkpoints import Checkpointer, export, read_checkpoints
from infrastructure.audit.signing import load_signer, trusted_key
from infrastructure.audit.verify import (
    BAD_SIGNATURE,
    CHECKPOINT_MISMATCH,
    DATA_ALTERED,
    EVENT_MISSING,
    EVENTS_REORDERED,
    Finding,
    Report,
    Verifier,
)
from infrastructure.eventstore import application_env
from infrastructure.log_reader import LogReader
from infrastructure.servers import EmbeddedNats
from tests.audit.support import (
    delete,
    edit,
    event_at,
    rehash_everything,
    rows,
    swap,
    write_history,
)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server of this test's own: the checkpoint stream is one per store."""
    (tmp_path / "nats").mkdir()
    server = EmbeddedNats(tmp_path / "nats")
    try:
        yield server
    finally:
        server.close()


def verify(database: str, external: list | None = None) -> Report:  # type: ignore[type-arg]
    with psycopg.connect(database, autocommit=True) as conn:
        trusted = trusted_key(conn)
    return Verifier(database, trusted, external or []).run()


def named(finding: Finding) -> tuple[str, str, int | None, object, int | None]:
    return (
        finding.log,
        finding.problem,
        finding.notification_id,
        finding.stream_id,
        finding.version,
    )


def middle_of_a_stream(database: str, skip: int = 0) -> int:
    """The notification id of an event that is neither first nor last of its stream."""
    found = [row["notification_id"] for row in rows(database) if row["originator_version"] == 3]
    return found[skip]


def test_an_untouched_store_verifies_clean_with_its_checkpoints(database: str) -> None:
    write_history(database)
    Checkpointer(database, None).checkpoint()
    write_history(database, skus=2)  # more events after the checkpoint
    Checkpointer(database, None).checkpoint()

    report = verify(database)

    assert report.clean, [f.line() for f in report.findings]
    inventory = next(result for result in report.logs if result.log == "inventory")
    assert inventory.events == len(rows(database))
    assert inventory.checkpoints == 2


def test_an_edited_event_is_reported_as_altered_by_name(database: str) -> None:
    write_history(database)
    target = middle_of_a_stream(database)
    edit(database, target)

    report = verify(database)

    stream, version = event_at(database, target)
    assert [named(f) for f in report.findings] == [
        ("inventory", DATA_ALTERED, target, stream, version)
    ]


def test_a_deleted_event_is_reported_as_missing_by_name(database: str) -> None:
    write_history(database)
    target = middle_of_a_stream(database)
    stream, version = event_at(database, target)
    delete(database, target)

    report = verify(database)

    assert [named(f) for f in report.findings] == [
        ("inventory", EVENT_MISSING, target, stream, version)
    ]


def test_a_deleted_event_with_its_hash_row_still_breaks_both_chains(database: str) -> None:
    write_history(database)
    target = middle_of_a_stream(database)
    stream, version = event_at(database, target)
    delete(database, target)
    with psycopg.connect(database) as conn:
        conn.execute("DELETE FROM inventory_hashes WHERE notification_id = %s", (target,))

    report = verify(database)

    problems = {(f.problem, f.stream_id, f.version) for f in report.findings}
    # The stream's next version names the gap; the log chain breaks at the next event
    assert (EVENT_MISSING, stream, version + 1) in problems
    at_next = [f for f in report.findings if f.notification_id == target + 1]
    assert [f.problem for f in at_next] == [EVENT_MISSING]
    assert f"#{target} before it" in at_next[0].detail
    assert {f.problem for f in report.findings} == {EVENT_MISSING}


def test_two_swapped_events_are_reported_as_reordered_naming_both(database: str) -> None:
    write_history(database)
    first, second = middle_of_a_stream(database, 0), middle_of_a_stream(database, 2)
    swap(database, first, second)

    report = verify(database)

    stream, version = event_at(database, first)
    assert [named(f) for f in report.findings] == [
        ("inventory", EVENTS_REORDERED, first, stream, version)
    ]
    assert f"#{second}" in report.findings[0].detail


def test_an_edit_a_deletion_and_a_swap_in_one_store_are_each_reported(database: str) -> None:
    # The must-show: one store, three kinds of tampering, each named
    write_history(database, skus=6)
    edited, deleted = middle_of_a_stream(database, 0), middle_of_a_stream(database, 1)
    swapped = (middle_of_a_stream(database, 2), middle_of_a_stream(database, 4))
    names = {nid: event_at(database, nid) for nid in (edited, deleted, *swapped)}
    edit(database, edited)
    delete(database, deleted)
    swap(database, *swapped)

    report = verify(database)

    assert not report.clean
    assert sorted(named(f) for f in report.findings) == sorted(
        [
            ("inventory", DATA_ALTERED, edited, *names[edited]),
            ("inventory", EVENT_MISSING, deleted, *names[deleted]),
            ("inventory", EVENTS_REORDERED, swapped[0], *names[swapped[0]]),
        ]
    )


def test_a_rewrite_that_recomputed_every_hash_is_exposed_by_exported_checkpoints(
    database: str, own_nats: EmbeddedNats, tmp_path: Path
) -> None:
    # Given checkpoints published to NATS as the log grew, and exported off the database
    write_history(database)
    assert Checkpointer(database, own_nats.url).run_once()
    checkpointed = len(rows(database))
    write_history(database, skus=3)
    assert Checkpointer(database, own_nats.url).run_once()
    exported = tmp_path / "checkpoints.jsonl"
    with exported.open("w") as out:
        assert asyncio.run(export(own_nats.url, out)) == 2

    # When an intruder edits an event after the first checkpoint, recomputes every hash, and
    # replaces the database's checkpoints with ones signed by the key the database holds
    target = checkpointed + 3
    edit(database, target)
    rehash_everything(database)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DELETE FROM audit_checkpoints")
    Checkpointer(database, None).checkpoint()

    # Then the database alone looks consistent...
    assert verify(database).clean
    # ...but the exported checkpoints expose it, naming the first event after the last one
    # that still matches
    with exported.open() as lines:
        report = verify(database, read_checkpoints(lines))
    first_after = checkpointed + 1
    stream, version = event_at(database, first_after)
    mismatches = [named(f) for f in report.findings if f.problem == CHECKPOINT_MISMATCH]
    assert ("inventory", CHECKPOINT_MISMATCH, first_after, stream, version) in mismatches
    assert {f.problem for f in report.findings} == {CHECKPOINT_MISMATCH}


def test_a_checkpoint_changed_in_the_database_fails_its_signature(database: str) -> None:
    write_history(database)
    Checkpointer(database, None).checkpoint()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE audit_checkpoints SET position = position - 1")

    report = verify(database)

    assert [f.problem for f in report.findings] == [BAD_SIGNATURE]


def test_no_checkpoint_is_signed_over_a_chain_that_does_not_extend_the_last_one(
    database: str,
) -> None:
    write_history(database)
    Checkpointer(database, None).checkpoint()
    write_history(database, skus=2)
    edit(database, 3)
    rehash_everything(database)  # the stored chain no longer grows out of the checkpoint

    assert Checkpointer(database, None).checkpoint() == []


def test_the_cli_exits_0_when_clean_and_1_naming_the_event_when_not(
    database: str, tmp_path: Path
) -> None:
    write_history(database)
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
        "LEDGERLINE_LOG_LEVEL": "warning",
    }
    env.pop("LEDGERLINE_AUDIT_SIGNING_KEY", None)
    command = [sys.executable, "-m", "api.cli", "audit"]
    made = subprocess.run(
        [*command, "checkpoint"], env=env, capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    clean = subprocess.run(
        [*command, "verify"], env=env, capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "clean" in clean.stdout
    assert "events/s" in clean.stdout

    target = middle_of_a_stream(database)
    edit(database, target)
    broken = subprocess.run(
        [*command, "verify"], env=env, capture_output=True, text=True, check=False
    )
    stream, version = event_at(database, target)
    assert broken.returncode == 1
    assert f"inventory #{target} stream {stream} v{version}: data altered" in broken.stdout


def test_a_configured_signing_key_signs_and_only_it_is_trusted(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_history(database)
    monkeypatch.setenv("LEDGERLINE_AUDIT_SIGNING_KEY", "11" * 32)
    Checkpointer(database, None).checkpoint()
    assert verify(database).clean
    with psycopg.connect(database, autocommit=True) as conn:
        configured = load_signer(conn).public_key
    assert verify(database).clean
    assert trusted_key_is(database, configured)

    # With another key configured, the old checkpoints are not trusted
    monkeypatch.setenv("LEDGERLINE_AUDIT_SIGNING_KEY", "22" * 32)
    assert [f.problem for f in verify(database).findings] == [BAD_SIGNATURE]


def trusted_key_is(database: str, key: bytes) -> bool:
    with psycopg.connect(database, autocommit=True) as conn:
        return trusted_key(conn) == key


def test_published_envelopes_carry_the_hash_chain(database: str) -> None:
    write_history(database, skus=1, receipts=2)
    app = InventoryApp(application_env(database, pool_size=1))
    app.close()

    async def read() -> list:  # type: ignore[type-arg]
        async with await psycopg.AsyncConnection.connect(database) as conn:
            return await LogReader("inventory").read(conn, 0, 100)

    envelopes = asyncio.run(read())
    stored = {row["notification_id"]: row for row in rows(database)}
    assert envelopes
    for envelope in envelopes:
        row = stored[envelope.position]
        assert envelope.hash == bytes(row["hash"]).hex()
        assert envelope.prev_hash == bytes(row["prev_hash"]).hex()
    sku = [e for e in envelopes if e.stream_type == "inventory"]
    assert sku[0].prev_hash == "0" * 64
    assert sku[1].prev_hash == sku[0].hash


def test_export_of_an_empty_stream_writes_nothing(own_nats: EmbeddedNats) -> None:
    out = io.StringIO()
    assert asyncio.run(export(own_nats.url, out)) == 0
    assert out.getvalue() == ""
