"""The network: locations that hold stock and channels that sell from them.

Given / when / then: build an aggregate (its registration event set aside), run one command,
then look at exactly the new events -- or the named error and no events.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidValue
from domain.identity import stream_id
from domain.network import Channel, ChannelKind, Location, LocationKind
from tests.domain.support import new_events, replay

LAT = Decimal("52.520008")
LON = Decimal("13.404954")


def given_location() -> Location:
    location = Location.register("WH-1", "Berlin warehouse", LocationKind.WAREHOUSE, LAT, LON)
    location.collect_events()
    return location


def given_channel() -> Channel:
    channel = Channel.register("web", "Web shop", ChannelKind.WEB_SHOP, ["WH-2", "WH-1"])
    channel.collect_events()
    return channel


# -- Location --------------------------------------------------------------------------------


def test_registering_a_location_records_registered() -> None:
    location = Location.register("WH-1", "Berlin warehouse", LocationKind.WAREHOUSE, LAT, LON)

    assert new_events(location) == [
        (
            "Location.Registered",
            {
                "code": "WH-1",
                "name": "Berlin warehouse",
                "kind": LocationKind.WAREHOUSE,
                "latitude": LAT,
                "longitude": LON,
            },
        )
    ]
    assert location.id == stream_id("location", "WH-1") == Location.create_id("WH-1")


def test_registering_a_location_without_coordinates_is_allowed() -> None:
    location = Location.register("STORE-1", "Corner store", LocationKind.STORE)

    assert new_events(location) == [
        (
            "Location.Registered",
            {
                "code": "STORE-1",
                "name": "Corner store",
                "kind": LocationKind.STORE,
                "latitude": None,
                "longitude": None,
            },
        )
    ]


def test_a_location_kind_given_as_its_plain_value_is_accepted() -> None:
    location = Location.register("3PL-1", "Fulfilment partner", "3pl")  # type: ignore[arg-type]

    assert location.kind is LocationKind.THIRD_PARTY
    [(_, payload)] = new_events(location)
    assert payload["kind"] is LocationKind.THIRD_PARTY


@pytest.mark.parametrize("code", ["", "WH 1", "-WH", "W" * 65, None])
def test_a_location_with_a_bad_code_is_refused(code: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        Location.register(code, "Warehouse", LocationKind.WAREHOUSE)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "location"}


@pytest.mark.parametrize("name", ["", "   ", "N" * 201, None])
def test_a_location_with_a_blank_or_overlong_name_is_refused(name: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        Location.register("WH-1", name, LocationKind.WAREHOUSE)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "name"}


@pytest.mark.parametrize(("latitude", "longitude"), [(LAT, None), (None, LON)])
def test_coordinates_must_come_in_pairs(
    latitude: Decimal | None, longitude: Decimal | None
) -> None:
    with pytest.raises(InvalidValue) as refused:
        Location.register("WH-1", "Warehouse", LocationKind.WAREHOUSE, latitude, longitude)

    assert refused.value.facts == {"field": "latitude"}


@pytest.mark.parametrize(
    ("latitude", "longitude", "field"),
    [
        (Decimal("90.000001"), LON, "latitude"),
        (Decimal("-91"), LON, "latitude"),
        (LAT, Decimal("180.5"), "longitude"),
        (LAT, Decimal("-180.000001"), "longitude"),
        (Decimal("Infinity"), LON, "latitude"),
        (LAT, Decimal("-Infinity"), "longitude"),
    ],
)
def test_coordinates_out_of_range_are_refused(
    latitude: Decimal, longitude: Decimal, field: str
) -> None:
    with pytest.raises(InvalidValue) as refused:
        Location.register("WH-1", "Warehouse", LocationKind.WAREHOUSE, latitude, longitude)

    assert refused.value.facts == {"field": field}


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(Decimal(90), Decimal(180)), (Decimal(-90), Decimal(-180)), (Decimal(0), Decimal(0))],
)
def test_coordinates_on_the_edge_of_the_range_are_accepted(
    latitude: Decimal, longitude: Decimal
) -> None:
    location = Location.register("WH-1", "Warehouse", LocationKind.WAREHOUSE, latitude, longitude)

    assert (location.latitude, location.longitude) == (latitude, longitude)


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [
        pytest.param(Decimal("NaN"), LON, id="latitude-NaN"),
        pytest.param(LAT, Decimal("NaN"), id="longitude-NaN"),
    ],
)
def test_coordinates_that_are_not_a_number_are_refused_as_invalid_values(
    latitude: Decimal, longitude: Decimal
) -> None:
    # Decimal("NaN") cannot be ordered; the range check must refuse it, not crash.
    with pytest.raises(InvalidValue):
        Location.register("WH-1", "Warehouse", LocationKind.WAREHOUSE, latitude, longitude)


def test_an_unknown_location_kind_is_refused_as_an_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        Location.register("WH-1", "Warehouse", "depot")  # type: ignore[arg-type]


def test_describing_a_location_differently_records_described() -> None:
    location = given_location()

    location.describe("Berlin hub", LocationKind.THIRD_PARTY, Decimal("52.4"), Decimal("13.5"))

    assert new_events(location) == [
        (
            "Location.Described",
            {
                "name": "Berlin hub",
                "kind": LocationKind.THIRD_PARTY,
                "latitude": Decimal("52.4"),
                "longitude": Decimal("13.5"),
            },
        )
    ]
    assert (location.name, location.kind) == ("Berlin hub", LocationKind.THIRD_PARTY)


def test_describing_a_location_as_it_already_is_records_nothing() -> None:
    location = given_location()

    location.describe("Berlin warehouse", "warehouse", LAT, LON)  # type: ignore[arg-type]

    assert new_events(location) == []


def test_describing_a_location_with_equal_coordinates_written_differently_records_nothing() -> None:
    location = given_location()

    location.describe(
        "Berlin warehouse", LocationKind.WAREHOUSE, Decimal("52.52000800"), Decimal("13.4049540")
    )

    assert new_events(location) == []


def test_dropping_the_coordinates_of_a_location_records_described() -> None:
    location = given_location()

    location.describe("Berlin warehouse", LocationKind.WAREHOUSE)

    assert new_events(location) == [
        (
            "Location.Described",
            {
                "name": "Berlin warehouse",
                "kind": LocationKind.WAREHOUSE,
                "latitude": None,
                "longitude": None,
            },
        )
    ]
    assert (location.latitude, location.longitude) == (None, None)


@pytest.mark.parametrize(
    ("latitude", "longitude", "field"),
    [(LAT, None, "latitude"), (Decimal(91), LON, "latitude"), (LAT, Decimal(-181), "longitude")],
)
def test_describing_a_location_with_bad_coordinates_is_refused(
    latitude: Decimal, longitude: Decimal | None, field: str
) -> None:
    location = given_location()

    with pytest.raises(InvalidValue) as refused:
        location.describe("Berlin warehouse", LocationKind.WAREHOUSE, latitude, longitude)

    assert refused.value.facts == {"field": field}
    assert new_events(location) == []
    assert (location.latitude, location.longitude) == (LAT, LON)


def test_describing_a_location_with_a_blank_name_is_refused() -> None:
    location = given_location()

    with pytest.raises(InvalidValue):
        location.describe(" ", LocationKind.WAREHOUSE, LAT, LON)

    assert new_events(location) == []


def test_replaying_a_location_rebuilds_it() -> None:
    location = Location.register("WH-1", "Berlin warehouse", LocationKind.WAREHOUSE, LAT, LON)
    location.describe("Berlin hub", LocationKind.STORE)

    rebuilt = replay(location.collect_events())

    assert (rebuilt.code, rebuilt.name, rebuilt.kind, rebuilt.latitude, rebuilt.longitude) == (
        "WH-1",
        "Berlin hub",
        LocationKind.STORE,
        None,
        None,
    )
    assert rebuilt.version == location.version


# -- Channel ---------------------------------------------------------------------------------


def test_registering_a_channel_records_its_locations_sorted() -> None:
    channel = Channel.register("web", "Web shop", ChannelKind.WEB_SHOP, ["WH-2", "STORE-1", "WH-1"])

    assert new_events(channel) == [
        (
            "Channel.Registered",
            {
                "code": "web",
                "name": "Web shop",
                "kind": ChannelKind.WEB_SHOP,
                "locations": ["STORE-1", "WH-1", "WH-2"],
            },
        )
    ]
    assert channel.locations == ["STORE-1", "WH-1", "WH-2"]
    assert channel.id == stream_id("channel", "web") == Channel.create_id("web")


def test_a_channel_and_a_location_with_the_same_code_are_different_streams() -> None:
    assert Channel.create_id("main") != Location.create_id("main")


def test_registering_a_channel_without_locations_is_allowed() -> None:
    channel = Channel.register("pos", "Tills", "pos", [])  # type: ignore[arg-type]

    assert new_events(channel) == [
        (
            "Channel.Registered",
            {"code": "pos", "name": "Tills", "kind": ChannelKind.POS, "locations": []},
        )
    ]


def test_registering_a_channel_that_lists_a_location_twice_is_refused() -> None:
    with pytest.raises(InvalidValue) as refused:
        Channel.register("web", "Web shop", ChannelKind.WEB_SHOP, ["WH-1", "WH-2", "WH-1"])

    assert refused.value.facts == {"field": "locations"}


@pytest.mark.parametrize(
    ("code", "name", "locations", "field"),
    [
        ("web shop", "Web shop", ["WH-1"], "channel"),
        ("", "Web shop", ["WH-1"], "channel"),
        ("web", "", ["WH-1"], "name"),
        ("web", "N" * 201, ["WH-1"], "name"),
        ("web", "Web shop", ["WH 1"], "location"),
    ],
)
def test_registering_a_channel_with_bad_values_is_refused(
    code: str, name: str, locations: list[str], field: str
) -> None:
    with pytest.raises(InvalidValue) as refused:
        Channel.register(code, name, ChannelKind.WEB_SHOP, locations)

    assert refused.value.facts == {"field": field}


def test_an_unknown_channel_kind_is_refused_as_an_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        Channel.register("web", "Web shop", "telepathy", ["WH-1"])  # type: ignore[arg-type]


def test_feeding_a_channel_from_a_new_set_of_locations_records_locations_changed() -> None:
    channel = given_channel()

    channel.feed_from(["WH-3", "WH-1"])

    assert new_events(channel) == [("Channel.LocationsChanged", {"locations": ["WH-1", "WH-3"]})]
    assert channel.locations == ["WH-1", "WH-3"]


def test_feeding_a_channel_from_the_same_locations_in_another_order_records_nothing() -> None:
    channel = given_channel()

    channel.feed_from(["WH-1", "WH-2"])
    channel.feed_from(["WH-2", "WH-1"])

    assert new_events(channel) == []
    assert channel.locations == ["WH-1", "WH-2"]


def test_feeding_a_channel_from_no_locations_records_locations_changed() -> None:
    channel = given_channel()

    channel.feed_from([])

    assert new_events(channel) == [("Channel.LocationsChanged", {"locations": []})]


def test_feeding_a_channel_from_a_list_with_a_duplicate_is_refused() -> None:
    channel = given_channel()

    with pytest.raises(InvalidValue) as refused:
        channel.feed_from(["WH-1", "WH-1"])

    assert refused.value.facts == {"field": "locations"}
    assert new_events(channel) == []
    assert channel.locations == ["WH-1", "WH-2"]


def test_describing_a_channel_differently_records_described() -> None:
    channel = given_channel()

    channel.describe("Marketplace", ChannelKind.MARKETPLACE)

    assert new_events(channel) == [
        ("Channel.Described", {"name": "Marketplace", "kind": ChannelKind.MARKETPLACE})
    ]


def test_describing_a_channel_as_it_already_is_records_nothing() -> None:
    channel = given_channel()

    channel.describe("Web shop", "web_shop")  # type: ignore[arg-type]

    assert new_events(channel) == []


def test_replaying_a_channel_rebuilds_it() -> None:
    channel = Channel.register("web", "Web shop", ChannelKind.WEB_SHOP, ["WH-2", "WH-1"])
    channel.feed_from(["STORE-1"])
    channel.describe("Call centre", ChannelKind.CALL_CENTRE)

    rebuilt = replay(channel.collect_events())

    assert (rebuilt.code, rebuilt.name, rebuilt.kind, rebuilt.locations) == (
        "web",
        "Call centre",
        ChannelKind.CALL_CENTRE,
        ["STORE-1"],
    )
    assert rebuilt.version == channel.version == 3
