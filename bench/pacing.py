"""A write load at a fixed rate, spread over a few writer threads, with each commit's time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from application.inventory import InventoryApp


def paced_receives(
    app: InventoryApp,
    rate: float,
    seconds: float,
    writers: int,
    skus: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[tuple[int, float]], float]:
    """Receive one unit of ``SKU-<n % skus>`` at WH1 ``rate`` times a second for ``seconds``.

    Write ``n`` is due at ``start + n / rate`` and taken by writer ``n % writers``; a writer
    that falls behind does not sleep until it has caught up, so the achieved rate shows how
    far the application layer keeps up. Returns (log position, when the command returned)
    per write (by ``clock``), and the achieved rate.
    """
    interval = 1.0 / rate
    total = int(rate * seconds)
    commits: list[list[tuple[int, float]]] = [[] for _ in range(writers)]
    start_line = threading.Barrier(writers + 1)
    started = 0.0

    def writer(i: int) -> None:
        start_line.wait()
        for n in range(i, total, writers):
            due = started + n * interval
            if (pause := due - time.perf_counter()) > 0:
                time.sleep(pause)
            if time.perf_counter() - started > seconds * 3:
                return  # far behind: stop rather than run for minutes
            outcome = app.receive(f"SKU-{n % skus}", "WH1", 1)
            assert outcome.position is not None
            commits[i].append((outcome.position, clock()))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    start_line.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = sorted(c for per in commits for c in per)
    return flat, len(flat) / elapsed
