"""``ledgerline customer export|erase`` and ``privacy rewrap`` through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from infrastructure.privacy.crypto import MASTER_KEY_ENV, PREVIOUS_MASTER_KEY_ENV, generate_key
from infrastructure.servers import ServerUrls
from tests.audit.test_bundle import cli_env
from tests.conftest import settle
from tests.privacy.support import NAME, placed_order

CLI = [sys.executable, "-m", "api.cli"]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_cli_exports_erases_and_rewraps(
    client: TestClient[Litestar],
    services: Services,
    database: str,
    servers: ServerUrls,
    tmp_path: Path,
) -> None:
    # Given customer C-1's order
    placed_order(client, services)
    env = cli_env(database, servers, tmp_path)
    # When the master key is rotated: the new one set, the old one kept as previous
    rotated = {**env, MASTER_KEY_ENV: generate_key(), PREVIOUS_MASTER_KEY_ENV: env[MASTER_KEY_ENV]}
    rewrapped = run(rotated, "privacy", "rewrap")
    assert rewrapped.returncode == 0, rewrapped.stderr
    assert "rewrapped 2 data key" in rewrapped.stderr
    # Then the new key alone opens the customer's data: the export holds it
    rotated.pop(PREVIOUS_MASTER_KEY_ENV)
    exported = run(rotated, "customer", "export", "C-1", "-o", str(tmp_path / "c1.json"))
    assert exported.returncode == 0, exported.stderr
    document = json.loads((tmp_path / "c1.json").read_text())
    assert document["orders"][0]["customer"]["name"] == NAME
    # When an operator erases the customer
    erased = run(
        rotated, "customer", "erase", "C-1", "--legal-basis", "GDPR Art. 17", "--by", "dpo"
    )
    assert erased.returncode == 0, erased.stderr
    settle(services)
    # Then the order reads erased, and the privacy log says who asked
    assert client.get("/v1/channels/web/orders/W-1").json()["customer"]["name"] == "[erased]"
    assert services.privacy is not None
    assert [e["by"] for e in services.privacy.erasures("C-1")] == ["dpo"]
