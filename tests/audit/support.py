"""A small stored history, and the ways an intruder with database access changes it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from application.inventory import InventoryApp
from domain.inventory import Inventory
from domain.network import ChannelKind, LocationKind
from infrastructure.audit.chain import ZERO, event_hash, fold
from infrastructure.eventstore import application_env


def write_history(database: str, skus: int = 5, receipts: int = 4) -> None:
    """Locations, a channel, SKUs with receipts (one command each: the pipelined path)."""
    app = InventoryApp(application_env(database, pool_size=2))
    try:
        app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
        app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])
        for n in range(skus):
            app.register_sku(f"SKU-{n}", f"product {n}")
        for r in range(receipts):
            for n in range(skus):
                app.receive(f"SKU-{n}", "WH1", r + 1)
    finally:
        app.close()


def write_large_batch(database: str, sku: str = "BULK", events: int = 1500) -> None:
    """One save of more than 256 KB of events: the recorder's path without pipeline mode."""
    app = InventoryApp(application_env(database, pool_size=2))
    try:
        inventory = Inventory.register(sku, "bulk")
        for _ in range(events - 1):
            inventory.receive("WH1", 1)
        app.save(inventory)
    finally:
        app.close()


def rows(database: str, log: str = "inventory") -> list[dict[str, Any]]:
    """Every event of a log with its hash row, in notification order."""
    with psycopg.connect(database, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            f"SELECT e.notification_id, e.originator_id, e.originator_version, e.topic,"
            f" e.state, h.prev_hash, h.hash, h.log_hash FROM {log}_events e"
            f" JOIN {log}_hashes h USING (notification_id) ORDER BY notification_id"
        ).fetchall()


def event_at(database: str, notification_id: int) -> tuple[UUID, int]:
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT originator_id, originator_version FROM inventory_events"
            " WHERE notification_id = %s",
            (notification_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def edit(database: str, notification_id: int) -> None:
    """Change one byte-level detail of an event's stored data (a quantity, say)."""
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE inventory_events SET state = state || ' '::bytea WHERE notification_id = %s",
            (notification_id,),
        )


def delete(database: str, notification_id: int) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("DELETE FROM inventory_events WHERE notification_id = %s", (notification_id,))


def swap(database: str, first: int, second: int) -> None:
    """Swap the stored data of two events."""
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE inventory_events e SET state = o.state FROM inventory_events o"
            " WHERE (e.notification_id, o.notification_id) IN ((%s, %s), (%s, %s))",
            (first, second, second, first),
        )


def rehash_everything(database: str, log: str = "inventory") -> None:
    """What a careful intruder does after editing events: recompute every stored hash."""
    with psycopg.connect(database) as conn:
        events = conn.execute(
            f"SELECT notification_id, originator_id, originator_version, topic, state"
            f" FROM {log}_events ORDER BY notification_id"
        ).fetchall()
        heads: dict[tuple[UUID, int], bytes] = {}
        log_hash = ZERO
        conn.execute(f"DELETE FROM {log}_hashes")
        for nid, stream, version, topic, state in events:
            prev = ZERO if version == 1 else heads[(stream, version - 1)]
            hash_ = event_hash(prev, log, stream, version, topic, bytes(state))
            heads[(stream, version)] = hash_
            log_hash = fold(log_hash, hash_)
            conn.execute(
                f"INSERT INTO {log}_hashes VALUES (%s, %s, %s, %s, %s, %s)",
                (nid, stream, version, prev, hash_, log_hash),
            )
