"""Booking: its lifecycle, the cancellation fee, and its confirmation documents.

Each test reads given / when / then: given a booking brought to some state by past commands
(whose events are collected and set aside), when one command runs, then exactly these new
events are pending -- or the named error is raised, nothing is pending and nothing changed.

The usual booking: 2 nights from 2026-03-10 (the first night starts 2026-03-10T00:00Z) at
120.00 EUR, so 240.00; free cancellation until 24 hours before, 50 % after.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from domain.booking import (
    CROCKFORD,
    FINAL,
    Booking,
    BookingStatus,
    IllegalBookingTransition,
    booking_id,
    canonical,
    confirmation_number,
    digest,
)
from domain.errors import DomainError, InvalidValue
from domain.money import minor_units
from tests.domain.support import NOW, new_events, replay

NIGHTS = ["2026-03-10", "2026-03-11"]
START = datetime.fromisoformat("2026-03-10T00:00+00:00")
EXPIRES = NOW + timedelta(minutes=15)
LATER = NOW + timedelta(minutes=5)
TERMS = {"free_cancellation_hours": 24, "fee_percent_after": "50"}
GUEST = {"name": "Erika Mustermann", "email": "erika@example.com"}
# 12 Crockford base-32 characters in groups of four: no I, L, O or U.
NUMBER = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
EXAMPLES = settings(max_examples=200, deadline=None, database=None)


def hold(**overrides: Any) -> Booking:
    arguments: dict[str, Any] = {
        "channel": "web",
        "reference": "R-1001",
        "resource": "ROOM-DBL",
        "slots": NIGHTS,
        "quantity": 1,
        "guest": GUEST,
        "unit_rate": Decimal("120.00"),
        "currency": "EUR",
        "expires_at": EXPIRES,
        "terms": TERMS,
        "now": NOW,
    }
    arguments.update(overrides)
    return Booking.hold(**arguments)


def given(booking: Booking) -> Booking:
    """Set the past aside: the test sees only what its own command records."""
    booking.collect_events()
    return booking


def confirmed(**overrides: Any) -> Booking:
    booking = hold(**overrides)
    booking.confirm("PAY-1", LATER)
    return given(booking)


def given_booking_in(status: BookingStatus) -> Booking:
    """The usual booking, brought to ``status`` the usual way."""
    booking = hold()
    if status is BookingStatus.EXPIRED:
        booking.expire(EXPIRES)
    elif status is BookingStatus.CANCELLED:
        booking.cancel("changed plans", LATER)
    elif status is not BookingStatus.HELD:
        booking.confirm("PAY-1", LATER)
        if status is BookingStatus.NO_SHOW:
            booking.no_show(START + timedelta(days=1))
        elif status in (BookingStatus.CHECKED_IN, BookingStatus.COMPLETED):
            booking.check_in(START + timedelta(hours=15))
            if status is BookingStatus.COMPLETED:
                booking.complete(START + timedelta(days=2))
    assert booking.status is status
    return given(booking)


def state_of(booking: Booking) -> Any:
    return deepcopy(
        (
            booking.status,
            booking.slots,
            booking.quantity,
            booking.total,
            booking.resource,
            booking.expires_at,
            booking.payment_reference,
            booking.documents,
            booking.flagged,
            booking.version,
        )
    )


def refused(
    booking: Booking, command: Callable[[], object], error: type[DomainError]
) -> DomainError:
    """Run ``command``, which must raise exactly ``error``, record nothing, change nothing."""
    before = state_of(booking)
    with pytest.raises(error) as raised:
        command()
    assert type(raised.value) is error
    assert booking.pending_events == []
    assert state_of(booking) == before
    return raised.value


def names(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


def leaves(value: Any) -> list[Any]:
    """Every scalar in a JSON-like value."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


def body(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "digest"}


# -- holding ---------------------------------------------------------------------------------


def test_a_hold_records_the_stay_the_guest_and_the_price_of_every_unit_and_night() -> None:
    booking = hold(quantity=2, guest={**GUEST, "phone": None})

    assert new_events(booking) == [
        (
            "Booking.BookingHeld",
            {
                "channel": "web",
                "reference": "R-1001",
                "resource": "ROOM-DBL",
                "slots": NIGHTS,
                "quantity": 2,
                "guest": GUEST,  # the empty phone is dropped
                "unit_rate": Decimal("120.00"),
                "currency": "EUR",
                "total": Decimal("480.00"),
                "expires_at": EXPIRES,
                "terms": TERMS,
                "at": NOW,
            },
        )
    ]
    assert booking.status is BookingStatus.HELD
    assert booking.document is None
    assert booking.id == booking_id("web", "R-1001")


