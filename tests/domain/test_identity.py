"""Natural keys, stream ids and the value checks every command relies on."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidValue
from domain.identity import (
    LEDGERLINE_NAMESPACE,
    MAX_QUANTITY,
    check_code,
    check_gtin,
    check_quantity,
    stream_id,
)


def gs1_check_digit(body: str) -> int:
    """Reference GS1 check digit, computed independently of the code under test.

    Left-pad the data digits to 17 (the GSIN length) and weight them 3,1,3,1,... from the
    left; padding with zeros changes nothing and makes the weights fixed.
    """
    padded = body.rjust(17, "0")
    total = sum(
        int(digit) * (3 if position % 2 == 0 else 1) for position, digit in enumerate(padded)
    )
    return -total % 10


# -- stream ids ------------------------------------------------------------------------------


def test_a_stream_id_is_the_same_for_the_same_kind_and_key() -> None:
    assert stream_id("sku", "SKU-1") == stream_id("sku", "SKU-1")


def test_stream_ids_differ_by_kind_and_by_key() -> None:
    ids = {
        stream_id("sku", "A"),
        stream_id("location", "A"),
        stream_id("channel", "A"),
        stream_id("sku", "B"),
    }

    assert len(ids) == 4


def test_a_stream_id_is_a_uuid5_in_the_ledgerline_namespace() -> None:
    assert UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f") == LEDGERLINE_NAMESPACE
    assert stream_id("sku", "SKU-1").version == 5


# -- codes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["a", "0", "WH-1", "web_shop", "v1.2", "A" * 64, "9-._"])
def test_a_code_of_letters_digits_dots_underscores_and_dashes_is_accepted(code: str) -> None:
    assert check_code(code, "sku") == code


@pytest.mark.parametrize(
    "code",
    ["", "A" * 65, "-a", ".a", "_a", "a b", "a/b", "a:b", "ä", "\na", "a\u200b", None, 7, b"ab"],
)
def test_a_malformed_code_is_refused_naming_the_field(code: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_code(code, "location")  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "location"}


@pytest.mark.parametrize(
    "code",
    [pytest.param("SKU-1\n", id="SKU-1+newline"), pytest.param("A" * 64 + "\n", id="64+newline")],
)
def test_a_code_with_a_trailing_newline_is_refused(code: str) -> None:
    # "SKU-1\n" must not pass as a code: it would open a second stream beside "SKU-1".
    # (A regex ending in "$" also matches just before a final newline.)
    with pytest.raises(InvalidValue):
        check_code(code, "sku")


# -- quantities ------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [1, 2, MAX_QUANTITY])
def test_a_positive_whole_quantity_up_to_the_maximum_is_accepted(quantity: int) -> None:
    assert check_quantity(quantity) == quantity


def test_zero_is_accepted_only_where_a_count_allows_it() -> None:
    assert check_quantity(0, allow_zero=True) == 0
    with pytest.raises(InvalidValue):
        check_quantity(0)


@pytest.mark.parametrize("quantity", [-1, MAX_QUANTITY + 1, 1.0, 0.5, "1", None, True, False])
def test_a_quantity_that_is_not_a_whole_number_in_range_is_refused(quantity: object) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_quantity(quantity, "reorder_point", allow_zero=True)  # type: ignore[arg-type]

    assert refused.value.facts == {"field": "reorder_point"}


# -- GTINs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gtin", "check"),
    [("96385074", 4), ("036000291452", 2), ("4006381333931", 1), ("10012345678902", 2)],
)
def test_the_reference_check_digit_agrees_with_published_gtins(gtin: str, check: int) -> None:
    # Guards the oracle used by the property test below.
    assert gs1_check_digit(gtin[:-1]) == check
    assert check_gtin(gtin) == gtin


@settings(max_examples=300, database=None)
@given(
    body=st.sampled_from([7, 11, 12, 13]).flatmap(
        lambda length: st.text(alphabet="0123456789", min_size=length, max_size=length)
    )
)
def test_a_gtin_is_accepted_with_its_check_digit_and_refused_with_any_other(body: str) -> None:
    right = gs1_check_digit(body)

    assert check_gtin(f"{body}{right}") == f"{body}{right}"
    for wrong in set(range(10)) - {right}:
        with pytest.raises(InvalidValue):
            check_gtin(f"{body}{wrong}")


@settings(max_examples=100, database=None)
@given(
    digits=st.text(alphabet="0123456789", max_size=20).filter(
        lambda text: len(text) not in (8, 12, 13, 14)
    )
)
def test_a_gtin_of_any_other_length_is_refused(digits: str) -> None:
    with pytest.raises(InvalidValue):
        check_gtin(digits)
