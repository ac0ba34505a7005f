"""Rebuilding the ATP read model from position 0, versus only reading and decoding the log."""

from __future__ import annotations

import time

import psycopg
from eventsourcing.persistence import StoredEvent

from application.inventory import InventoryApp
from bench.harness import Result, fresh_database
from domain.inventory import Inventory
from domain.network import ChannelKind, LocationKind
from infrastructure.eventstore import application_env, events_table, make_mapper
from infrastructure.servers import ServerUrls
from projections.rebuild import rebuild_atp


def rebuild(urls: ServerUrls, quick: bool) -> Result:
    skus, per_sku = (20, 250) if quick else (200, 500)
    with fresh_database(urls) as db:
        app = InventoryApp(application_env(db, pool_size=2))
        try:
            app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
            app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])
            for n in range(skus):
                inventory = Inventory.register(f"SKU-{n}", "bench")
                for _ in range(per_sku):
                    inventory.receive("WH1", 1)
                app.save(inventory)  # one transaction per SKU: generating is not measured
        finally:
            app.close()
        table = events_table("inventory")

        started = time.perf_counter()
        applied = rebuild_atp(db, table, "atp_bench")
        ours = applied / (time.perf_counter() - started)

        mapper = make_mapper()
        started = time.perf_counter()
        decoded, last = 0, 0
        with psycopg.connect(db) as conn:
            while rows := conn.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state "  # noqa: S608
                f"FROM {table} WHERE notification_id > %s ORDER BY notification_id LIMIT 5000",
                (last,),
            ).fetchall():
                for _, stream, version, topic, state in rows:
                    mapper.decode(StoredEvent(stream, version, topic, bytes(state)))
                decoded += len(rows)
                last = rows[-1][0]
        base = decoded / (time.perf_counter() - started)
    return Result(
        scenario="rebuild",
        figure="ATP rebuild from position 0",
        unit="events/s",
        value=ours,
        baseline="read and decode the same events only",
        baseline_value=base,
        params={"events": applied, "quick": quick},
    )
