"""As-of reconstruction: any aggregate, a channel's ATP and its prices, at a past moment.

Everything here is computed from the log, never from a read model's stored rows: the
stream's events up to a version or a time are replayed into the domain aggregate
(eventsourcing's ``mutate``), and the figures a channel was shown are asked of the replayed
aggregates with the domain's own functions (``Inventory.available_to_promise`` for ATP,
``domain.pricing.quote`` through :func:`projections.price_queries.evaluate` for prices). So
a read model that was wrong, or rebuilt, cannot change what the audit says was true.

"At T" means: the events recorded at or before T (their stored timestamp), asked about T.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier

from domain.errors import InvalidValue, UnknownChannel
from domain.inventory import Inventory
from domain.network import Channel
from domain.price_floors import PriceFloors
from domain.price_list import PriceList
from domain.promotion import Promotion
from infrastructure.eventstore import EventMeta, events_table, make_mapper
from infrastructure.privacy import reveal_states_async
from projections.price_queries import Inputs, evaluate

_MAPPER = make_mapper()


@dataclasses.dataclass(frozen=True)
class Recorded:
    """A decoded stored event with its metadata and log position."""

    event: Any
    meta: EventMeta
    position: int


async def _table_exists(conn: psycopg.AsyncConnection[Any], log: str) -> bool:
    cur = await conn.execute("SELECT to_regclass(%s)", (events_table(log),))
    row = await cur.fetchone()
    return row is not None and row[0] is not None


def _decode(row: tuple[Any, ...]) -> Recorded:
    position, stream, version, topic, state = row
    event, meta = _MAPPER.decode(StoredEvent(stream, version, topic, bytes(state)))
    return Recorded(event, meta, int(position))


async def stream_events(
    conn: psycopg.AsyncConnection[Any],
    log: str,
    stream: UUID,
    *,
    version: int | None = None,
    at: datetime | None = None,
) -> list[Recorded]:
    """The stream's events up to ``version`` and recorded at or before ``at``."""
    if not await _table_exists(conn, log):
        return []
    cur = await conn.execute(
        SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE originator_id = %s AND originator_version <= %s ORDER BY originator_version"
        ).format(Identifier(events_table(log))),
        (stream, version if version is not None else 2**62),
    )
    found = []
    rows = await cur.fetchall()
    # Personal fields as readers see them: revealed, or "[erased]" once the key is destroyed.
    states = await reveal_states_async(conn, [bytes(row[4]) for row in rows])
    for row, state in zip(rows, states, strict=True):
        recorded = _decode((*row[:4], state))
        if at is not None and recorded.event.timestamp > at:
            break  # a stream's events are recorded in version order
        found.append(recorded)
    return found


def replay(events: Sequence[Recorded]) -> Any:
    """The aggregate the events make (None for no events), by the domain's own mutators."""
    aggregate = None
    for recorded in events:
        aggregate = recorded.event.mutate(aggregate)
    return aggregate


async def aggregate_at(
    conn: psycopg.AsyncConnection[Any],
    log: str,
    stream: UUID,
    *,
    version: int | None = None,
    at: datetime | None = None,
) -> Any:
    """The stream's aggregate as of ``version`` / ``at`` (None if it did not exist yet)."""
    return replay(await stream_events(conn, log, stream, version=version, at=at))


def plain(value: Any) -> Any:
    """JSON builtins of an aggregate's attributes: decimals and times as strings, enums as
    their values, keys that are not strings (a tuple, a number) as text."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v) for v in value), key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, datetime):
        return msgspec.to_builtins(value)
    return value


def state_view(aggregate: Any) -> dict[str, Any]:
    """A JSON view of an aggregate: its type, id, version, times and every public attribute."""
    return {
        "type": type(aggregate).__name__,
        "id": str(aggregate.id),
        "version": aggregate.version,
        "created_on": msgspec.to_builtins(aggregate.created_on),
        "modified_on": msgspec.to_builtins(aggregate.modified_on),
        "state": plain({k: v for k, v in vars(aggregate).items() if not k.startswith("_")}),
    }


async def atp_at(
    conn: psycopg.AsyncConnection[Any], channel: str, skus: Sequence[str], at: datetime
) -> dict[str, Any]:
    """What ``channel`` could promise of each SKU at ``at``: the channel's locations and each
    SKU's stock, holds and buffers replayed to ``at``; a hold lapsed by ``at`` counts as free."""
    found = await aggregate_at(conn, "inventory", Channel.create_id(channel), at=at)
    if not isinstance(found, Channel):
        raise UnknownChannel(f"no channel {channel!r} at {at.isoformat()}", channel=channel)
    items, unknown = [], []
    for sku in sorted(set(skus)):
        inventory = await aggregate_at(conn, "inventory", Inventory.create_id(sku), at=at)
        if not isinstance(inventory, Inventory):
            unknown.append(sku)
            continue
        items.append(
            {
                "sku": sku,
                "available": inventory.available_to_promise(channel, found.locations, now=at),
                "stream_version": inventory.version,
            }
        )
    return {
        "channel": channel,
        "at": msgspec.to_builtins(at),
        "locations": list(found.locations),
        "items": items,
        "unknown_skus": unknown,
    }