def test_the_channels_reference_is_the_identity_within_the_channel() -> None:
    assert booking_id("web", "R-1") == booking_id("web", "R-1")
    assert booking_id("web", "R-1") != booking_id("ota", "R-1")


def test_a_rate_is_kept_at_its_currencys_scale() -> None:
    assert hold(unit_rate=Decimal("99.5")).unit_rate == Decimal("99.50")
    assert str(hold(unit_rate=Decimal(8000), currency="JPY").total) == "16000"


@pytest.mark.parametrize(
    "overrides",
    [
        {"channel": "no channel"},
        {"reference": ""},
        {"reference": "x" * 101},
        {"resource": "no room"},
        {"quantity": 0},
        {"quantity": True},
        {"currency": "XYZ"},
        {"unit_rate": Decimal("120.001")},
        {"unit_rate": Decimal("1.5"), "currency": "JPY"},
        {"unit_rate": Decimal(-1)},
        {"unit_rate": 120.0},
        {"guest": {}},
        {"guest": {"name": ""}},
        {"guest": {"name": "Erika\x00"}},
        {"guest": {"name": "Erika", "age": 40}},
        {"guest": "Erika"},
    ],
)
def test_an_invalid_hold_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        hold(**overrides)


def test_the_same_hold_is_the_same_resource_nights_and_quantity_in_any_order() -> None:
    booking = hold()

    assert booking.same_hold("ROOM-DBL", list(reversed(NIGHTS)), 1)
    assert not booking.same_hold("ROOM-DBL", NIGHTS, 2)
    assert not booking.same_hold("ROOM-TWIN", NIGHTS, 1)
    assert not booking.same_hold("ROOM-DBL", NIGHTS[:1], 1)


# -- confirming ------------------------------------------------------------------------------


def test_confirming_a_hold_records_the_payment_and_issues_the_first_document() -> None:
    booking = given(hold())

    booking.confirm("PAY-1", LATER)

    events = new_events(booking)
    assert events[0] == ("Booking.BookingConfirmed", {"payment_reference": "PAY-1", "at": LATER})
    assert names(events) == ["Booking.BookingConfirmed", "Booking.ConfirmationIssued"]
    assert events[1][1] == {"document": booking.document}
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.expires_at is None
    assert booking.payment_reference == "PAY-1"


def test_the_first_document_states_the_booking_as_confirmed() -> None:
    booking = confirmed()

    document = booking.document
    assert document is not None
    number = confirmation_number(booking.id, 1)
    assert document == {
        "confirmation_number": number,
        "replaces": None,
        "reason": "confirmed",
        "issued_at": LATER.isoformat(),
        "channel": "web",
        "booking_reference": "R-1001",
        "guest": GUEST,
        "resource": "ROOM-DBL",
        "slots": NIGHTS,
        "quantity": 1,
        "unit_rate": {"amount": "120.00", "currency": "EUR"},
        "price": {"amount": "240.00", "currency": "EUR"},
        "payment_reference": "PAY-1",
        "cancellation_terms": TERMS,
        "digest": document["digest"],
    }


@pytest.mark.parametrize("reference", ["", " ", "x" * 201, "PAY\n1"])
def test_a_confirmation_without_a_proper_payment_reference_is_refused(reference: str) -> None:
    booking = given(hold())

    refused(booking, lambda: booking.confirm(reference, LATER), InvalidValue)


# -- the lifecycle ---------------------------------------------------------------------------

