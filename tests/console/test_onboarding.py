"""Bulk onboarding from the console and the CLI: every row checked with the domain's rules,
a per-row report, and nothing written unless every row is fine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.console.cli import cmd_onboard
from api.services import Services
from infrastructure.servers import ServerUrls
from infrastructure.settings import get_settings
from tests.conftest import count_events, issue_key, settle
from tests.console.test_console_access import csrf_of, log_in

HEADER = "type,code,name,kind,latitude,longitude,gtin,location,quantity\n"
GOOD = HEADER + (
    "location,WH-1,Main warehouse,warehouse,52.52,13.40,,,\n"
    "location,SHOP-1,City store,store,,,,,\n"
    "sku,TEE-1,Plain tee,,,,4006381333931,,\n"
    "sku,MUG-1,Mug,,,,,,\n"
    "stock,TEE-1,,,,,,WH-1,40\n"
    "stock,TEE-1,,,,,,SHOP-1,5\n"
    "stock,MUG-1,,,,,,WH-1,0\n"
)
BAD = HEADER + (
    "location,WH-1,Main warehouse,warehouse,52.52,,,,\n"  # latitude without longitude
    "sku,TEE-1,Plain tee,,,,4006381333932,,\n"  # wrong GTIN check digit
    "stock,TEE-1,,,,,,NOWHERE,4\n"  # unknown location
    "stock,TEE-1,,,,,,WH-1,-3\n"  # a count below zero
    "pallet,P-1,,,,,,,\n"  # unknown row type
    "sku,MUG-1,Mug,,,,,,\n"  # fine on its own
)


def upload(client: TestClient[Litestar], text: str, action: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/console/onboarding",
        data={"csrf": csrf_of(client, "/console/onboarding"), "action": action},
        files={"file": ("onboarding.csv", text.encode(), "text/csv")},
    )


def test_a_file_with_bad_rows_gets_a_report_per_row_and_writes_nothing(
    client: TestClient[Litestar], services: Services, database: str
) -> None:
    # Given an operator logged in to the console
    assert log_in(client, issue_key(services, "operator")).status_code == 303
    before = count_events(database)
    # When they upload a file with five bad rows and one good one, asking to apply it
    page = upload(client, BAD, "apply")
    # Then the report names each bad row's line and problem, and nothing is written
    assert page.status_code == 422
    assert "Nothing written" in page.text
    for line, words in [
        (2, "latitude and longitude go together"),
        (3, "GTIN"),
        (4, "NOWHERE"),
        (5, "quantity"),
        (6, "type must be one of"),
    ]:
        row = page.text.split(f'data-line="{line}"')[1].split("</tr>")[0]
        assert words in row, (line, row)
    assert 'data-line="7"><td class="num">7</td><td>sku</td><td>MUG-1</td><td>ok' in page.text
    assert count_events(database) == before


def test_a_good_file_is_checked_then_applied_and_an_auditor_cannot_upload(
    client: TestClient[Litestar], services: Services, database: str
) -> None:
    # Given an operator logged in
    assert log_in(client, issue_key(services, "operator")).status_code == 303
    before = count_events(database)
    # When they check a good file, then it is reported fine and nothing is written yet
    checked = upload(client, GOOD, "check")
    assert checked.status_code == 200
    assert "Nothing written yet" in checked.text
    assert count_events(database) == before
    # When they apply it, then every location, SKU and stock level is there
    applied = upload(client, GOOD, "apply")
    assert applied.status_code == 200
    assert "Written: 2 locations, 2 SKUs, 3 stock levels" in applied.text
    settle(services)
    stock = client.get("/v1/skus/TEE-1/stock").json()
    assert {row["location"]: row["on_hand"] for row in stock["locations"]} == {
        "SHOP-1": 5,
        "WH-1": 40,
    }
    # and applying it again changes no figure (counts set on hand; the rest is idempotent)
    upload(client, GOOD, "apply")
    settle(services)
    again = client.get("/v1/skus/TEE-1/stock").json()
    assert again["locations"] == stock["locations"]
    # When an auditor logs in, then the onboarding page and its upload are refused
    assert log_in(client, issue_key(services, "auditor")).status_code == 303
    assert client.get("/console/onboarding").status_code == 403


def onboard(path: Path, check: bool = False) -> int:
    return cmd_onboard(argparse.Namespace(file=str(path), check=check, verbose=False))


def test_the_cli_checks_every_row_and_writes_only_a_clean_file(
    services: Services,
    database: str,
    servers: ServerUrls,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the CLI's onboard command pointed at this test's servers (run in process: a
    # second interpreter would spend most of this test importing)
    monkeypatch.setenv("LEDGERLINE_DATABASE_URL", database)
    monkeypatch.setenv("LEDGERLINE_NATS_URL", servers.nats_url)
    get_settings.cache_clear()
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text(BAD)
    good.write_text(GOOD)
    before = count_events(database)
    try:
        # When the bad file is given, then it exits 1 naming each bad line, writing nothing
        assert onboard(bad) == 1
        lines = [json.loads(line)["line"] for line in capsys.readouterr().out.splitlines()]
        assert lines == [2, 3, 4, 5, 6]
        assert count_events(database) == before
        # When the good file is only checked, then nothing is written either
        assert onboard(good, check=True) == 0
        assert count_events(database) == before
        # When the good file is given, then it is written
        assert onboard(good) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1]) == {"written": {"location": 2, "sku": 2, "stock": 3}}
    assert count_events(database) == before + 7
