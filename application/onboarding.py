"""Bulk onboarding from one CSV file: locations, SKUs and stock levels.

Every row is checked first, with the domain's own rules, and the report names each row's
problems; only a file with none is applied. Columns (header row required)::

    type,code,name,kind,latitude,longitude,gtin,location,quantity
    location,WH-1,Main warehouse,warehouse,52.52,13.40,,,
    sku,TEE-1,Plain tee,,,,4006381333931,,
    stock,TEE-1,,,,,,WH-1,40

``stock`` rows are cycle counts: they set on hand to ``quantity``, so applying a file twice
leaves the same figures (locations and SKUs are created or re-described idempotently).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from application.commands import Request
from application.inventory import InventoryApp
from domain.errors import DomainError, InvalidValue, NotFound
from domain.identity import check_choice, check_code, check_gtin, check_quantity
from domain.inventory import AdjustmentReason
from domain.network import LocationKind, check_coordinates

COLUMNS = ("type", "code", "name", "kind", "latitude", "longitude", "gtin", "location", "quantity")
TYPES = ("location", "sku", "stock")
MAX_ROWS = 10_000


@dataclass
class Row:
    number: int  # the line in the file (the header is line 1)
    type: str
    values: dict[str, str]
    problems: list[str] = field(default_factory=list)


@dataclass
class Plan:
    rows: list[Row]
    problems: list[str] = field(default_factory=list)  # about the file as a whole

    @property
    def valid(self) -> bool:
        return not self.problems and all(not row.problems for row in self.rows)

    def counts(self) -> dict[str, int]:
        return {kind: sum(1 for row in self.rows if row.type == kind) for kind in TYPES}


def _decimal(text: str, what: str) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidValue(f"{what} is not a number: {text!r}", field=what) from None


def _check_row(
    row: Row, inventory: InventoryApp, new_locations: set[str], new_skus: set[str]
) -> None:
    v = row.values
    if row.type == "location":
        check_code(v["code"], "location")
        if not v["name"]:
            raise InvalidValue("a location needs a name", field="name")
        check_choice(LocationKind, v["kind"], "kind")
        check_coordinates(
            _decimal(v["latitude"], "latitude"), _decimal(v["longitude"], "longitude")
        )
    elif row.type == "sku":
        check_code(v["code"], "sku")
        if not v["name"]:
            raise InvalidValue("a SKU needs a name", field="name")
        if v["gtin"]:
            check_gtin(v["gtin"])
    else:
        check_code(v["code"], "sku")
        check_code(v["location"], "location")
        try:
            quantity = int(v["quantity"])
        except ValueError:
            raise InvalidValue(f"quantity is not a whole number: {v['quantity']!r}") from None
        check_quantity(quantity, allow_zero=True)
        if v["location"] not in new_locations:
            inventory.require_location(v["location"])
        if v["code"] not in new_skus:
            # The count is tried on the SKU as it stands (not saved): a figure below what is
            # reserved there is refused now, not halfway through applying the file.
            current = inventory.stock(v["code"])
            current.adjust(v["location"], AdjustmentReason.CYCLE_COUNT, quantity)


def plan(text: str, inventory: InventoryApp) -> Plan:
    """Read and check every row; nothing is written."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        return Plan([], [f"the header lacks the columns {', '.join(missing)}"])
    reader.fieldnames = header
    rows: list[Row] = []
    for number, record in enumerate(reader, start=2):
        if len(rows) >= MAX_ROWS:
            return Plan(rows, [f"more than {MAX_ROWS} rows: split the file"])
        values = {name: (record.get(name) or "").strip() for name in COLUMNS}
        rows.append(Row(number, values["type"].lower(), values))
    if not rows:
        return Plan([], ["the file holds no rows"])
    new_locations = {r.values["code"] for r in rows if r.type == "location"}
    new_skus = {r.values["code"] for r in rows if r.type == "sku"}
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        if row.type not in TYPES:
            row.problems.append(f"type must be one of {', '.join(TYPES)}, got {row.type!r}")
            continue
        key = (row.type, row.values["code"], row.values["location"] if row.type == "stock" else "")
        if key in seen:
            row.problems.append("the same row key appears earlier in the file")
        seen.add(key)
        try:
            _check_row(row, inventory, new_locations, new_skus)
        except (DomainError, NotFound) as error:
            row.problems.append(error.detail)
    return Plan(rows)


def apply(checked: Plan, inventory: InventoryApp, request: Request) -> dict[str, int]:
    """Write a checked plan: locations, then SKUs, then stock counts."""
    if not checked.valid:
        raise InvalidValue("the file has problems; nothing was written")
    for row in (r for r in checked.rows if r.type == "location"):
        v = row.values
        inventory.put_location(
            v["code"],
            v["name"],
            LocationKind(v["kind"]),
            _decimal(v["latitude"], "latitude"),
            _decimal(v["longitude"], "longitude"),
            request=request,
        )
    for row in (r for r in checked.rows if r.type == "sku"):
        v = row.values
        inventory.register_sku(v["code"], v["name"], v["gtin"] or None, request=request)
    for row in (r for r in checked.rows if r.type == "stock"):
        v = row.values
        inventory.adjust(
            v["code"],
            v["location"],
            AdjustmentReason.CYCLE_COUNT,
            int(v["quantity"]),
            request=request,
        )
    return checked.counts()


def report(checked: Plan) -> list[dict[str, Any]]:
    """One entry per row: its line, type, code and problems (empty when it is fine)."""
    return [
        {"line": row.number, "type": row.type, "code": row.values["code"], "problems": row.problems}
        for row in checked.rows
    ]
