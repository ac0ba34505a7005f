"""The public event contract: what every event looks like beyond the event store.

``to_envelope`` turns a stored domain event into the :class:`~infrastructure.envelope.Envelope`
the relay publishes, with ``data`` made by the event's registered public type; ``decode``
gives a consumer that type back. ``python -m infrastructure.public_events`` writes
``docs/events.md`` and ``docs/schemas/`` from the registered types.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import msgspec

from infrastructure.envelope import Envelope
from infrastructure.eventstore import EventMeta
from infrastructure.public_events.base import (
    BY_STORED,
    KEYS,
    TYPES,
    EventType,
    Money,
    PublicEvent,
    StreamType,
    UnknownEventType,
    utc,
)

__all__ = [
    "EventType",
    "Money",
    "PublicEvent",
    "StreamType",
    "UnknownEventType",
    "decode",
    "event_type_of",
    "key_of",
    "registered",
    "to_envelope",
]

# Modules of this package that are machinery rather than a stream type's events.
_MACHINERY = {"base", "docs", "__main__"}


def _load() -> None:
    """Import every stream type module, so adding one needs no edit elsewhere."""
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _MACHINERY:
            importlib.import_module(f"{__name__}.{module.name}")


_load()


def registered() -> list[EventType]:
    """Every public event type and version, in a stable order."""
    return [TYPES[key] for key in sorted(TYPES)]


def key_of(event: Any) -> str | None:
    """The natural key a stream's first stored event holds; None for any other event."""
    reader = KEYS.get(type(event).__qualname__.rpartition(".")[0])
    return None if reader is None else reader(event)


def to_envelope(event: Any, meta: EventMeta, log: str, position: int, key: str) -> Envelope:
    """Wrap a decoded stored event, converted to its public type, for the outside world."""
    stored = type(event).__qualname__  # e.g. "Inventory.StockReserved"
    event_type = BY_STORED.get(stored)
    if event_type is None or event_type.convert is None:
        raise UnknownEventType(f"{stored} has no public event type")
    public = event_type.convert(event, key)
    occurred = utc(event.timestamp)
    return Envelope(
        id=str(meta.event_id),
        type=event_type.name,
        schema_version=event_type.version,
        stream_type=event_type.stream_type,
        stream_id=str(event.originator_id),
        stream_version=event.originator_version,
        log=log,
        position=position,
        occurred_at=occurred,
        # The store keeps one timestamp per event; both say when it was recorded.
        recorded_at=occurred,
        actor=meta.actor,
        channel=meta.channel,
        correlation_id=meta.correlation_id,
        causation_id=meta.causation_id,
        data=msgspec.to_builtins(public),
    )


def event_type_of(envelope: Envelope) -> EventType:
    found = TYPES.get((envelope.stream_type, envelope.type, envelope.schema_version))
    if found is None:
        raise UnknownEventType(
            f"{envelope.stream_type}.{envelope.type} v{envelope.schema_version} is not known"
        )
    return found


def decode(envelope: Envelope) -> PublicEvent:
    """The envelope's ``data`` as its public type (validated)."""
    return msgspec.convert(envelope.data, event_type_of(envelope).struct)