ALLOWED = {
    "confirm": {BookingStatus.HELD},
    "modify": {BookingStatus.HELD, BookingStatus.CONFIRMED},
    "rebook": {BookingStatus.HELD, BookingStatus.CONFIRMED},
    "cancel": {BookingStatus.HELD, BookingStatus.CONFIRMED},
    "expire": {BookingStatus.HELD},
    "check_in": {BookingStatus.CONFIRMED},
    "complete": {BookingStatus.CHECKED_IN},
    "no_show": {BookingStatus.CONFIRMED},
}
AFTER = {
    "confirm": BookingStatus.CONFIRMED,
    "cancel": BookingStatus.CANCELLED,
    "expire": BookingStatus.EXPIRED,
    "check_in": BookingStatus.CHECKED_IN,
    "complete": BookingStatus.COMPLETED,
    "no_show": BookingStatus.NO_SHOW,
}
WHEN = EXPIRES + timedelta(minutes=1)  # after the hold's expiry


def act(booking: Booking, action: str) -> Callable[[], object]:
    return {
        "confirm": lambda: booking.confirm("PAY-2", LATER),
        "modify": lambda: booking.modify(["2026-03-10"], 1, LATER),
        "rebook": lambda: booking.rebook("ROOM-TWIN", "flood", LATER),
        "cancel": lambda: booking.cancel("changed plans", LATER),
        "expire": lambda: booking.expire(WHEN),
        "check_in": lambda: booking.check_in(START),
        "complete": lambda: booking.complete(START + timedelta(days=2)),
        "no_show": lambda: booking.no_show(START + timedelta(days=1)),
    }[action]


@pytest.mark.parametrize(
    ("status", "action"),
    [(status, action) for action in ALLOWED for status in BookingStatus],
)
def test_every_transition_is_allowed_only_from_its_states(
    status: BookingStatus, action: str
) -> None:
    booking = given_booking_in(status)

    if status not in ALLOWED[action]:
        error = refused(booking, act(booking, action), IllegalBookingTransition)
        assert error.facts["booking_status"] == str(status)
        return
    act(booking, action)()
    assert new_events(booking)
    assert booking.status is AFTER.get(action, status)


def test_the_final_states_are_those_no_transition_leaves() -> None:
    stuck = {s for s in BookingStatus if not any(s in allowed for allowed in ALLOWED.values())}

    assert stuck == set(FINAL)


def test_a_hold_expires_at_its_expiry_not_before() -> None:
    booking = given(hold())

    refused(
        booking,
        lambda: booking.expire(EXPIRES - timedelta(microseconds=1)),
        IllegalBookingTransition,
    )
    booking.expire(EXPIRES)

    assert new_events(booking) == [("Booking.BookingExpired", {"at": EXPIRES})]


def test_a_hold_without_an_expiry_never_expires() -> None:
    booking = given(hold(expires_at=None))

    refused(booking, lambda: booking.expire(WHEN + timedelta(days=365)), IllegalBookingTransition)


def test_checking_in_then_completing_records_each_step() -> None:
    booking = confirmed()

    booking.check_in(START)
    booking.complete(START + timedelta(days=2))

    assert new_events(booking) == [
        ("Booking.BookingProgressed", {"status": BookingStatus.CHECKED_IN, "at": START}),
        (
            "Booking.BookingProgressed",
            {"status": BookingStatus.COMPLETED, "at": START + timedelta(days=2)},
        ),
    ]


def test_a_flag_is_recorded_once_per_reason_and_cleared_by_a_rebooking() -> None:
    booking = confirmed()

    booking.flag("no equivalent room", LATER)
    booking.flag("no equivalent room", LATER)

    assert new_events(booking) == [
        ("Booking.BookingFlagged", {"reason": "no equivalent room", "at": LATER})
    ]
    booking.rebook("ROOM-TWIN", "flood", LATER)
    assert booking.flagged is None


def test_a_flag_needs_a_reason() -> None:
    booking = confirmed()

    refused(booking, lambda: booking.flag(" ", LATER), InvalidValue)


def test_modifying_a_hold_changes_the_stay_and_price_without_a_document() -> None:
    booking = given(hold())

    booking.modify(["2026-03-10", "2026-03-11", "2026-03-12"], 2, LATER)

    assert new_events(booking) == [
        (
            "Booking.BookingModified",
            {
                "slots": ["2026-03-10", "2026-03-11", "2026-03-12"],
                "quantity": 2,
                "total": Decimal("720.00"),
                "at": LATER,
            },
        )
    ]
    assert booking.documents == []


