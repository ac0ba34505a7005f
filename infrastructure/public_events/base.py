"""The public event contract's building blocks: the base type, money, and the registry.

Stored domain events are private: aggregates may rename or reshape them freely. What leaves
the event store is a public type of this package, made from the stored event by an explicit
converter. A change to a stored event therefore changes one converter, never a connector.

Each stream type lives in a module of its own (``inventory.py``, ``network.py``, ...), which
declares a :class:`StreamType` and registers one public type and converter per event with
:meth:`StreamType.event`. Adding a stream type is adding such a module: the package imports
every module in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import msgspec


class PublicEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every public event type: frozen, keyword-only, unknown fields tolerated."""


class Money(msgspec.Struct, frozen=True, kw_only=True):
    """An amount of money: a decimal string (never a float) and its ISO 4217 currency."""

    amount: Annotated[str, msgspec.Meta(pattern=r"^-?\d+(\.\d+)?$", examples=["12.50"])]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", examples=["EUR"])]

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        return cls(amount=str(amount), currency=currency)


# A converter turns a stored domain event (and its stream's natural key, e.g. the SKU, which
# later events of a stream do not repeat) into its public type.
Converter = Callable[[Any, str], PublicEvent]
C = TypeVar("C", bound=Converter)


@dataclass(frozen=True)
class EventType:
    stream_type: str
    name: str
    version: int
    struct: type[PublicEvent]
    # The stored domain event it is made from ("Inventory.StockReceived"), or None for a
    # message a connector emits (it has no stored event).
    stored: str | None
    convert: Converter | None
    log: str = "inventory"  # the application log its stored events are in

    @property
    def subject(self) -> str:
        return f"ledgerline.events.{self.stream_type}.{self.name}"

    @property
    def schema_file(self) -> str:
        return f"{self.stream_type}.{self.name}.v{self.version}.json"


class UnknownEventType(LookupError):
    """A stored event without a public type: publishing it would leak its private shape."""


# Every registered type, by (stream_type, name, version), and by stored event qualname.
TYPES: dict[tuple[str, str, int], EventType] = {}
BY_STORED: dict[str, EventType] = {}
# Aggregate class name -> the natural key its stream's first event holds (None for others).
KEYS: dict[str, Callable[[Any], str | None]] = {}


class StreamType:
    """One stream type of the public contract, e.g. ``inventory`` (one stream per SKU)."""

    def __init__(
        self,
        name: str,
        *,
        aggregate: str | None,
        key: str | Callable[[Any], str],
        log: str = "inventory",
    ) -> None:
        self.name = name
        self.log = log
        self.aggregate = aggregate  # the stored aggregate's class name, e.g. "Inventory"
        # The natural key: an attribute of the stream's first stored event, or a function of
        # that event for composite keys (a price list is "<channel>:<currency>").
        self.key = key
        if aggregate is not None:
            KEYS[aggregate] = _key_reader(key)

    def event(
        self,
        struct: type[PublicEvent],
        *,
        name: str | None = None,
        version: int = 1,
        stored: str | None = None,
    ) -> Callable[[C], C]:
        """Register ``struct`` with the converter it decorates.

        ``name`` defaults to the struct's name; ``stored`` to the aggregate's event of that
        name. A breaking change registers a new ``version`` beside the old one, whose schema
        stays documented; the highest version is what gets published.
        """
        public_name = name or struct.__name__
        stored_name = stored or f"{self.aggregate}.{public_name}"

        def register(convert: C) -> C:
            self._add(
                EventType(self.name, public_name, version, struct, stored_name, convert, self.log)
            )
            return convert

        return register

    def emitted(
        self, struct: type[PublicEvent], *, name: str | None = None, version: int = 1
    ) -> None:
        """Register a type that a connector emits rather than one converted from the log."""
        self._add(
            EventType(self.name, name or struct.__name__, version, struct, None, None, self.log)
        )

    def _add(self, event_type: EventType) -> None:
        key = (event_type.stream_type, event_type.name, event_type.version)
        if key in TYPES:
            raise ValueError(f"public event type {key} registered twice")
        TYPES[key] = event_type
        if event_type.stored is not None:
            current = BY_STORED.get(event_type.stored)
            if current is None or current.version < event_type.version:
                BY_STORED[event_type.stored] = event_type


def _key_reader(key: str | Callable[[Any], str]) -> Callable[[Any], str | None]:
    first = "originator_topic"  # only a stream's first (created) event has it

    def read(event: Any) -> str | None:
        if first not in vars(event):
            return None
        if callable(key):
            return key(event)
        found: str = getattr(event, key)
        return found

    return read


def utc(value: datetime) -> datetime:
    """Times leave as RFC 3339 UTC, whatever zone they were recorded in."""
    return value.astimezone(UTC)


def optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
