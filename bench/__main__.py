"""``python -m bench [--quick] [--only NAME ...]``: run the scenarios, write bench/results/."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bench.harness import Result, servers, write
from bench.scenarios import audit, fanout, reads, rebuild, writes
from infrastructure.servers import ServerUrls

SCENARIOS: dict[str, Callable[[ServerUrls, bool], Result]] = {
    "hot_sku": writes.hot_sku,
    "append_1": lambda urls, quick: writes.append(urls, quick, clients=1),
    "append_16": lambda urls, quick: writes.append(urls, quick, clients=16),
    "read_api": reads.read_api,
    "projection_lag": reads.projection_lag,
    "fanout": fanout.fanout,
    "rebuild": rebuild.rebuild,
    "audit_verify": audit.verify,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="every scenario briefly (CI)")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=None)
    args = parser.parse_args(argv)
    chosen = args.only or list(SCENARIOS)
    results: list[Result] = []
    started = time.perf_counter()
    with servers() as urls:
        for name in chosen:
            t0 = time.perf_counter()
            result = SCENARIOS[name](urls, args.quick)
            results.append(result)
            print(
                f"{name}: {result.value:,.1f} {result.unit} vs {result.baseline_value:,.1f} "
                f"({result.baseline}) = {result.ratio}x  [{time.perf_counter() - t0:.1f}s]",
                flush=True,
            )
    table = write(results)
    print(f"wrote {len(results)} results and {table} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
