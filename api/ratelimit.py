"""A token bucket per API key: steady ``rate`` requests a second, bursts up to ``burst``."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class RateLimiter:
    """In-process: each API process limits on its own (N processes admit N times the rate)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def take(self, key: str) -> float:
        """Take one token; return 0 if allowed, else the seconds until one is free."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            if tokens >= 1:
                wait, tokens = 0.0, tokens - 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)  # the key idle longest
            return wait
