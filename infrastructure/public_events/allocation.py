"""Public events of the `allocation` stream type: the stock side of one order.

An allocation lives in the `inventory` log, written in the same transaction as the holds
(`StockReserved`) it made, so a consumer of that log never sees an order half-reserved. It
is keyed like its order, `<channel>/<order_number>`, and every event names the order both
by that key and by `order_id`, the `stream_id` of the order's own events.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from domain.order import order_id
from infrastructure.envelope import Time
from infrastructure.public_events.base import PublicEvent, StreamType, utc
from infrastructure.public_events.orders import (
    Channel,
    OrderNumber,
    Shipment,
    ShipmentName,
    Shortage,
    shipments_of,
    shortages_of,
)

ALLOCATION = StreamType(
    "allocation", aggregate="Allocation", key=lambda e: f"{e.channel}/{e.order_number}"
)

OrderId = Annotated[str, msgspec.Meta(description="the order's stream id (a UUID)")]


def _split(key: str) -> tuple[str, str, str]:
    """(channel, order number, order id) of an allocation stream's key."""
    channel, _, order_number = key.partition("/")
    return channel, order_number, str(order_id(channel, order_number))


class AllocationDecided(PublicEvent, frozen=True, kw_only=True):
    """The order was routed, and either every hold was made or none was.

    `outcome` `reserved`: `shipments` say which location ships what, under which hold.
    `refused`: nothing is held; `shortages` lists the lines short, if stock was the reason.
    `reason` explains the choice in words."""

    order_id: OrderId
    channel: Channel
    order_number: OrderNumber
    outcome: str
    shipments: list[Shipment]
    shortages: list[Shortage]
    reason: str
    recorded_at: Time


class AllocationSettled(PublicEvent, frozen=True, kw_only=True):
    """The holds of `shipments` were settled: `how` is `committed` (shipped, so the units
    left) or `released` (the order was cancelled or expired)."""

    order_id: OrderId
    channel: Channel
    order_number: OrderNumber
    shipments: list[ShipmentName]
    how: str
    reason: str


@ALLOCATION.event(AllocationDecided)
def _decided(event: Any, key: str) -> AllocationDecided:
    return AllocationDecided(
        order_id=str(event.order_id),
        channel=event.channel,
        order_number=event.order_number,
        outcome=event.outcome,
        shipments=shipments_of(event.shipments),
        shortages=shortages_of(event.shortages),
        reason=event.reason,
        recorded_at=utc(event.at),
    )


@ALLOCATION.event(AllocationSettled)
def _settled(event: Any, key: str) -> AllocationSettled:
    channel, order_number, order = _split(key)
    return AllocationSettled(
        order_id=order,
        channel=channel,
        order_number=order_number,
        shipments=list(event.shipments),
        how=event.how,
        reason=event.reason,
    )
