"""Imports point inward: domain imports none of ours; application only domain; and so on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"domain", "application", "infrastructure", "projections", "api"}
ALLOWED = {
    "domain": set(),
    "application": {"domain"},
    "infrastructure": {"domain", "application"},
    "projections": {"domain", "application", "infrastructure"},
    "api": OURS,
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_inside_it(layer: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) - ALLOWED[layer] - {layer})
        for path in (ROOT / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_domain_does_no_io_and_reads_no_clock() -> None:
    forbidden = (
        "psycopg",
        "nats",
        "litestar",
        "socket",
        "open(",
        "datetime.now",
        "time.time",
        "uuid4",
        "os.environ",
    )
    for path in (ROOT / "domain").rglob("*.py"):
        text = path.read_text()
        assert not [word for word in forbidden if word in text], path
