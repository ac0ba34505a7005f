"""Backup and restore as docs/operations.md describes it: pg_dump of the database,
pg_restore into an empty one, every read model rebuilt from the restored log, and a clean
``ledgerline audit verify``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from api.services import Services
from infrastructure.servers import ServerUrls, postgres_program, temporary_database
from projections.rebuild import READ_MODELS, rebuild, swap_in, table_rows
from tests.conftest import settle
from tests.infrastructure.support import CUSTOMER, SHIP_TO
from tests.orders.support import lines, merchant

MODELS = ("atp", "pricing", "orders", "bookings")


def _events(database: str) -> dict[str, int]:
    with psycopg.connect(database, autocommit=True) as conn:
        return {
            log: int(conn.execute(f"SELECT count(*) FROM {log}_events").fetchone()[0])
            for log in ("inventory", "pricing", "orders", "bookings", "access")
        }


def _models(database: str) -> dict[tuple[str, str], list[tuple[object, ...]]]:
    with psycopg.connect(database, autocommit=True) as conn:
        return {
            (model, table): sorted(map(repr, table_rows(conn, model, table, READ_MODELS[model][2])))
            for model in MODELS
            for table in READ_MODELS[model][2]
        }


def _ledgerline(database: str, nats_url: str, tmp_path: Path, *args: str) -> str:
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_dump_restored_into_an_empty_database_rebuilds_every_read_model_and_verifies_clean(
    services: Services, database: str, servers: ServerUrls, tmp_path: Path
) -> None:
    # Given a store with stock, prices and orders, and its read models caught up
    merchant(services, {"TEE": {"SOUTH": 5}, "CAP": {"NORTH": 3}})
    for number in ("B-1", "B-2"):
        services.orders.place(
            channel="web",
            order_number=number,
            lines=lines("TEE"),
            currency="EUR",
            customer=CUSTOMER,
            ship_to=SHIP_TO,
        )
    settle(services)
    before_events, before_models = _events(database), _models(database)

    # When the database is dumped, restored into an empty one, and every read model is rebuilt
    dump = tmp_path / "ledgerline.dump"
    subprocess.run(
        [postgres_program("pg_dump"), "--format=custom", f"--file={dump}", database], check=True
    )
    with temporary_database(servers.database_url, "restored") as restored:
        subprocess.run(
            [postgres_program("pg_restore"), "--no-owner", f"--dbname={restored}", str(dump)],
            check=True,
        )
        for model in MODELS:
            # What `ledgerline project rebuild --model M` does, without a process per model
            rebuild(restored, model, f"{model}_rebuild")
            swap_in(restored, model, f"{model}_rebuild")
        verified = _ledgerline(restored, servers.nats_url, tmp_path, "audit", "verify")
        after_events, after_models = _events(restored), _models(restored)

    # Then every event is there, each read model equals the original, and the audit is clean
    assert after_events == before_events
    assert before_events["orders"] > 0
    assert after_models == before_models
    assert verified.rstrip().endswith(": clean"), verified
