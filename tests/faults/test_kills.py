"""SIGKILL each part in the middle of a burst, restart PostgreSQL and NATS: nothing an
acknowledged command wrote is lost or doubled, and everything downstream agrees.

One deployment serves every fault (starting one costs more than a fault); each fault uses a
SKU of its own, so its counts are its own, while the stream, connector and read-model checks
cover everything stored so far.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.bootstrap import build_services
from api.services import Services
from tests.conftest import issue_key
from tests.faults.burst import check, run_burst
from tests.faults.system import System
from tests.orders.support import merchant

BURST = 30  # commands per fault: 10 receipts, 10 reservations, 10 orders


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    root = Path(tempfile.mkdtemp(prefix="ll-faults-"))
    deployment = System(root)
    try:
        yield deployment
    finally:
        deployment.close()
        if "LEDGERLINE_KEEP_FAULT_LOGS" not in os.environ:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def services(system: System) -> Iterator[Services]:
    """The test's own view of the store (it runs no workers): setup and checks."""
    built = build_services(system.database, system.nats.url, pool_size=2)
    try:
        system.start_all()
        merchant(built, {"TEE": {"SOUTH": 1000}})
        yield built
    finally:
        built.close()


@pytest.fixture(scope="module")
def token(services: Services) -> str:
    return issue_key(services, "admin")


@pytest.mark.parametrize(
    "part", ["api", "relay", "projection:atp", "process:order-saga", "connector:hooks"]
)
def test_sigkill_mid_burst_loses_and_doubles_nothing(
    system: System, services: Services, token: str, part: str
) -> None:
    # Given the deployment running, when the part is SIGKILLed mid-burst and restarted
    burst = run_burst(system, token, part.replace(":", "-"), BURST, lambda: system.restart(part))
    # Then every check holds, with its counts reported
    check(f"SIGKILL {part}", system, services, burst)


def test_postgresql_restart_mid_burst_loses_and_doubles_nothing(
    system: System, services: Services, token: str
) -> None:
    def restart() -> None:
        # A crash-like stop: connections cut, no checkpoint, WAL recovery on start
        system.postgres.halt()
        system.postgres.resume()

    burst = run_burst(system, token, "pg-restart", BURST, restart)
    check("PostgreSQL restart (immediate stop)", system, services, burst)


def test_nats_restart_mid_burst_loses_and_doubles_nothing(
    system: System, services: Services, token: str
) -> None:
    def restart() -> None:
        system.nats.stop()
        system.nats.start()

    burst = run_burst(system, token, "nats-restart", BURST, restart)
    check("NATS restart", system, services, burst)
