"""Must show 3: without its master key the service refuses to start, with a clear message,
rather than write personal data unencrypted; the embedded development setup makes its own."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from application.orders import OrdersApp
from infrastructure.eventstore import application_env
from infrastructure.privacy import require_master_key
from infrastructure.privacy.crypto import MASTER_KEY_ENV, MasterKeyMissing, master_keys_from
from infrastructure.servers import ServerUrls


def tables(database: str) -> list[str]:
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def test_the_service_refuses_to_start_on_a_configured_database_without_a_master_key(
    database: str, servers: ServerUrls, tmp_path: Path
) -> None:
    # Given a configured database and NATS, and no master key in the configuration
    env = {
        **os.environ,
        "LEDGERLINE_DATABASE_URL": database,
        "LEDGERLINE_NATS_URL": servers.nats_url,
        "LEDGERLINE_DATA_DIR": str(tmp_path),
    }
    env.pop(MASTER_KEY_ENV)
    # When the service is started
    started = subprocess.run(
        [sys.executable, "-m", "api.cli", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it refuses with a configuration error that names the missing setting and why
    assert started.returncode == 78, started.stdout + started.stderr
    assert "refusing to start" in started.stderr
    assert MASTER_KEY_ENV in started.stderr
    assert "unencrypted" in started.stderr
    # and it wrote nothing at all: no table, no development key in its data directory
    assert tables(database) == []
    assert not (tmp_path / "master.key").exists()


def test_an_application_refuses_to_open_its_store_without_a_master_key(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no master key, however the composition root was skipped
    monkeypatch.delenv(MASTER_KEY_ENV)
    # When an application that stores personal data is built, then it refuses
    with pytest.raises(MasterKeyMissing, match=MASTER_KEY_ENV):
        OrdersApp(application_env(database, pool_size=1), None, None)  # type: ignore[arg-type]
    # and its store was never created
    assert "orders_events" not in tables(database)


def test_the_embedded_setup_generates_a_development_key_once_into_its_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the embedded servers (no database configured) and no master key
    monkeypatch.delenv(MASTER_KEY_ENV)
    # When the service starts twice
    require_master_key(database_configured=False, data_dir=tmp_path)
    first = os.environ[MASTER_KEY_ENV]
    monkeypatch.delenv(MASTER_KEY_ENV)
    require_master_key(database_configured=False, data_dir=tmp_path)
    # Then both runs use the same key, kept readable by its owner only
    assert os.environ[MASTER_KEY_ENV] == first
    assert master_keys_from(os.environ).current
    key_file = tmp_path / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_configured_database_gets_no_development_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV)
    with pytest.raises(MasterKeyMissing, match="no development key"):
        require_master_key(database_configured=True, data_dir=tmp_path)
    assert not (tmp_path / "master.key").exists()
