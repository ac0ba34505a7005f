"""Two relays on one database: one publishes; kill it and the standby goes on, no gap, no
duplicate."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.inventory import InventoryApp
from domain.inventory import Inventory
from domain.network import ChannelKind, LocationKind
from infrastructure.eventstore import application_env
from infrastructure.servers import EmbeddedNats
from tests.faults.support import ledgerline as spawn
from tests.faults.support import lock_holder, read_stream, relayed, report, wait_until

BATCHES = 40  # of 50 events each, written while the relays run


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    (tmp_path / "nats").mkdir()
    server = EmbeddedNats(tmp_path / "nats")
    try:
        yield server
    finally:
        server.close()


def _write(database: str, done: threading.Event) -> None:
    app = InventoryApp(application_env(database, pool_size=1))
    try:
        for n in range(BATCHES):
            inventory = Inventory.register(f"SKU-{n}", "burst")
            for _ in range(49):
                inventory.receive("WH1", 1)
            app.save(inventory)
            time.sleep(0.02)  # a steady stream, so the kill lands mid-burst
    finally:
        app.close()
        done.set()


def _head(database: str) -> int:
    app = InventoryApp(application_env(database, pool_size=1))
    try:
        return int(app.recorder.max_notification_id() or 0)
    finally:
        app.close()


def test_only_the_leading_relay_publishes_and_the_standby_takes_over_without_gap_or_duplicate(
    database: str, own_nats: EmbeddedNats, tmp_path: Path
) -> None:
    # Given a network and two relay processes against the same database
    app = InventoryApp(application_env(database, pool_size=1))
    app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
    app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])
    app.close()
    env = {
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": own_nats.url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
    }
    logs = {name: tmp_path / f"relay-{name}.log" for name in ("a", "b")}
    relays = {name: spawn(["relay"], env, path) for name, path in logs.items()}
    try:
        wait_until(lambda: lock_holder(database, "relay") is not None, "a relay to lead")
        leader_pid = lock_holder(database, "relay")
        leader = next(n for n, p in relays.items() if p.pid == leader_pid)
        standby = "b" if leader == "a" else "a"

        # When events are written in a burst and the leader is SIGKILLed in the middle of it
        done = threading.Event()
        writer = threading.Thread(target=_write, args=(database, done))
        writer.start()
        wait_until(lambda: relayed(database) >= 500, "the leader to publish")
        standby_led_before = "leadership.acquired" in logs[standby].read_text()
        relayed_at_kill = relayed(database)
        killed_at = time.monotonic()
        relays[leader].send_signal(signal.SIGKILL)
        relays[leader].wait()
        wait_until(
            lambda: lock_holder(database, "relay") == relays[standby].pid, "the standby to lead"
        )
        takeover = time.monotonic() - killed_at
        writer.join()
        head = _head(database)
        wait_until(lambda: relayed(database) == head, "the standby to publish everything")
    finally:
        for process in relays.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)

    # Then the standby published nothing while the leader lived, and the stream holds every
    # event once, in log order
    stream = read_stream(own_nats.url)
    report(
        "relay takeover (SIGKILL of the leading relay)",
        events_stored=head,
        relayed_at_kill=relayed_at_kill,
        in_stream=stream.messages,
        duplicates=stream.duplicates,
        takeover_seconds=round(takeover, 2),
        standby_pid=relays[standby].pid,
        runner_pid=os.getpid(),
    )
    assert not standby_led_before
    assert stream.duplicates == 0
    assert stream.messages == head
    assert stream.gapless("inventory", head)
