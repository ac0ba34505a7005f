"""Reading a price file (CSV or JSON) into rows, naming every row that cannot be read.

CSV: a header with ``sku,amount`` and optionally ``valid_from,valid_until``; an empty amount
removes the price. JSON: an array of ``{"sku", "amount", "valid_from", "valid_until"}``
objects (or ``{"prices": [...]}``). Amounts are read as exact decimals, never as floats.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from api.limits import check_depth
from domain.price_list import PriceChange, RowError

COLUMNS = ("sku", "amount", "valid_from", "valid_until")
MAX_IMPORT_ROWS = 100_000
_DECODER = msgspec.json.Decoder(float_hook=Decimal)  # 19.99 stays exactly 19.99


class UnreadableFile(ValueError):
    pass


def read_prices(raw: bytes, content_type: str) -> list[PriceChange | RowError]:
    if content_type.startswith(("text/csv", "application/csv")):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise UnreadableFile(f"the file is not UTF-8: {error}") from None
        return _csv(text)
    if content_type.startswith("application/json"):
        check_depth(raw)  # an untyped decode recurses: deep nesting would be a RecursionError
        try:
            document = _DECODER.decode(raw)
        except msgspec.DecodeError as error:
            raise UnreadableFile(f"the file is not valid JSON: {error}") from None
        if isinstance(document, dict) and set(document) == {"prices"}:
            document = document["prices"]
        if not isinstance(document, list):
            raise UnreadableFile('a JSON price file is an array of rows (or {"prices": [...]})')
        return [_json_row(n, item) for n, item in enumerate(document, start=1)]
    raise UnreadableFile("send the file as text/csv or application/json")


def _csv(text: str) -> list[PriceChange | RowError]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = {"sku", "amount"} - set(header)
    unknown = set(header) - set(COLUMNS)
    if missing or unknown:
        raise UnreadableFile(
            f"the CSV header must name sku and amount, optionally valid_from and valid_until; "
            f"missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    rows: list[PriceChange | RowError] = []
    for number, record in enumerate(reader, start=1):
        if number > MAX_IMPORT_ROWS:
            raise UnreadableFile(f"at most {MAX_IMPORT_ROWS} rows per file")
        if None in record:  # more fields than the header has
            rows.append(RowError(number, None, "invalid-row", "more fields than the header"))
            continue
        rows.append(_row(number, {k: (v or "").strip() or None for k, v in record.items()}))
    return rows


def _json_row(number: int, item: Any) -> PriceChange | RowError:
    if not isinstance(item, dict) or not set(item) <= set(COLUMNS) or "sku" not in item:
        return RowError(
            number, None, "invalid-row", f"a row is an object with keys from {list(COLUMNS)}"
        )
    return _row(number, item)


def _row(number: int, item: dict[str, Any]) -> PriceChange | RowError:
    sku = item.get("sku")
    if not isinstance(sku, str):
        return RowError(number, "sku", "invalid-value", "sku must be text")
    amount: Decimal | None = None
    if item.get("amount") is not None:
        raw = item["amount"]
        if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
            return RowError(number, "amount", "invalid-value", f"amount {raw!r} is not a number")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            return RowError(number, "amount", "invalid-value", f"amount {raw!r} is not a number")
    times: dict[str, datetime | None] = {}
    for field in ("valid_from", "valid_until"):
        value = item.get(field)
        if value is None:
            times[field] = None
            continue
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return RowError(
                number, field, "invalid-value", f"{field} must be an RFC 3339 time with a zone"
            )
        times[field] = parsed
    return PriceChange(sku, amount, times["valid_from"], times["valid_until"])
