"""Settings, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import platformdirs


@dataclass(frozen=True)
class Settings:
    database_url: str | None  # None: start the embedded PostgreSQL
    nats_url: str | None  # None: start the embedded nats-server
    data_dir: Path  # where embedded servers keep their data
    host: str
    port: int
    log_level: str
    max_body_bytes: int
    pool_size: int
    rate_per_second: float  # per API key and API process
    rate_burst: int
    price_tolerance_percent: Decimal  # how far a channel's shown price may be off
    payment_window_seconds: int  # an unpaid order's holds lapse after this long
    location_priority: dict[str, int]  # routing tie-breaker after distance, lower first
    retention_ship_to_days: int | None = None  # erase ship-to addresses this long after delivery


def _priorities(raw: str) -> dict[str, int]:
    """``NORTH=1,SOUTH=2`` as {"NORTH": 1, "SOUTH": 2}."""
    found = {}
    for item in raw.split(","):
        if item.strip():
            code, _, rank = item.partition("=")
            found[code.strip()] = int(rank)
    return found


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    data_dir = os.environ.get("LEDGERLINE_DATA_DIR") or platformdirs.user_data_dir("ledgerline")
    return Settings(
        database_url=os.environ.get("LEDGERLINE_DATABASE_URL") or None,
        nats_url=os.environ.get("LEDGERLINE_NATS_URL") or None,
        data_dir=Path(data_dir).expanduser(),
        host=os.environ.get("LEDGERLINE_HOST", "127.0.0.1"),
        port=_int("LEDGERLINE_PORT", 8000),
        log_level=os.environ.get("LEDGERLINE_LOG_LEVEL", "info"),
        max_body_bytes=_int("LEDGERLINE_MAX_BODY_BYTES", 64 * 1024),
        pool_size=_int("LEDGERLINE_POOL_SIZE", 8),
        rate_per_second=float(os.environ.get("LEDGERLINE_RATE_PER_SECOND") or 200),
        rate_burst=_int("LEDGERLINE_RATE_BURST", 400),
        price_tolerance_percent=Decimal(os.environ.get("LEDGERLINE_PRICE_TOLERANCE_PERCENT") or 0),
        payment_window_seconds=_int("LEDGERLINE_PAYMENT_WINDOW_SECONDS", 1800),
        location_priority=_priorities(os.environ.get("LEDGERLINE_LOCATION_PRIORITY", "")),
        retention_ship_to_days=(
            _int("LEDGERLINE_RETENTION_SHIP_TO_DAYS", 0)
            if os.environ.get("LEDGERLINE_RETENTION_SHIP_TO_DAYS")
            else None
        ),
    )
