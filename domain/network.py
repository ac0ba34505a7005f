"""The merchant's network: stock locations and the sales channels they feed."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValue
from domain.identity import check_choice, check_code, check_text, stream_id

MAX_NAME = 200
MAX_COORDINATE_DECIMALS = 12  # far below a millimetre


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    THIRD_PARTY = "3pl"


class ChannelKind(StrEnum):
    WEB_SHOP = "web_shop"
    MARKETPLACE = "marketplace"
    POS = "pos"
    CALL_CENTRE = "call_centre"
    WHOLESALE = "wholesale"


def _check_name(name: str) -> str:
    return check_text(name, "name", MAX_NAME)


def check_coordinates(latitude: Decimal | None, longitude: Decimal | None) -> None:
    if (latitude is None) != (longitude is None):
        raise InvalidValue("latitude and longitude go together", field="latitude")
    for field, value in (("latitude", latitude), ("longitude", longitude)):
        if value is not None and not (
            isinstance(value, Decimal)
            and value.is_finite()
            and int(value.as_tuple().exponent) >= -MAX_COORDINATE_DECIMALS
        ):
            raise InvalidValue(
                f"{field} must be a decimal number with at most {MAX_COORDINATE_DECIMALS} "
                f"decimal places, got {value}",
                field=field,
            )
    if latitude is not None and not Decimal(-90) <= latitude <= Decimal(90):
        raise InvalidValue(f"latitude must be within [-90, 90], got {latitude}", field="latitude")
    if longitude is not None and not Decimal(-180) <= longitude <= Decimal(180):
        raise InvalidValue(
            f"longitude must be within [-180, 180], got {longitude}", field="longitude"
        )


class Location(Aggregate):
    """A place that holds stock: a warehouse, a store or a third-party logistics site."""

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return stream_id("location", code)

    @classmethod
    def register(
        cls,
        code: str,
        name: str,
        kind: LocationKind,
        latitude: Decimal | None = None,
        longitude: Decimal | None = None,
    ) -> Location:
        check_code(code, "location")
        _check_name(name)
        check_coordinates(latitude, longitude)
        kind = check_choice(LocationKind, kind, "kind")
        return cls(code=code, name=name, kind=kind, latitude=latitude, longitude=longitude)

    @event("Registered")
    def __init__(
        self,
        code: str,
        name: str,
        kind: LocationKind,
        latitude: Decimal | None,
        longitude: Decimal | None,
    ) -> None:
        self.code = code
        self.name = name
        self.kind = LocationKind(kind)
        self.latitude = latitude
        self.longitude = longitude

    def describe(
        self,
        name: str,
        kind: LocationKind,
        latitude: Decimal | None = None,
        longitude: Decimal | None = None,
    ) -> None:
        """Change name, kind or coordinates; an unchanged description records nothing."""
        _check_name(name)
        check_coordinates(latitude, longitude)
        kind = check_choice(LocationKind, kind, "kind")
        if (name, kind, latitude, longitude) != (
            self.name,
            self.kind,
            self.latitude,
            self.longitude,
        ):
            self._describe(name=name, kind=kind, latitude=latitude, longitude=longitude)

    @event("Described")
    def _describe(
        self,
        name: str,
        kind: LocationKind,
        latitude: Decimal | None,
        longitude: Decimal | None,
    ) -> None:
        self.name = name
        self.kind = LocationKind(kind)
        self.latitude = latitude
        self.longitude = longitude


class Channel(Aggregate):
    """A sales channel (web shop, marketplace, POS, call centre) and the locations feeding it."""

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return stream_id("channel", code)

    @classmethod
    def register(cls, code: str, name: str, kind: ChannelKind, locations: list[str]) -> Channel:
        check_code(code, "channel")
        _check_name(name)
        kind = check_choice(ChannelKind, kind, "kind")
        return cls(code=code, name=name, kind=kind, locations=_check_locations(locations))

    @event("Registered")
    def __init__(self, code: str, name: str, kind: ChannelKind, locations: list[str]) -> None:
        self.code = code
        self.name = name
        self.kind = ChannelKind(kind)
        self.locations = list(locations)

    def describe(self, name: str, kind: ChannelKind) -> None:
        _check_name(name)
        kind = check_choice(ChannelKind, kind, "kind")
        if (name, kind) != (self.name, self.kind):
            self._describe(name=name, kind=kind)

    @event("Described")
    def _describe(self, name: str, kind: ChannelKind) -> None:
        self.name = name
        self.kind = ChannelKind(kind)

    def feed_from(self, locations: list[str]) -> None:
        """Set the locations whose stock this channel may promise."""
        locations = _check_locations(locations)
        if locations != self.locations:
            self._feed_from(locations=locations)

    @event("LocationsChanged")
    def _feed_from(self, locations: list[str]) -> None:
        self.locations = list(locations)


def _check_locations(locations: list[str]) -> list[str]:
    for code in locations:
        check_code(code, "location")
    if len(set(locations)) != len(locations):
        raise InvalidValue("a channel lists each location once", field="locations")
    # Sorted, so the same set always records the same event and compares equal.
    return sorted(locations)
