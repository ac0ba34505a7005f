"""Public events of the `replenishment` stream type, emitted by the replenishment connector.

They are not in the event store: the connector derives them from inventory events, so their
`stream_id` is the SKU's inventory stream and `causation_id` the event that caused them.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from infrastructure.public_events.base import PublicEvent, StreamType

REPLENISHMENT = StreamType("replenishment", aggregate=None, key="sku")


class ReplenishmentRequested(PublicEvent, frozen=True, kw_only=True):
    """Available stock at a location fell below its reorder point: reorder `quantity`.

    Sent once per crossing: the next request for the same SKU and location comes only after
    available stock has been back at or above the reorder point.
    """

    sku: str
    location: str
    available: Annotated[int, msgspec.Meta(description="on hand - reserved after the event")]
    reorder_point: int
    quantity: Annotated[int, msgspec.Meta(ge=1, description="the policy's reorder quantity")]
    trigger_event_id: Annotated[str, msgspec.Meta(description="the event that crossed")]


REPLENISHMENT.emitted(ReplenishmentRequested)
