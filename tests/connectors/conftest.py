"""Connector tests: each gets a nats-server of its own, so streams never mix between tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.servers import EmbeddedNats


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "nats").mkdir()
    server = EmbeddedNats(tmp_path / "nats")
    try:
        yield server.url
    finally:
        server.close()
