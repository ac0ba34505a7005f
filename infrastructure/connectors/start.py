"""Where a connector starts: new events only, the beginning, a stream sequence, or a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from nats.js.api import ConsumerConfig, DeliverPolicy


@dataclass(frozen=True)
class Start:
    kind: Literal["new", "beginning", "seq", "time"]
    sequence: int | None = None  # a LEDGERLINE_EVENTS stream sequence, for "seq"
    time: datetime | None = None  # for "time": events that occurred at or after it

    @classmethod
    def parse(cls, text: str) -> Start:
        """``new``, ``beginning``, ``seq:N`` or ``time:<RFC 3339>``."""
        if text in ("new", "beginning"):
            return cls(text)  # type: ignore[arg-type]
        kind, _, value = text.partition(":")
        if kind == "seq" and value.isdigit() and int(value) >= 1:
            return cls("seq", sequence=int(value))
        if kind == "time" and value:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if when.tzinfo is None:
                raise ValueError(f"time needs a zone, e.g. 2026-01-01T00:00:00Z: {text!r}")
            return cls("time", time=when.astimezone(UTC))
        raise ValueError(f"start must be new, beginning, seq:N or time:RFC3339, got {text!r}")

    @property
    def needs_history(self) -> bool:
        """Whether events older than JetStream's retention may be wanted (from PostgreSQL)."""
        return self.kind in ("beginning", "time")

    def apply(self, config: ConsumerConfig) -> ConsumerConfig:
        if self.kind == "new":
            config.deliver_policy = DeliverPolicy.NEW
        elif self.kind == "beginning":
            config.deliver_policy = DeliverPolicy.ALL
        elif self.kind == "seq":
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self.sequence
        else:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = self.time
        return config