def test_rebooking_a_hold_moves_it_without_a_document() -> None:
    booking = given(hold())

    booking.rebook("ROOM-TWIN", "flood", LATER)

    assert new_events(booking) == [
        (
            "Booking.BookingRebooked",
            {"previous": "ROOM-DBL", "resource": "ROOM-TWIN", "reason": "flood", "at": LATER},
        )
    ]
    assert booking.resource == "ROOM-TWIN"
    assert booking.documents == []


# -- the cancellation fee --------------------------------------------------------------------


def test_cancelling_a_hold_costs_nothing_even_close_to_the_stay() -> None:
    booking = given(hold(expires_at=None))

    assert booking.cancel("changed plans", START - timedelta(hours=1)) == Decimal(0)


@pytest.mark.parametrize(
    "before_start", [timedelta(days=30), timedelta(hours=25), timedelta(hours=24)]
)
def test_cancelling_a_confirmation_until_the_free_window_closes_costs_nothing(
    before_start: timedelta,
) -> None:
    booking = confirmed()

    fee = booking.cancel("changed plans", START - before_start)

    assert fee == Decimal(0)
    assert new_events(booking) == [
        (
            "Booking.BookingCancelled",
            {"reason": "changed plans", "fee": Decimal(0), "at": START - before_start},
        )
    ]
    assert booking.status is BookingStatus.CANCELLED


@pytest.mark.parametrize(
    "before_start",
    [timedelta(hours=24) - timedelta(microseconds=1), timedelta(hours=1), timedelta(hours=-5)],
)
def test_cancelling_a_confirmation_inside_the_window_costs_the_terms_share_of_the_price(
    before_start: timedelta,
) -> None:
    booking = confirmed()

    fee = booking.cancel("changed plans", START - before_start)

    assert fee == Decimal("120.00")
    assert str(fee) == "120.00"
    assert new_events(booking)[0][1]["fee"] == fee


def test_the_window_counts_from_the_first_night_of_the_stay_as_modified() -> None:
    booking = confirmed()
    booking.modify(["2026-03-12", "2026-03-13"], 1, LATER)

    assert booking.cancel("changed plans", START + timedelta(hours=1)) == Decimal(0)


def test_a_timed_slot_opens_the_window_from_its_start_time() -> None:
    slot_start = datetime.fromisoformat("2026-03-10T15:30+00:00")
    booking = confirmed(slots=["2026-03-10T15:30Z"], terms={**TERMS, "free_cancellation_hours": 2})

    assert booking.cancel("x", slot_start - timedelta(hours=2)) == Decimal(0)
    booking = confirmed(slots=["2026-03-10T15:30Z"], terms={**TERMS, "free_cancellation_hours": 2})
    assert booking.cancel("x", slot_start - timedelta(minutes=119)) == Decimal("60.00")


@pytest.mark.parametrize(
    ("currency", "rate", "percent", "fee"),
    [
        ("EUR", "0.05", "50", "0.02"),  # 0.025: half-even rounds to the even cent
        ("EUR", "0.15", "50", "0.08"),  # 0.075
        ("EUR", "10.01", "33.33", "3.34"),  # 3.336333
        ("EUR", "120.00", "100", "120.00"),
        ("EUR", "120.00", "0", "0.00"),
        ("JPY", "125", "50", "62"),  # 62.5
        ("JPY", "375", "50", "188"),  # 187.5
        ("KWD", "10.005", "50", "5.002"),  # 5.0025
    ],
)
def test_the_fee_is_rounded_half_even_to_the_currencys_minor_unit(
    currency: str, rate: str, percent: str, fee: str
) -> None:
    booking = confirmed(
        slots=NIGHTS[:1],
        unit_rate=Decimal(rate),
        currency=currency,
        terms={"free_cancellation_hours": 24, "fee_percent_after": percent},
    )

    charged = booking.cancel("changed plans", START)

    assert str(charged) == fee


