"""Natural keys and the stable aggregate ids derived from them.

Clients address everything by their own keys (SKU, location code, channel code). Aggregate ids
are UUIDv5 of ``kind:key``, so a repeated create lands on the same stream and is detectable.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar
from uuid import UUID, uuid5

from domain.errors import InvalidValue

# Fixed forever: changing it would move every stream.
LEDGERLINE_NAMESPACE = UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")

MAX_QUANTITY = 1_000_000_000

E = TypeVar("E", bound=StrEnum)


def stream_id(kind: str, key: str) -> UUID:
    return uuid5(LEDGERLINE_NAMESPACE, f"{kind}:{key}")


def check_code(value: str, what: str) -> str:
    """A SKU, location or channel code: 1-64 of letters, digits, '.', '_' or '-'."""
    # fullmatch: with match, "$" would let a trailing newline through.
    if not isinstance(value, str) or not CODE_PATTERN.fullmatch(value):
        raise InvalidValue(
            f"{what} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit; got {value!r}",
            field=what,
        )
    return value


def check_text(value: str, what: str, max_length: int, *, allow_empty: bool = False) -> str:
    """Free text (names, references, reasons): bounded, and no control characters or lone
    surrogates, which PostgreSQL text or UTF-8 cannot hold."""
    if not isinstance(value, str) or len(value) > max_length:
        raise InvalidValue(f"{what} must be text of at most {max_length} characters", field=what)
    if not allow_empty and not value.strip():
        raise InvalidValue(f"{what} must not be empty", field=what)
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise InvalidValue(f"{what} must not contain control characters", field=what)
    return value


def check_quantity(value: int, what: str = "quantity", *, allow_zero: bool = False) -> int:
    """Quantities are whole units, positive (or zero where a count allows it), bounded."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{what} must be a whole number, got {value!r}", field=what)
    low = 0 if allow_zero else 1
    if not low <= value <= MAX_QUANTITY:
        raise InvalidValue(
            f"{what} must be between {low} and {MAX_QUANTITY}, got {value}", field=what
        )
    return value


def check_choice(kind: type[E], value: object, what: str) -> E:
    """``value`` as a member of the enumeration ``kind``, or a named refusal."""
    for member in kind:
        if value == member.value:
            return member
    choices = ", ".join(member.value for member in kind)
    raise InvalidValue(f"{what} must be one of {choices}; got {value!r}", field=what)


def check_gtin(value: str) -> str:
    """A GS1 GTIN-8, -12, -13 or -14 with a valid check digit."""
    if not (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and len(value) in (8, 12, 13, 14)
    ):
        raise InvalidValue(f"GTIN must be 8, 12, 13 or 14 digits, got {value!r}", field="gtin")
    digits = [int(c) for c in value]
    body, check = digits[:-1], digits[-1]
    # GS1: weights 3,1,3,1,... from the digit next to the check digit, leftwards.
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        raise InvalidValue(f"GTIN {value} has a wrong check digit", field="gtin")
    return value


def check_instant(value: object, what: str) -> datetime:
    """A moment in time: timezone-aware, returned in UTC."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(f"{what} must be a time with a time zone, got {value!r}", field=what)
    return value.astimezone(UTC)
