"""The replenishment connector: ask for stock once each time a location falls below its point.

The domain records reorder policies but no "below reorder point" event, so the crossing is
computed here from public inventory events and per-location state in PostgreSQL. A request
goes out when available (on hand - reserved) drops below the reorder point while it was not
already below; the next one only after it has been at or above the point again. Setting a
policy while already below also asks, since the location needs stock either way.

The request is published on ``ledgerline.events.replenishment.ReplenishmentRequested`` with
a message id derived from the triggering event id, so a retried event publishes nothing new
within JetStream's duplicate window, and POSTed (signed like a webhook) to a configured URL.
Both happen before the state commits: a failure retries the whole event, never loses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid5

import httpx
import msgspec
import psycopg

from domain.identity import LEDGERLINE_NAMESPACE
from infrastructure.connectors.base import BaseConnector, Context
from infrastructure.connectors.webhook import post_signed
from infrastructure.envelope import Envelope
from infrastructure.public_events import decode
from infrastructure.public_events import inventory as inv
from infrastructure.public_events.replenishment import ReplenishmentRequested

TABLES = """
CREATE TABLE IF NOT EXISTS replenishment_stock (
    connector text NOT NULL, sku text NOT NULL, location text NOT NULL,
    on_hand bigint NOT NULL DEFAULT 0, reserved bigint NOT NULL DEFAULT 0,
    reorder_point bigint, reorder_quantity bigint, below boolean NOT NULL DEFAULT false,
    PRIMARY KEY (connector, sku, location));
"""


@dataclass(frozen=True)
class Change:
    location: str
    on_hand: int = 0
    reserved: int = 0
    policy: tuple[int, int] | None = None


def _changes(event: Any) -> list[Change]:
    if isinstance(event, inv.StockReceived):
        return [Change(event.location, on_hand=event.quantity)]
    if isinstance(event, inv.StockAdjusted):
        return [Change(event.location, on_hand=event.delta)]
    if isinstance(event, inv.StockTransferred):
        return [
            Change(event.from_location, on_hand=-event.quantity),
            Change(event.to_location, on_hand=event.quantity),
        ]
    if isinstance(event, inv.StockReserved):
        return [Change(event.location, reserved=event.quantity)]
    if isinstance(event, inv.ReservationReleased):
        return [Change(event.location, reserved=-event.quantity)]
    if isinstance(event, inv.ReservationCommitted):
        return [Change(event.location, on_hand=-event.quantity, reserved=-event.quantity)]
    if isinstance(event, inv.ReorderPolicySet):
        return [Change(event.location, policy=(event.reorder_point, event.reorder_quantity))]
    return []


def request_id(trigger: Envelope, location: str) -> str:
    """Same trigger, same id: the once-only key of a request."""
    return str(uuid5(LEDGERLINE_NAMESPACE, f"replenishment:{trigger.id}:{location}"))


class ReplenishmentConnector(BaseConnector):
    subjects: Sequence[str] = ("ledgerline.events.inventory.>",)

    def __init__(
        self, name: str, url: str | None = None, secret: str = "", timeout: float = 10.0
    ) -> None:
        if url and not secret:
            raise ValueError(f"replenishment connector {name} needs a secret for its URL")
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def setup(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('replenishment_tables'))")
            await conn.execute(TABLES)

    async def reset(self, tx: psycopg.AsyncConnection[Any]) -> None:
        await tx.execute("DELETE FROM replenishment_stock WHERE connector = %s", (self.name,))

    async def handle(self, envelope: Envelope, ctx: Context) -> None:
        event = decode(envelope)
        for change in _changes(event):
            sku: str = event.sku  # type: ignore[attr-defined]
            await ctx.tx.execute(
                "INSERT INTO replenishment_stock (connector, sku, location) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (self.name, sku, change.location),
            )
            cur = await ctx.tx.execute(
                "UPDATE replenishment_stock SET on_hand = on_hand + %s, "
                "reserved = reserved + %s, "
                "reorder_point = COALESCE(%s, reorder_point), "
                "reorder_quantity = COALESCE(%s, reorder_quantity) "
                "WHERE connector = %s AND sku = %s AND location = %s "
                "RETURNING on_hand - reserved, reorder_point, reorder_quantity, below",
                (
                    change.on_hand,
                    change.reserved,
                    change.policy[0] if change.policy else None,
                    change.policy[1] if change.policy else None,
                    self.name,
                    sku,
                    change.location,
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            available, point, quantity, was_below = row
            below = point is not None and available < point
            if below and not was_below:
                await self._request(
                    ctx,
                    envelope,
                    ReplenishmentRequested(
                        sku=sku,
                        location=change.location,
                        available=available,
                        reorder_point=point,
                        quantity=quantity,
                        trigger_event_id=envelope.id,
                    ),
                )
            if below != was_below:
                await ctx.tx.execute(
                    "UPDATE replenishment_stock SET below = %s "
                    "WHERE connector = %s AND sku = %s AND location = %s",
                    (below, self.name, sku, change.location),
                )

    async def _request(
        self, ctx: Context, trigger: Envelope, request: ReplenishmentRequested
    ) -> None:
        message = Envelope(
            id=request_id(trigger, request.location),
            type="ReplenishmentRequested",
            schema_version=1,
            stream_type="replenishment",
            stream_id=trigger.stream_id,
            stream_version=trigger.stream_version,
            # Not a stored log: "replenishment" keeps it out of any backfill's bookkeeping,
            # and the position says where in the inventory log the crossing happened.
            log="replenishment",
            position=trigger.position,
            occurred_at=trigger.occurred_at,
            recorded_at=datetime.now(UTC),
            actor=f"connector:{self.name}",
            channel=None,
            correlation_id=trigger.correlation_id,
            causation_id=trigger.id,
            data=msgspec.to_builtins(request),
        )
        body = msgspec.json.encode(message)
        await ctx.js.publish(message.subject, body, headers={"Nats-Msg-Id": message.id})
        if self.url:
            if self._client is None:
                self._client = httpx.AsyncClient()
            await post_signed(
                self._client, self.url, self.secret, body, message.id, ctx.attempt, self.timeout
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
