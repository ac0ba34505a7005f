"""Public events of the `location` and `channel` stream types (the stock network)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from infrastructure.public_events.base import PublicEvent, StreamType, decimal_text

LOCATION = StreamType("location", aggregate="Location", key="code")
CHANNEL = StreamType("channel", aggregate="Channel", key="code")

Coordinate = Annotated[str | None, msgspec.Meta(description="decimal degrees as a string, or null")]


class LocationRegistered(PublicEvent, frozen=True, kw_only=True):
    """A stock location (`kind`: `warehouse`, `store` or `3pl`) became known."""

    code: str
    name: str
    kind: str
    latitude: Coordinate = None
    longitude: Coordinate = None


class LocationDescribed(PublicEvent, frozen=True, kw_only=True):
    """A location's name, kind or coordinates changed."""

    code: str
    name: str
    kind: str
    latitude: Coordinate = None
    longitude: Coordinate = None


class ChannelRegistered(PublicEvent, frozen=True, kw_only=True):
    """A sales channel became known, with the locations whose stock it may promise.

    `kind` is one of `web_shop`, `marketplace`, `pos`, `call_centre`,
    `wholesale`.
    """

    code: str
    name: str
    kind: str
    locations: list[str]


class ChannelDescribed(PublicEvent, frozen=True, kw_only=True):
    """A channel's name or kind changed."""

    code: str
    name: str
    kind: str


class ChannelLocationsChanged(PublicEvent, frozen=True, kw_only=True):
    """The set of locations feeding a channel changed; `locations` is the whole new set."""

    code: str
    locations: list[str]


@LOCATION.event(LocationRegistered, name="Registered")
def _location_registered(event: Any, code: str) -> LocationRegistered:
    return LocationRegistered(
        code=code,
        name=event.name,
        kind=str(event.kind),
        latitude=decimal_text(event.latitude),
        longitude=decimal_text(event.longitude),
    )


@LOCATION.event(LocationDescribed, name="Described")
def _location_described(event: Any, code: str) -> LocationDescribed:
    return LocationDescribed(
        code=code,
        name=event.name,
        kind=str(event.kind),
        latitude=decimal_text(event.latitude),
        longitude=decimal_text(event.longitude),
    )


@CHANNEL.event(ChannelRegistered, name="Registered")
def _channel_registered(event: Any, code: str) -> ChannelRegistered:
    return ChannelRegistered(
        code=code, name=event.name, kind=str(event.kind), locations=list(event.locations)
    )


@CHANNEL.event(ChannelDescribed, name="Described")
def _channel_described(event: Any, code: str) -> ChannelDescribed:
    return ChannelDescribed(code=code, name=event.name, kind=str(event.kind))


@CHANNEL.event(ChannelLocationsChanged, name="LocationsChanged")
def _channel_locations_changed(event: Any, code: str) -> ChannelLocationsChanged:
    return ChannelLocationsChanged(code=code, locations=list(event.locations))
