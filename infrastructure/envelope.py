"""The public envelope every event travels in beyond the event store (NATS, connectors).

Kept apart from the stored domain events: connectors depend on this shape only, so internal
refactors of aggregates do not break them. Money and decimals are strings; times RFC 3339.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import msgspec

from infrastructure.eventstore import EventMeta

SUBJECT_PREFIX = "ledgerline.events"
STREAM_NAME = "LEDGERLINE_EVENTS"
ENVELOPE_VERSION = 1


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    schema_version: int
    stream_type: str
    stream_id: str
    stream_version: int
    log: str
    position: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    channel: str | None
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]
    hash: str | None = None  # set once the audit hash chain lands (issue 9)
    prev_hash: str | None = None

    @property
    def subject(self) -> str:
        return f"{SUBJECT_PREFIX}.{self.stream_type}.{self.type}"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def envelope(event: Any, meta: EventMeta, log: str, position: int) -> Envelope:
    """Wrap a decoded domain event (from ``LedgerMapper.decode``) for the outside world."""
    qualname = type(event).__qualname__  # e.g. "Inventory.StockReserved"
    stream_type, _, event_type = qualname.rpartition(".")
    state = dict(vars(event))
    stream_id = state.pop("originator_id")
    stream_version = state.pop("originator_version")
    timestamp: datetime = state.pop("timestamp")
    return Envelope(
        id=str(meta.event_id),
        type=event_type,
        schema_version=meta.schema_version,
        stream_type=stream_type.lower() or "unknown",
        stream_id=str(stream_id),
        stream_version=stream_version,
        log=log,
        position=position,
        occurred_at=timestamp,
        recorded_at=timestamp,
        actor=meta.actor,
        channel=meta.channel,
        correlation_id=meta.correlation_id,
        causation_id=meta.causation_id,
        data=_plain(state),
    )