@EXAMPLES
@for_all(
    currency=st.sampled_from(["EUR", "JPY", "KWD", "CLF"]),
    minor_rate=st.integers(0, 10**7),
    quantity=st.integers(1, 9),
    nights=st.integers(1, 5),
    percent=st.decimals(0, 100, places=2),
)
def test_a_fee_is_the_terms_share_of_the_price_rounded_half_even(
    currency: str, minor_rate: int, quantity: int, nights: int, percent: Decimal
) -> None:
    places = minor_units(currency)
    rate = Decimal(minor_rate).scaleb(-places)
    slots = [(START + timedelta(days=i)).date().isoformat() for i in range(nights)]
    booking = confirmed(
        slots=slots,
        quantity=quantity,
        unit_rate=rate,
        currency=currency,
        terms={"free_cancellation_hours": 24, "fee_percent_after": str(percent)},
    )

    fee = booking.cancel("changed plans", START)

    # Independently: exact fractions, Python's round() (which rounds halves to even).
    share = Fraction(minor_rate * quantity * nights) * Fraction(percent) / 100
    assert fee == Decimal(round(share)).scaleb(-places)
    assert fee.as_tuple().exponent == -places
    assert 0 <= fee <= booking.total


# -- confirmation documents ------------------------------------------------------------------


def test_a_documents_digest_is_the_sha256_of_its_canonical_form() -> None:
    document = confirmed().document
    assert document is not None

    expected = hashlib.sha256(canonical(body(document))).hexdigest()

    assert document["digest"] == expected == digest(document)


def test_the_canonical_form_is_sorted_compact_utf8_json() -> None:
    document = {"b": 1, "a": {"d": [1, "München"], "c": None}, "é": True}

    assert canonical(document) == '{"a":{"c":null,"d":[1,"München"]},"b":1,"é":true}'.encode()


def test_a_document_holds_no_floats_only_text_whole_numbers_and_nulls() -> None:
    booking = confirmed(unit_rate=Decimal("99.99"), quantity=3)
    booking.modify(NIGHTS[:1], 2, LATER)

    for document in booking.documents:
        assert all(isinstance(leaf, str | int | None) for leaf in leaves(document))
        assert not any(isinstance(leaf, float) for leaf in leaves(document))
    assert booking.document is not None
    assert booking.document["unit_rate"] == {"amount": "99.99", "currency": "EUR"}
    assert booking.document["price"] == {"amount": "199.98", "currency": "EUR"}


def test_a_confirmation_number_has_twelve_crockford_characters_in_groups_of_four() -> None:
    booking = confirmed()
    document = booking.document
    assert document is not None

    assert NUMBER.fullmatch(document["confirmation_number"])
    assert document["confirmation_number"] == confirmation_number(booking.id, 1)


def test_a_modification_issues_a_new_document_replacing_the_last_and_keeps_the_old() -> None:
    booking = confirmed()
    first = deepcopy(booking.documents[0])

    booking.modify(["2026-03-10", "2026-03-11", "2026-03-12"], 2, WHEN)

    events = new_events(booking)
    assert names(events) == ["Booking.BookingModified", "Booking.ConfirmationIssued"]
    assert len(booking.documents) == 2
    original, current = booking.documents
    assert original == first
    assert digest(original) == original["digest"]
    assert current["replaces"] == first["confirmation_number"]
    assert current["confirmation_number"] != first["confirmation_number"]
    assert current["reason"] == "modified"
    assert current["issued_at"] == WHEN.isoformat()
    assert current["slots"] == ["2026-03-10", "2026-03-11", "2026-03-12"]
    assert current["quantity"] == 2
    assert current["price"] == {"amount": "720.00", "currency": "EUR"}
    assert digest(current) == current["digest"] != first["digest"]
    assert booking.document is current


def test_a_rebooking_issues_a_new_document_naming_the_reason() -> None:
    booking = confirmed()
    booking.modify(NIGHTS[:1], 1, LATER)

    booking.rebook("ROOM-TWIN", "flood", WHEN)

    first, second, third = booking.documents
    assert third["replaces"] == second["confirmation_number"]
    assert second["replaces"] == first["confirmation_number"]
    assert third["reason"] == "rebooked: flood"
    assert third["resource"] == "ROOM-TWIN"
    assert first["resource"] == second["resource"] == "ROOM-DBL"
    assert len({d["confirmation_number"] for d in booking.documents}) == 3
    assert all(digest(d) == d["digest"] for d in booking.documents)


def test_cancelling_or_progressing_issues_no_document() -> None:
    booking = confirmed()
    booking.check_in(START)
    booking.complete(START + timedelta(days=2))

    assert len(booking.documents) == 1


def test_confirmation_numbers_differ_between_bookings() -> None:
    numbers = {confirmed(reference=f"R-{n}").documents[0]["confirmation_number"] for n in range(50)}

    assert len(numbers) == 50


