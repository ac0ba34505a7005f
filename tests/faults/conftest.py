"""The fault suite: each check records what it counted, and the run ends with that table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.support import REPORTS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORTS:
        return
    terminalreporter.section("fault checks: what each verified")
    for line in REPORTS:
        terminalreporter.write_line(line)
