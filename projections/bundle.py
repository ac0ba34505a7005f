"""Dispute bundles: everything about one order or booking, verifiable without our database.

A bundle is one JSON document (format in docs/audit.md, "Dispute bundles"):

- ``events``: every stored event it rests on, each with its stored bytes (base64), the
  fields its hash covers, its ``prev_hash`` and ``hash``, and its public envelope for reading;
- ``evidence``: what those events meant, reconstructed from the log (projections.as_of): the
  order's or booking's state, the prices and promotions in force and the ATP the channel saw
  when it was placed, the routing and holds (Allocation), confirmation documents, and the
  connector deliveries recorded for its events;
- ``proofs``: per log, the hashes of every event from the bundle's first event of that log
  up to the first signed checkpoint at or after its last one, so the log chain can be folded
  to the checkpoint's signed ``log_hash``; and the checkpoint itself, with ``public_key``;
- ``digest``: SHA-256 of the canonical JSON of everything else.

``infrastructure.audit.bundle_check`` verifies one offline.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from psycopg.sql import SQL, Identifier

from application.bookings import booking_view
from application.orders import order_view
from domain.allocation import allocation_id
from domain.booking import Booking, UnknownBooking
from domain.inventory import Inventory
from domain.order import Order, UnknownOrder
from domain.resource import Resource
from infrastructure.audit.bundle_check import BUNDLE_FORMAT, bundle_digest
from infrastructure.audit.chain import ZERO
from infrastructure.audit.checkpoints import COLUMNS, as_checkpoint
from infrastructure.audit.writer import hashes_table
from infrastructure.eventstore import events_table
from infrastructure.log_reader import LogReader
from projections.as_of import Recorded, atp_at, plain, prices_at, replay, stream_events


async def _exists(conn: psycopg.AsyncConnection[Any], table: str) -> bool:
    cur = await conn.execute("SELECT to_regclass(%s)", (table,))
    row = await cur.fetchone()
    return row is not None and row[0] is not None


async def _event_records(
    conn: psycopg.AsyncConnection[Any], log: str, positions: list[int]
) -> list[dict[str, Any]]:
    """The bundle's record of each event at ``positions`` of ``log``."""
    if not positions:
        return []
    cur = await conn.execute(
        SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, "
            "h.hash, h.prev_hash FROM {} e LEFT JOIN {} h USING (notification_id) "
            "WHERE e.notification_id = ANY(%s) ORDER BY e.notification_id"
        ).format(Identifier(events_table(log)), Identifier(hashes_table(log))),
        (positions,),
    )
    rows = await cur.fetchall()
    reader = LogReader(log)
    envelopes = await reader.envelopes(conn, list(rows))
    return [
        {
            "log": log,
            "position": position,
            "stream_id": str(stream),
            "version": version,
            "topic": topic,
            "state": base64.b64encode(bytes(state)).decode(),
            "key": reader.keys[stream],
            "prev_hash": None if prev is None else bytes(prev).hex(),
            "hash": None if hash_ is None else bytes(hash_).hex(),
            "envelope": msgspec.to_builtins(envelope),
        }
        for (position, stream, version, topic, state, hash_, prev), envelope in zip(
            rows, envelopes, strict=True
        )
    ]


async def _proof(
    conn: psycopg.AsyncConnection[Any], log: str, positions: list[int]
) -> dict[str, Any]:
    """The log chain from the first of ``positions`` to the first checkpoint covering the
    last; ``checkpoint`` is None when no signed checkpoint covers it yet."""
    first, last = min(positions), max(positions)
    checkpoint = None
    if await _exists(conn, "audit_checkpoints"):
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM audit_checkpoints WHERE log = %s AND position >= %s"  # noqa: S608 - constant
            " ORDER BY position LIMIT 1",
            (log, last),
        )
        row = await cur.fetchone()
        checkpoint = None if row is None else as_checkpoint(row)
    hashes = Identifier(hashes_table(log))
    cur = await conn.execute(
        SQL(
            "SELECT log_hash FROM {} WHERE notification_id < %s "
            "ORDER BY notification_id DESC LIMIT 1"
        ).format(hashes),
        (first,),
    )
    before = await cur.fetchone()
    cur = await conn.execute(
        SQL(
            "SELECT notification_id, hash FROM {} WHERE notification_id >= %s "
            "AND notification_id <= %s ORDER BY notification_id"
        ).format(hashes),
        (first, checkpoint.position if checkpoint else last),
    )
    return {
        "log_hash_before": (ZERO if before is None else bytes(before[0])).hex(),
        "chain": [[int(p), bytes(h).hex()] for p, h in await cur.fetchall()],
        "checkpoint": None if checkpoint is None else msgspec.to_builtins(checkpoint),
    }