async def pricing_aggregates(conn: psycopg.AsyncConnection[Any], at: datetime) -> list[Any]:
    """Every pricing aggregate (lists, promotions, floors, rules) replayed to ``at``."""
    if not await _table_exists(conn, "pricing"):
        return []
    events: dict[UUID, list[Recorded]] = {}
    stopped: set[UUID] = set()
    async with conn.transaction(), conn.cursor(name="as_of_pricing") as cur:
        await cur.execute(
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                "ORDER BY originator_id, originator_version"
            ).format(Identifier(events_table("pricing")))
        )
        async for row in cur:
            if row[1] in stopped:
                continue
            recorded = _decode(row)
            if recorded.event.timestamp > at:
                stopped.add(row[1])
                continue
            events.setdefault(row[1], []).append(recorded)
    return [replay(stream) for stream in events.values()]


def price_inputs(
    aggregates: Sequence[Any],
    channel: str,
    skus: Sequence[str],
    at: datetime,
    currency: str | None = None,
) -> Inputs:
    """What the pricing evaluation needs at ``at``, from replayed aggregates: the same
    fields the read model's queries select (list version and status as known at ``at``, the
    deciding layer, each promotion's terms as known at ``at``, the floor in force)."""
    inputs = Inputs()
    floors = {a.currency: a for a in aggregates if isinstance(a, PriceFloors)}
    for found in aggregates:
        if isinstance(found, Promotion):
            terms = found.terms_at(at)
            if terms is not None:
                inputs.promotions.append(terms)
        if not isinstance(found, PriceList) or found.channel != channel:
            continue
        if currency is not None and found.currency != currency:
            continue
        versions = [version for recorded_at, version in found.versions if recorded_at <= at]
        status = found.status_at(at)
        if not versions or status is None:
            continue
        inputs.lists[found.currency] = (versions[-1], status.value)
        for sku in skus:
            layer = found.layer_at(sku, at)
            if layer is not None:
                inputs.layers[(found.currency, sku)] = {
                    "amount": layer.amount,
                    "version": layer.version,
                    "valid_from": layer.valid_from,
                    "valid_until": layer.valid_until,
                    "source": layer.source,
                    "clamped_from": layer.clamped_from,
                }
            book = floors.get(found.currency)
            inputs.floors[(found.currency, sku)] = None if book is None else book.floor_at(sku, at)
    inputs.promotions.sort(key=lambda terms: terms.promotion_id)
    return inputs


async def prices_at(
    conn: psycopg.AsyncConnection[Any],
    channel: str,
    skus: Sequence[str],
    at: datetime,
    currency: str | None = None,
) -> dict[str, Any]:
    """The prices ``channel`` showed at ``at``, in the live API's shape, from the log."""
    aggregates = await pricing_aggregates(conn, at)
    inputs = price_inputs(aggregates, channel, sorted(set(skus)), at, currency)
    return {
        "channel": channel,
        "at": msgspec.to_builtins(at),
        "items": evaluate(channel, sorted(set(skus)), at, inputs, currency),
        "promotions_in_force": [
            plain(terms)
            for terms in inputs.promotions
            if terms.valid_from <= at and (terms.valid_until is None or at < terms.valid_until)
        ],
    }


def check_moment(at: datetime | None, version: int | None) -> None:
    if (at is None) == (version is None):
        raise InvalidValue("give exactly one of at= or version=", field="at")
    if at is not None and at.tzinfo is None:
        raise InvalidValue("at must carry a time zone (RFC 3339)", field="at")
    if version is not None and version < 1:
        raise InvalidValue("version counts from 1", field="version")
