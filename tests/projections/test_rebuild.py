"""A read model rebuilt from position 0 equals the live one, row for row."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client import REGISTRY

from api.services import Services
from domain.errors import DomainError
from domain.inventory import AdjustmentReason
from projections.atp import AtpProjection
from projections.follower import Follower
from projections.rebuild import ATP_TABLES, differences, rebuild_atp, swap_in, table_rows
from tests.conftest import settle
from tests.projections.support import record_allocation, restock, secure

LOCATIONS = ["WH1", "WH2", "STORE1"]


def _mixed_workload(services: Services, steps: int, seed: int) -> int:
    """Every kind of command, some refused; returns how many were accepted.

    Holds either never expire, lapsed long ago (made an hour back for a minute) or run for
    an hour yet, so the read model's clock and the test's agree on which have lapsed.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    past = now - timedelta(hours=1)
    app = services.inventory
    for code in LOCATIONS:
        app.put_location(code, code, "warehouse")
    app.put_channel("web", "Web", "web_shop", ["WH1", "WH2"])
    app.put_channel("pos", "POS", "pos", ["STORE1"])
    skus = [f"SKU-{n}" for n in range(6)]
    for sku in skus:
        app.register_sku(sku, sku)
    reservations: list[tuple[str, str]] = []
    accepted = 0
    for step in range(steps):
        sku = rng.choice(skus)
        location = rng.choice(LOCATIONS)
        kind = rng.choice(
            [
                "receive",
                "receive",
                "count",
                "damage",
                "transfer",
                "reserve",
                "reserve",
                "reserve",
                "reserve",
                "release",
                "commit",
                "take_all",
                "ship_part",
                "secure",
                "restock",
                "allocate",
                "buffer",
                "rechannel",
                "reorder",
            ]
        )
        try:
            if kind == "receive":
                app.receive(sku, location, rng.randint(1, 20))
            elif kind == "count":
                app.adjust(sku, location, AdjustmentReason.CYCLE_COUNT, rng.randint(0, 30))
            elif kind == "damage":
                app.adjust(sku, location, AdjustmentReason.DAMAGE, -rng.randint(1, 3))
            elif kind == "transfer":
                app.transfer(sku, location, rng.choice(LOCATIONS), rng.randint(1, 5))
            elif kind == "reserve":
                channel = rng.choice(["web", "pos", None])
                made, expires_at = rng.choice(
                    [
                        (past, past + timedelta(minutes=1)),
                        (now, now + timedelta(hours=1)),
                        (now, None),
                    ]
                )
                app.reserve(
                    sku,
                    f"r{step}",
                    location,
                    rng.randint(1, 4),
                    reference=f"o{step}",
                    now=made,
                    channel=channel,
                    expires_at=expires_at,
                )
                reservations.append((sku, f"r{step}"))
            elif kind == "take_all":
                # Every free unit, lapsed holds' included: reserved may then exceed on hand.
                free = app.stock(sku).free(location, now)
                app.reserve(sku, f"r{step}", location, free, reference=f"o{step}", now=now)
                reservations.append((sku, f"r{step}"))
            elif kind == "ship_part" and reservations:
                app.commit(*rng.choice(reservations), 1)
            elif kind == "secure" and reservations:
                secure(app, *rng.choice(reservations), past + timedelta(seconds=30))
            elif kind == "restock":
                restock(app, sku, location, rng.randint(1, 3), f"rma{step}")
            elif kind == "allocate":
                record_allocation(app, "web", sku, location, 1, now)
            elif kind in ("release", "commit") and reservations:
                held_sku, held = reservations.pop(rng.randrange(len(reservations)))
                if kind == "release":
                    app.release(held_sku, held)
                else:
                    app.commit(held_sku, held)
            elif kind == "buffer":
                app.set_safety_buffer(sku, rng.choice(["web", "pos"]), rng.randint(0, 5))
            elif kind == "rechannel":
                app.put_channel(
                    "web", "Web", "web_shop", sorted(rng.sample(LOCATIONS, rng.randint(1, 3)))
                )
            elif kind == "reorder":
                app.set_reorder_policy(sku, location, rng.randint(0, 10), rng.randint(1, 50))
            accepted += 1
        except DomainError:
            pass
    return accepted


def test_rebuild_from_zero_equals_the_live_read_model_row_for_row(services: Services) -> None:
    # Given a live read model built while a mixed workload ran
    accepted = _mixed_workload(services, steps=400, seed=1)
    settle(services)
    assert accepted > 200

    # When the read model is rebuilt from position 0 into a schema of its own
    applied = rebuild_atp(
        services.follower.conninfo, services.follower.events_table, "atp_rebuild", batch_size=37
    )

    # Then every table equals the live one, row for row
    assert applied == services.follower.head()
    assert differences(services.follower.conninfo, "atp", "atp_rebuild") == {}
    with psycopg.connect(services.follower.conninfo) as conn:
        live_rows = table_rows(conn, "atp", "availability")
        assert len(live_rows) == 6 * 2  # every (channel, sku)
        for table in ATP_TABLES:
            assert table_rows(conn, "atp", table) == table_rows(conn, "atp_rebuild", table)


