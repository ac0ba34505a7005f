"""The wire types every event travels in beyond the event store (NATS, connectors).

Kept apart from the stored domain events: connectors depend on these shapes and on the
public event types (``infrastructure.public_events``) only, so internal refactors of
aggregates do not break them. Money and decimals are strings; times RFC 3339 UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

# msgspec's schema for datetime says only "string"; connector authors need the format.
Time = Annotated[
    datetime, msgspec.Meta(description="RFC 3339, UTC", extra_json_schema={"format": "date-time"})
]

Hash = Annotated[str, msgspec.Meta(description="SHA-256, 64 hex digits")]

SUBJECT_PREFIX = "ledgerline.events"
STREAM_NAME = "LEDGERLINE_EVENTS"
ENVELOPE_VERSION = 1
DEADLETTER_PREFIX = "ledgerline.deadletter"
DEADLETTER_STREAM = "LEDGERLINE_DEADLETTER"


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """One event, its identity, its place in its stream and log, and who caused it.

    `id` is unique per event (and the `Nats-Msg-Id`); `stream_version` orders the events
    of one stream (1, 2, ...); `position` orders the events of one `log` with no gaps.
    `schema_version` is the version of the `data` type. `hash` is the event's audit hash
    (SHA-256, hex) chained to `prev_hash`, the hash of the stream's previous event (64 zeros
    for version 1): see docs/audit.md. They are null only for an event stored before the
    chain existed whose log has not been hashed yet.
    """

    id: str
    type: str
    schema_version: int
    stream_type: str
    stream_id: str
    stream_version: int
    log: str
    position: int
    occurred_at: Time
    recorded_at: Time
    actor: str
    channel: str | None
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]
    hash: Hash | None = None
    prev_hash: Hash | None = None

    @property
    def subject(self) -> str:
        return f"{SUBJECT_PREFIX}.{self.stream_type}.{self.type}"


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An event a connector gave up on, with why and after how many attempts.

    `stream_sequence` is the event's sequence in `LEDGERLINE_EVENTS` (null when it came
    from the PostgreSQL backfill). The `Nats-Msg-Id` is `<connector>:<envelope id>`.
    """

    connector: str
    reason: str
    attempts: int
    failed_at: Time
    stream_sequence: int | None
    envelope: Envelope