def test_replaying_the_events_rebuilds_the_same_booking_and_documents() -> None:
    booking = hold()
    booking.confirm("PAY-1", LATER)
    booking.modify(NIGHTS[:1], 2, LATER)
    booking.flag("overbooked", LATER)
    booking.rebook("ROOM-TWIN", "flood", WHEN)
    booking.cancel("changed plans", WHEN)

    rebuilt = replay(booking.collect_events())

    assert state_of(rebuilt) == state_of(booking)


def test_no_float_reaches_a_confirmation_whatever_terms_it_was_given() -> None:
    try:
        booking = confirmed(terms={"free_cancellation_hours": 24, "fee_percent_after": 12.5})
    except InvalidValue:
        return  # refused at the hold: fine
    document = booking.document
    assert document is not None
    assert not any(isinstance(leaf, float) for leaf in leaves(document))


# -- properties of documents -----------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a document a value sits, e.g. ("price", "amount") or ("slots", 1)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    changed = deepcopy(document)
    *parents, last = path
    target = changed
    for step in parents:
        target = target[step]
    target[last] = new
    return changed


def a_document() -> dict[str, Any]:
    booking = confirmed(guest={**GUEST, "phone": "+49 89 1234"}, quantity=2)
    booking.modify(["2026-03-10", "2026-03-11", "2026-03-12"], 2, WHEN)
    document = booking.document
    assert document is not None
    return document


DOCUMENT = a_document()


@EXAMPLES
@for_all(path=st.sampled_from(paths(body(DOCUMENT))), new=JSON_VALUES)
def test_the_digest_changes_when_any_field_changes(path: tuple[Any, ...], new: Any) -> None:
    changed = replaced(DOCUMENT, path, new)
    if changed == DOCUMENT:  # the same value drawn again: nothing changed
        return

    assert digest(changed) != DOCUMENT["digest"]
    assert digest(DOCUMENT) == DOCUMENT["digest"]


@EXAMPLES
@for_all(key=st.text(min_size=1, max_size=10).filter(lambda k: k not in DOCUMENT), new=JSON_VALUES)
def test_the_digest_changes_when_a_field_is_added_or_removed(key: str, new: Any) -> None:
    assert digest({**DOCUMENT, key: new}) != DOCUMENT["digest"]
    for name in body(DOCUMENT):
        assert digest({k: v for k, v in DOCUMENT.items() if k != name}) != DOCUMENT["digest"]


def test_the_digest_leaves_out_only_the_digest_itself() -> None:
    assert digest({**DOCUMENT, "digest": "anything"}) == DOCUMENT["digest"]


@settings(max_examples=100, deadline=None, database=None)
@for_all(document=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5), data=st.data())
def test_the_canonical_form_does_not_depend_on_key_order(
    document: dict[str, Any], data: st.DataObject
) -> None:
    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            keys = data.draw(st.permutations(list(value)))
            return {key: shuffled(value[key]) for key in keys}
        if isinstance(value, list):
            return [shuffled(item) for item in value]
        return value

    assert canonical(shuffled(document)) == canonical(document)
    assert digest(shuffled(document)) == digest(document)


@EXAMPLES
@for_all(booking=st.uuids(), sequence=st.integers(1, 10**9))
def test_a_confirmation_number_never_contains_i_l_o_or_u(booking: UUID, sequence: int) -> None:
    number = confirmation_number(booking, sequence)

    assert NUMBER.fullmatch(number)
    assert not set(number) & set("ILOU")
    assert set(number.replace("-", "")) <= set(CROCKFORD)
    assert confirmation_number(booking, sequence) == number  # the same every time


@EXAMPLES
@for_all(booking=st.uuids(), sequence=st.integers(1, 10**6))
def test_successive_documents_of_a_booking_have_different_numbers(
    booking: UUID, sequence: int
) -> None:
    assert confirmation_number(booking, sequence) != confirmation_number(booking, sequence + 1)


def test_the_crockford_alphabet_has_32_unambiguous_characters() -> None:
    assert len(CROCKFORD) == len(set(CROCKFORD)) == 32
    assert not set(CROCKFORD) & set("ILOU")
    assert set(CROCKFORD) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