def test_folding_stock_movements_in_a_batch_leaves_the_rows_applying_one_by_one_leaves(
    services: Services,
) -> None:
    # Given a live read model, built mostly event by event, after a mixed workload with long
    # runs of plain stock movements (which a batch folds in memory)
    _mixed_workload(services, steps=250, seed=7)
    app = services.inventory
    for n in range(60):
        sku = f"SKU-{n % 6}"
        app.receive(sku, LOCATIONS[n % 3], 1 + n % 4)
        if n % 5 == 0:
            app.transfer(sku, LOCATIONS[n % 3], LOCATIONS[(n + 1) % 3], 1)
        if n % 7 == 0:
            app.adjust(sku, LOCATIONS[n % 3], AdjustmentReason.DAMAGE, -1)
    # A SKU with no expiring hold, kept below its buffer on the web for a while: its ATP
    # stays 0 as stock moves, so its row changes without moving its log position
    app.register_sku("FOLD", "fold")
    app.set_safety_buffer("FOLD", "web", 30)
    for n in range(40):
        app.receive("FOLD", LOCATIONS[n % 3], 1)
        if n % 4 == 3:
            app.reserve(
                "FOLD", f"f{n}", LOCATIONS[n % 3], 1, reference=f"f{n}", now=datetime.now(UTC)
            )
        if n % 8 == 7:
            app.commit("FOLD", f"f{n}")
        if n % 6 == 5:
            app.transfer("FOLD", LOCATIONS[n % 3], LOCATIONS[(n + 2) % 3], 1)
    settle(services)
    conninfo, log = services.follower.conninfo, services.follower.events_table

    # When it is rebuilt folding every run, however short, in large and in small batches
    for schema, batch_size in (("atp_fold_large", 5000), ("atp_fold_small", 13)):
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        follower = Follower(
            conninfo, log, AtpProjection(schema, fold_from=1), batch_size=batch_size
        )
        follower.setup()
        with psycopg.connect(conninfo) as conn:
            applied = follower.catch_up(conn)

        # Then every table equals the live one, row for row, log positions included
        assert applied == services.follower.head()
        assert differences(conninfo, "atp", schema) == {}


def test_the_read_model_agrees_with_the_aggregates(
    services: Services, client: TestClient[Litestar]
) -> None:
    # Given a mixed workload, projected
    _mixed_workload(services, steps=300, seed=4)
    settle(services)

    # Then stock and ATP in the read model are what the aggregates themselves say
    app = services.inventory
    with psycopg.connect(services.follower.conninfo) as conn:
        stock = {
            (sku, loc): (on_hand, reserved)
            for sku, loc, on_hand, reserved in conn.execute(
                "SELECT sku, location, on_hand, reserved FROM atp.stock"
            )
        }
        atp = {
            (ch, sku): value
            for ch, sku, value in conn.execute("SELECT channel, sku, atp FROM atp.availability")
        }
    channels = {code: app.channel(code).locations for code in ("web", "pos")}
    now = datetime.now(UTC)
    skus = [f"SKU-{n}" for n in range(6)]
    served = {
        (channel, item["sku"]): item["available"]
        for channel in channels
        for item in client.get(f"/v1/channels/{channel}/availability", params={"sku": skus}).json()[
            "items"
        ]
    }
    lapsed = 0
    for sku in skus:
        inventory = app.stock(sku)
        picture = client.get(f"/v1/skus/{sku}/stock").json()
        free = {row["location"]: row["available"] for row in picture["locations"]}
        for location, figures in inventory.stock.items():
            assert stock[(sku, location)] == (figures.on_hand, figures.reserved)
            assert free[location] == inventory.free(location, now)
            lapsed += inventory.lapsed(location, now)
        for channel, locations in channels.items():
            # The stored figure ignores lapsed holds; the served one counts them as free.
            assert atp[(channel, sku)] == inventory.available_to_promise(channel, locations)
            assert served[(channel, sku)] == inventory.available_to_promise(channel, locations, now)
    assert lapsed > 0  # the workload left lapsed holds for the comparison to mean something


def test_a_rebuild_swapped_in_keeps_following_the_log(services: Services) -> None:
    # Given a rebuilt read model swapped in while the live follower runs
    _mixed_workload(services, steps=100, seed=2)
    settle(services)
    rebuild_atp(services.follower.conninfo, services.follower.events_table, "atp_rebuild")
    swap_in(services.follower.conninfo, "atp", "atp_rebuild")

    # When more events are written
    _mixed_workload(services, steps=100, seed=3)
    settle(services)

    # Then the swapped-in model kept up and still equals a fresh rebuild
    rebuild_atp(services.follower.conninfo, services.follower.events_table, "atp_check")
    assert differences(services.follower.conninfo, "atp", "atp_check") == {}


def test_an_event_the_projection_cannot_apply_is_reported_and_retried_not_fatal(
    services: Services,
) -> None:
    # Given a live projection, and a stored event it cannot decode
    services.inventory.put_location("WH1", "WH1", "warehouse")
    settle(services)
    failures = (
        REGISTRY.get_sample_value("ledgerline_projection_failures_total", {"projection": "atp:atp"})
        or 0.0
    )
    with psycopg.connect(services.follower.conninfo) as conn:
        conn.execute(
            "INSERT INTO inventory_events (originator_id, originator_version, topic, state) "
            "VALUES (gen_random_uuid(), 1, 'nowhere:Nothing', '{}')"
        )

    # When the follower meets it
    deadline = time.monotonic() + 10
    while (
        REGISTRY.get_sample_value("ledgerline_projection_failures_total", {"projection": "atp:atp"})
        or 0.0
    ) <= failures and time.monotonic() < deadline:
        time.sleep(0.05)

    # Then the failure is counted, the follower thread lives on, and nothing was half-applied
    assert (
        REGISTRY.get_sample_value("ledgerline_projection_failures_total", {"projection": "atp:atp"})
        or 0.0
    ) > failures
    assert any(t.name == "projection-atp:atp" and t.is_alive() for t in threading.enumerate())
    with psycopg.connect(services.follower.conninfo) as conn:
        assert services.follower.projection.position(conn) == services.follower.head() - 1
