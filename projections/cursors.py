"""What the list queries share: opaque cursors over a log position, and rows in UTC."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidValue


class PositionCursor:
    """An opaque token for "after log position N" of one list, refused for any other list."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def encode(self, position: int) -> str:
        return base64.urlsafe_b64encode(f"{self.prefix}{position}".encode()).decode()

    def decode(self, token: str) -> int:
        """The position a cursor stands after; InvalidValue if not one this list issued."""
        try:
            text = base64.urlsafe_b64decode(token.encode()).decode()
            if not text.startswith(self.prefix):
                raise ValueError(token)
            digits = text.removeprefix(self.prefix)
            if not digits.isdigit() or not 0 <= (position := int(digits)) < 2**63:
                raise ValueError(token)
            return position
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidValue("cursor is not one this API issued", field="cursor") from None


def utc_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row with every time in UTC (the session's zone may be another)."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in row.items()}