async def _deliveries(
    conn: psycopg.AsyncConnection[Any], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """What the connector runtime recorded handling for these events (connector_handled)."""
    if not await _exists(conn, "connector_handled"):
        return []
    ids = [UUID(record["envelope"]["id"]) for record in events]
    cur = await conn.execute(
        "SELECT connector, event_id, log, position, outcome, reason, handled_at "
        "FROM connector_handled WHERE event_id = ANY(%s) ORDER BY handled_at, connector",
        (ids,),
    )
    return [
        {
            "connector": connector,
            "event_id": str(event_id),
            "log": log,
            "position": position,
            "outcome": outcome,
            "reason": reason,
            "handled_at": msgspec.to_builtins(handled_at.astimezone(UTC)),
        }
        for connector, event_id, log, position, outcome, reason, handled_at in await cur.fetchall()
    ]


async def _assemble(
    conn: psycopg.AsyncConnection[Any],
    subject: dict[str, Any],
    recorded: dict[str, Iterable[Recorded]],
    evidence: dict[str, Any],
    public_key: str | None,
    now: datetime,
) -> dict[str, Any]:
    events: list[dict[str, Any]] = []
    proofs: dict[str, Any] = {}
    for log, items in recorded.items():
        positions = sorted({item.position for item in items})
        if positions:
            events.extend(await _event_records(conn, log, positions))
            proofs[log] = await _proof(conn, log, positions)
    evidence["connector_deliveries"] = await _deliveries(conn, events)
    bundle: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "subject": subject,
        "created_at": msgspec.to_builtins(now.astimezone(UTC)),
        "public_key": public_key,
        "events": events,
        "evidence": plain(evidence),
        "proofs": proofs,
    }
    # Through JSON once, so the digest is of exactly what a reader of the file gets.
    bundle = json.loads(json.dumps(bundle))
    bundle["digest"] = bundle_digest(bundle)
    return bundle


async def order_bundle(
    conn: psycopg.AsyncConnection[Any], order_id: UUID, public_key: str | None, now: datetime
) -> dict[str, Any]:
    """The dispute bundle of one order."""
    order_events = await stream_events(conn, "orders", order_id)
    order = replay(order_events)
    if not isinstance(order, Order):
        raise UnknownOrder(f"no order {order_id}", order_id=str(order_id))
    skus = sorted({line["sku"] for line in order.lines})
    allocation_events = await stream_events(conn, "inventory", allocation_id(order_id))
    allocation = replay(allocation_events)
    holds = {
        item["reservation_id"]
        for shipment in (order.shipments or {}).values()
        for item in shipment["lines"]
    }
    if allocation is not None:
        holds |= {
            item["reservation_id"]
            for shipment in allocation.shipments.values()
            for item in shipment["lines"]
        }
    stock_events: list[Recorded] = []
    for sku in skus:
        for item in await stream_events(conn, "inventory", Inventory.create_id(sku)):
            if getattr(item.event, "reservation_id", None) in holds:
                stock_events.append(item)
    placed = order.placed_at
    evidence = {
        "state": order_view(order),
        "prices_at_placement": await prices_at(conn, order.channel, skus, placed, order.currency),
        "atp_at_placement": await atp_at(conn, order.channel, skus, placed),
        "allocation": None
        if allocation is None
        else plain({k: v for k, v in vars(allocation).items() if not k.startswith("_")}),
        "reservations": [
            {
                "position": item.position,
                "event": type(item.event).__name__,
                **plain(
                    {k: v for k, v in vars(item.event).items() if not k.startswith("originator")}
                ),
            }
            for item in stock_events
        ],
    }
    subject = {
        "kind": "order",
        "id": str(order_id),
        "channel": order.channel,
        "number": order.order_number,
    }
    return await _assemble(
        conn,
        subject,
        {"orders": order_events, "inventory": [*allocation_events, *stock_events]},
        evidence,
        public_key,
        now,
    )


async def booking_bundle(
    conn: psycopg.AsyncConnection[Any], booking_id: UUID, public_key: str | None, now: datetime
) -> dict[str, Any]:
    """The dispute bundle of one booking (its events, its resources' capacity events for it,
    its confirmation documents, and the rate and prices in force when it was held)."""
    booking_events = await stream_events(conn, "bookings", booking_id)
    booking = replay(booking_events)
    if not isinstance(booking, Booking):
        raise UnknownBooking(f"no booking {booking_id}", booking_id=str(booking_id))
    resources = {booking.resource} | {
        getattr(item.event, "resource", booking.resource) for item in booking_events
    }
    capacity: list[Recorded] = []
    for code in sorted(resources):
        for item in await stream_events(conn, "bookings", Resource.create_id(code)):
            if getattr(item.event, "booking", None) == str(booking_id):
                capacity.append(item)
    held_at = booking_events[0].event.timestamp
    evidence = {
        "state": booking_view(booking),
        "confirmation_documents": list(booking.documents),
        "prices_at_hold": await prices_at(
            conn, booking.channel, [booking_events[0].event.resource], held_at, booking.currency
        ),
        "capacity": [
            {
                "position": item.position,
                "resource_stream": str(item.event.originator_id),
                "event": type(item.event).__name__,
                **plain(
                    {k: v for k, v in vars(item.event).items() if not k.startswith("originator")}
                ),
            }
            for item in capacity
        ],
    }
    subject = {
        "kind": "booking",
        "id": str(booking_id),
        "channel": booking.channel,
        "number": booking.reference,
    }
    return await _assemble(
        conn, subject, {"bookings": [*booking_events, *capacity]}, evidence, public_key, now
    )
