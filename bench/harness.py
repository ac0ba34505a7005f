"""What every scenario shares: servers, fresh databases, timing, results files."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import percentile as percentile  # re-exported for the scenarios
from bench.stats import summary_ms as summary_ms
from infrastructure.servers import ServerUrls, running_servers, temporary_database
from infrastructure.settings import Settings, get_settings

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    scenario: str
    figure: str
    unit: str
    value: float
    baseline: str
    baseline_value: float
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return round(self.value / self.baseline_value, 3) if self.baseline_value else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "machine": machine()}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@contextmanager
def servers() -> Iterator[ServerUrls]:
    """The configured servers, or embedded ones in a throw-away data folder."""
    base = get_settings()
    with tempfile.TemporaryDirectory(prefix="ledgerline-bench-") as data:
        settings = Settings(**{**asdict(base), "data_dir": Path(data)})
        with running_servers(settings) as urls:
            yield urls


def fresh_database(urls: ServerUrls) -> AbstractContextManager[str]:
    return temporary_database(urls.database_url, "bench")


def write(results: list[Result]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    for result in results:
        path = RESULTS / f"{result.scenario}.json"
        path.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    table = RESULTS / "results.md"
    lines = [
        "| scenario | figure | value | baseline | baseline value | ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.figure} | {r.value:,.1f} {r.unit} | {r.baseline} "
            f"| {r.baseline_value:,.1f} {r.unit} | {r.ratio} |"
        )
    table.write_text("\n".join(lines) + "\n")
    return table
