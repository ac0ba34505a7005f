"""The inventory application: locations, channels and per-SKU stock in one ordered log.

Keeping the network (locations, channels) and the stock in one log gives the
available-to-promise projection a single, gap-free order for everything it depends on.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from application.commands import ANONYMOUS, CommandRunner, Outcome, Request
from domain.errors import UnknownChannel, UnknownLocation, UnknownSku
from domain.identity import check_code, stream_id
from domain.inventory import AdjustmentReason, Inventory
from domain.network import Channel, ChannelKind, Location, LocationKind


def location_view(location: Location) -> dict[str, Any]:
    return {
        "code": location.code,
        "name": location.name,
        "kind": str(location.kind),
        "latitude": None if location.latitude is None else str(location.latitude),
        "longitude": None if location.longitude is None else str(location.longitude),
        "version": location.version,
    }


def channel_view(channel: Channel) -> dict[str, Any]:
    return {
        "code": channel.code,
        "name": channel.name,
        "kind": str(channel.kind),
        "locations": list(channel.locations),
        "version": channel.version,
    }


def reservation_view(inventory: Inventory, reservation_id: str) -> dict[str, Any]:
    held = inventory.reservations.get(reservation_id)
    if held is None:  # released or fully shipped
        return {"reservation_id": reservation_id, "open": False}
    return {
        "reservation_id": held.reservation_id,
        "open": True,
        "location": held.location,
        "quantity": held.quantity,
        "channel": held.channel,
        "reference": held.reference,
        "expires_at": None if held.expires_at is None else held.expires_at.isoformat(),
    }


def stock_view(inventory: Inventory) -> dict[str, Any]:
    return {
        "sku": inventory.sku,
        "name": inventory.name,
        "gtin": inventory.gtin,
        "version": inventory.version,
        "locations": [
            {
                "location": code,
                "on_hand": stock.on_hand,
                "reserved": stock.reserved,
                "available": stock.available,
                "reorder_point": stock.reorder_point,
                "reorder_quantity": stock.reorder_quantity,
            }
            for code, stock in sorted(inventory.stock.items())
        ],
        "safety_buffers": dict(sorted(inventory.safety_buffers.items())),
        # A count, not the list: a hot SKU holds thousands, and every answer would carry them.
        "open_reservations": len(inventory.reservations),
    }


class InventoryApp(Application[UUID]):
    """Commands for the stock network. Every method is safe to call from many threads."""

    name = "inventory"
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.commands = CommandRunner(self)
        # Locations are never deleted, so a location seen once stays known.
        self._known_locations: set[str] = set()

    # -- network ---------------------------------------------------------------------------

    def put_location(
        self,
        code: str,
        name: str,
        kind: LocationKind,
        latitude: Decimal | None = None,
        longitude: Decimal | None = None,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Register a location, or change its description (PUT semantics)."""
        check_code(code, "location")

        def decide(location: Location | None) -> tuple[Location, dict[str, Any]]:
            if location is None:
                location = Location.register(code, name, kind, latitude, longitude)
            else:
                location.describe(name, kind, latitude, longitude)
            return location, location_view(location)

        outcome = self.commands.run(stream_id("location", code), decide, request)
        self._known_locations.add(code)
        return outcome

    def put_channel(
        self,
        code: str,
        name: str,
        kind: ChannelKind,
        locations: list[str],
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Register a channel, or change its description and the locations that feed it."""
        check_code(code, "channel")
        for location in locations:
            self.require_location(location)

        def decide(channel: Channel | None) -> tuple[Channel, dict[str, Any]]:
            if channel is None:
                channel = Channel.register(code, name, kind, locations)
            else:
                channel.describe(name, kind)
                channel.feed_from(locations)
            return channel, channel_view(channel)

        return self.commands.run(stream_id("channel", code), decide, request)

    def require_location(self, code: str) -> None:
        check_code(code, "location")
        if code in self._known_locations:
            return
        try:
            self.repository.get(stream_id("location", code))
        except AggregateNotFoundError:
            raise UnknownLocation(f"no location {code!r}", location=code) from None
        self._known_locations.add(code)

    def channel(self, code: str) -> Channel:
        check_code(code, "channel")
        try:
            channel: Channel = self.repository.get(stream_id("channel", code))
        except AggregateNotFoundError:
            raise UnknownChannel(f"no channel {code!r}", channel=code) from None
        return channel

    # -- stock -----------------------------------------------------------------------------

    def register_sku(
        self, sku: str, name: str, gtin: str | None = None, request: Request = ANONYMOUS
    ) -> Outcome:
        """Register a SKU; registering it again with the same details is harmless."""
        check_code(sku, "sku")

        def decide(inventory: Inventory | None) -> tuple[Inventory, dict[str, Any]]:
            if inventory is None:
                inventory = Inventory.register(sku, name, gtin)
            else:
                inventory.describe(name, gtin)
            return inventory, stock_view(inventory)

        return self.commands.run(stream_id("sku", sku), decide, request)

    def _on_sku(
        self,
        sku: str,
        act: Any,
        request: Request,
        extra: Any = None,
        viewer_locations: list[str] | None = None,
    ) -> Outcome:
        check_code(sku, "sku")
        # A caller acting for a channel sees that channel's figure only, never the stock at
        # other locations or other channels' buffers.
        viewer = request.context.channel
        locations: list[str] = []
        if viewer is not None:
            locations = viewer_locations or self.channel(viewer).locations

        def decide(inventory: Inventory | None) -> tuple[Inventory, dict[str, Any]]:
            assert inventory is not None
            act(inventory)
            if viewer is None:
                body = stock_view(inventory)
            else:
                body = {
                    "sku": inventory.sku,
                    "version": inventory.version,
                    "channel": viewer,
                    "available": inventory.available_to_promise(viewer, locations),
                }
            if extra is not None:
                body.update(extra(inventory))
            return inventory, body

        return self.commands.run(
            stream_id("sku", sku),
            decide,
            request,
            missing=lambda: UnknownSku(f"no SKU {sku!r}", sku=sku),
        )

    def receive(
        self, sku: str, location: str, quantity: int, request: Request = ANONYMOUS
    ) -> Outcome:
        self.require_location(location)
        return self._on_sku(sku, lambda inv: inv.receive(location, quantity), request)

    def adjust(
        self,
        sku: str,
        location: str,
        reason: AdjustmentReason,
        quantity: int,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        self.require_location(location)
        return self._on_sku(sku, lambda inv: inv.adjust(location, reason, quantity), request)

    def transfer(
        self, sku: str, source: str, destination: str, quantity: int, request: Request = ANONYMOUS
    ) -> Outcome:
        self.require_location(source)
        self.require_location(destination)
        return self._on_sku(sku, lambda inv: inv.transfer(source, destination, quantity), request)

    def reserve(
        self,
        sku: str,
        reservation_id: str,
        location: str,
        quantity: int,
        *,
        reference: str,
        now: datetime,
        channel: str | None = None,
        expires_at: datetime | None = None,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Hold stock for an order or booking; for a channel, within its ATP."""
        self.require_location(location)
        channel_locations = self.channel(channel).locations if channel is not None else None

        def act(inventory: Inventory) -> None:
            inventory.reserve(
                reservation_id,
                location,
                quantity,
                reference=reference,
                now=now,
                channel=channel,
                channel_locations=channel_locations,
                expires_at=expires_at,
            )

        def reservation(inventory: Inventory) -> dict[str, Any]:
            return {"reservation": reservation_view(inventory, reservation_id)}

        # The acting channel's locations are already loaded: no second read for the answer.
        same = channel is not None and channel == request.context.channel
        return self._on_sku(sku, act, request, reservation, channel_locations if same else None)

    def release(
        self,
        sku: str,
        reservation_id: str,
        channel: str | None = None,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Release a hold; with ``channel``, only a hold made for that channel."""
        return self._on_sku(
            sku,
            lambda inv: inv.release(reservation_id, channel),
            request,
            lambda inv: {"reservation": reservation_view(inv, reservation_id)},
        )

    def commit(
        self,
        sku: str,
        reservation_id: str,
        quantity: int | None = None,
        channel: str | None = None,
        now: datetime | None = None,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        """Ship (part of) a hold; with ``channel``, only a hold made for that channel; with
        ``now``, not a hold that has lapsed by then."""
        return self._on_sku(
            sku,
            lambda inv: inv.commit(reservation_id, quantity, channel, now),
            request,
            lambda inv: {"reservation": reservation_view(inv, reservation_id)},
        )

    def secure_hold(
        self, sku: str, reservation_id: str, now: datetime, request: Request = ANONYMOUS
    ) -> Outcome:
        """Keep a hold past its expiry (its order was paid); refused once it has lapsed."""
        return self._on_sku(
            sku,
            lambda inv: inv.secure(reservation_id, now),
            request,
            lambda inv: {"reservation": reservation_view(inv, reservation_id)},
        )

    def set_safety_buffer(
        self, sku: str, channel: str, quantity: int, request: Request = ANONYMOUS
    ) -> Outcome:
        self.channel(channel)
        return self._on_sku(sku, lambda inv: inv.set_safety_buffer(channel, quantity), request)

    def set_reorder_policy(
        self,
        sku: str,
        location: str,
        reorder_point: int,
        reorder_quantity: int,
        request: Request = ANONYMOUS,
    ) -> Outcome:
        self.require_location(location)
        return self._on_sku(
            sku,
            lambda inv: inv.set_reorder_policy(location, reorder_point, reorder_quantity),
            request,
        )

    def stock(self, sku: str) -> Inventory:
        """The SKU's current aggregate (for tests and the audit trail, not for reads)."""
        check_code(sku, "sku")
        try:
            inventory: Inventory = self.repository.get(stream_id("sku", sku))
        except AggregateNotFoundError:
            raise UnknownSku(f"no SKU {sku!r}", sku=sku) from None
        return inventory
