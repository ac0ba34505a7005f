"""The orders read model: each order's state, lines, shipments and a timeline of every event.

Rows are written from the order events alone, one event at a time, and every value comes
from an event (times included), so a rebuild from position 0 equals the live tables row for
row. The order status follows the aggregate's own rules (domain/order.py): it is set by the
event that names it, or settled from the shipments' states after a shipment moves.

The timeline keeps one row per event with who did it (actor, channel, correlation and
causation ids from the event's metadata), when it happened (``at``) and was recorded, and a
readable ``summary`` and ``detail``: the prices and promotions at placement, the routing
reason and the reservations at confirmation, amounts, shipments, reasons and returns.

JSON values (``detail``, ``customer``, ``ship_to``) are stored as canonical JSON text (sorted
keys) rather than jsonb: the rebuild comparison hashes rows, and text compares exactly.
Queries cast them with ``::jsonb``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import Identifier

from domain.customer import erased
from domain.order import Order, OrderStatus, ShipmentStatus
from infrastructure.eventstore import EventMeta
from projections.schema import SchemaProjection, event_class

LOG = "orders"

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.orders (
    order_id uuid PRIMARY KEY, channel text NOT NULL, order_number text NOT NULL,
    status text NOT NULL, fulfilment text NOT NULL, currency text NOT NULL,
    total numeric NOT NULL, authorised numeric NOT NULL, captured numeric NOT NULL,
    refunded numeric NOT NULL, payment_due_by timestamptz, pickup_location text,
    customer_id text, customer text, ship_to text, split_allowed boolean NOT NULL,
    routing_reason text, closed_reason text,
    placed_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    placed_position bigint NOT NULL UNIQUE, last_position bigint NOT NULL,
    version bigint NOT NULL, UNIQUE (channel, order_number));
CREATE INDEX IF NOT EXISTS orders_by_channel ON {s}.orders (channel, placed_position);
CREATE INDEX IF NOT EXISTS orders_by_status ON {s}.orders (status, placed_position);
CREATE INDEX IF NOT EXISTS orders_awaiting_payment ON {s}.orders (payment_due_by)
    WHERE status IN ('placed', 'confirmed') AND payment_due_by IS NOT NULL;
CREATE TABLE IF NOT EXISTS {s}.order_lines (
    order_id uuid NOT NULL, line integer NOT NULL, sku text NOT NULL,
    quantity bigint NOT NULL, unit_price numeric NOT NULL, effective_price numeric,
    list_price numeric, promotion_ids text[] NOT NULL, price_list_version bigint,
    price_entry_version bigint, returned bigint NOT NULL,
    PRIMARY KEY (order_id, line));
CREATE INDEX IF NOT EXISTS order_lines_by_sku ON {s}.order_lines (sku, order_id);
CREATE TABLE IF NOT EXISTS {s}.order_shipments (
    order_id uuid NOT NULL, shipment text NOT NULL, location text NOT NULL,
    status text NOT NULL, carrier text, tracking text,
    PRIMARY KEY (order_id, shipment));
CREATE TABLE IF NOT EXISTS {s}.order_shipment_lines (
    order_id uuid NOT NULL, shipment text NOT NULL, line integer NOT NULL,
    sku text NOT NULL, quantity bigint NOT NULL, reservation_id text NOT NULL,
    PRIMARY KEY (order_id, shipment, line));
CREATE TABLE IF NOT EXISTS {s}.order_timeline (
    order_id uuid NOT NULL, version bigint NOT NULL, position bigint NOT NULL UNIQUE,
    event text NOT NULL, at timestamptz NOT NULL, recorded_at timestamptz NOT NULL,
    status text NOT NULL, actor text NOT NULL, channel text, correlation_id text,
    causation_id text, summary text NOT NULL, detail text NOT NULL,
    PRIMARY KEY (order_id, version))
"""

UNSHIPPED = (ShipmentStatus.ALLOCATED, ShipmentStatus.PICKED, ShipmentStatus.PACKED)
GONE = (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED)

# What a handler hands back for the timeline: a one-line summary and the detail.
Entry = tuple[str, dict[str, Any]]


def settled_status(states: Iterable[str]) -> OrderStatus:
    """The order status its shipments' states imply: ``Order._settle_status``, as data."""
    live = [state for state in states if state != ShipmentStatus.CANCELLED]
    if live and all(state == ShipmentStatus.DELIVERED for state in live):
        return OrderStatus.DELIVERED
    if live and all(state in GONE for state in live):
        return OrderStatus.SHIPPED
    return OrderStatus.PARTIALLY_SHIPPED


def to_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, decimals and times as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class OrdersProjection(SchemaProjection):
    """Builds the orders read model in PostgreSQL schema ``schema``."""

    tables = TABLES

    def __init__(self, schema: str = "orders") -> None:
        super().__init__("orders", schema, LOG)
        handlers: dict[str, Callable[[psycopg.Cursor[Any], Any, int], Entry]] = {
            "OrderPlaced": self._placed,
            "OrderConfirmed": self._confirmed,
            "OrderRejected": self._rejected,
            "PaymentAuthorised": self._authorised,
            "PaymentCaptured": self._captured,
            "RefundRecorded": self._refunded,
            "ShipmentPicked": self._picked,
            "ShipmentPacked": self._packed,
            "ShipmentShipped": self._shipped,
            "ShipmentDelivered": self._delivered,
            "OrderCancelled": self._cancelled,
            "OrderExpired": self._expired,
            "ReturnRecorded": self._returned,
            "PersonalDataErased": self._erased,
            "ShipToErased": self._ship_to_erased,
        }
        self.handlers = {event_class(Order, name): fn for name, fn in handlers.items()}

    def apply(self, cur: psycopg.Cursor[Any], event: Any, meta: EventMeta, position: int) -> None:
        handler = self.handlers.get(type(event))
        if handler is None:
            return
        summary, detail = handler(cur, event, position)
        row = cur.execute(
            self.sql(
                "UPDATE {s}.orders SET version = %s, last_position = %s, updated_at = %s "
                "WHERE order_id = %s RETURNING status"
            ),
            (event.originator_version, position, event.timestamp, event.originator_id),
        ).fetchone()
        if row is None:
            raise LookupError(f"orders: no row for order {event.originator_id}")
        at = event.placed_at if hasattr(event, "placed_at") else event.at
        cur.execute(
            self.sql(
                "INSERT INTO {s}.order_timeline VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                event.originator_id,
                event.originator_version,
                position,
                type(event).__name__,
                at,
                event.timestamp,
                row[0],
                meta.actor,
                meta.channel,
                meta.correlation_id,
                meta.causation_id,
                summary,
                to_json(detail),
            ),
        )

    # -- placement and the stock outcome ---------------------------------------------------

    def _placed(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> Entry:
        customer = e.customer or {}
        payment = e.payment
        authorised = payment["amount"] if payment else Decimal(0)
        captured = payment["amount"] if payment and payment["status"] == "captured" else Decimal(0)
        cur.execute(
            self.sql(
                "INSERT INTO {s}.orders VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, NULL, NULL, %s, %s, %s, %s, %s)"
            ),
            (
                e.originator_id,
                e.channel,
                e.order_number,
                OrderStatus.PLACED.value,
                str(e.fulfilment),
                e.currency,
                e.total,
                authorised,
                captured,
                Decimal(0),
                e.payment_due_by,
                e.pickup_location,
                customer.get("customer_id"),
                None if e.customer is None else to_json(e.customer),
                None if e.ship_to is None else to_json(e.ship_to),
                e.split_allowed,
                e.placed_at,
                e.timestamp,
                position,
                position,
                e.originator_version,
            ),
        )
        cur.executemany(
            self.sql(
                "INSERT INTO {s}.order_lines VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0)"
            ),
            [
                (
                    e.originator_id,
                    line["line"],
                    line["sku"],
                    line["quantity"],
                    line["unit_price"],
                    line["effective_price"],
                    line["list_price"],
                    list(line["promotion_ids"]),
                    line["price_list_version"],
                    line["price_entry_version"],
                )
                for line in e.lines
            ],
        )
        lines = [
            {
                "line": line["line"],
                "sku": line["sku"],
                "quantity": line["quantity"],
                "unit_price": _amount(line["unit_price"]),
                "effective_price": _amount(line["effective_price"]),
                "list_price": _amount(line["list_price"]),
                "promotion_ids": list(line["promotion_ids"]),
                "price_list_version": line["price_list_version"],
                "price_entry_version": line["price_entry_version"],
            }
            for line in e.lines
        ]
        detail = {
            "channel": e.channel,
            "order_number": e.order_number,
            "fulfilment": str(e.fulfilment),
            "currency": e.currency,
            "total": _amount(e.total),
            "lines": lines,
            "customer_id": customer.get("customer_id"),
            "pickup_location": e.pickup_location,
            "split_allowed": e.split_allowed,
            "payment_due_by": e.payment_due_by,
            "payment": None
            if payment is None
            else {
                "status": payment["status"],
                "amount": _amount(payment["amount"]),
                "reference": payment["reference"],
            },
        }
        units = sum(line["quantity"] for line in e.lines)
        summary = (
            f"placed on {e.channel} as {e.order_number}: {len(e.lines)} line(s), "
            f"{units} unit(s), total {e.total} {e.currency}, {e.fulfilment}"
        )
        if payment is not None:
            summary += f", {payment['status']} {payment['amount']} {e.currency} at placement"
        return summary, detail

    def _confirmed(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        cur.executemany(
            self.sql("INSERT INTO {s}.order_shipments VALUES (%s, %s, %s, %s, NULL, NULL)"),
            [
                (e.originator_id, item["shipment"], item["location"], ShipmentStatus.ALLOCATED)
                for item in e.shipments
            ],
        )
        cur.executemany(
            self.sql("INSERT INTO {s}.order_shipment_lines VALUES (%s, %s, %s, %s, %s, %s)"),
            [
                (
                    e.originator_id,
                    item["shipment"],
                    line["line"],
                    line["sku"],
                    line["quantity"],
                    line["reservation_id"],
                )
                for item in e.shipments
                for line in item["lines"]
            ],
        )
        self._set(cur, e, status=OrderStatus.CONFIRMED, routing_reason=e.reason)
        shipments = [
            {
                "shipment": item["shipment"],
                "location": item["location"],
                "lines": [
                    {
                        "line": line["line"],
                        "sku": line["sku"],
                        "quantity": line["quantity"],
                        "reservation_id": line["reservation_id"],
                    }
                    for line in item["lines"]
                ],
            }
            for item in e.shipments
        ]
        where = ", ".join(f"{item['shipment']}@{item['location']}" for item in e.shipments)
        summary = f"confirmed: {len(e.shipments)} shipment(s) ({where}); routing: {e.reason}"
        return summary, {"routing_reason": e.reason, "shipments": shipments}

    def _rejected(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        self._set(cur, e, status=OrderStatus.REJECTED, closed_reason=e.reason)
        return f"rejected: {e.reason}", {"reason": e.reason, "shortages": e.shortages}

    # -- payment ---------------------------------------------------------------------------

    def _authorised(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        currency = self._add(cur, e, "authorised", e.amount)
        detail = {"amount": _amount(e.amount), "currency": currency, "reference": e.reference}
        return f"payment authorised: {e.amount} {currency} ({e.reference})", detail

    def _captured(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        currency = self._add(cur, e, "captured", e.amount)
        detail = {"amount": _amount(e.amount), "currency": currency, "reference": e.reference}
        return f"payment captured: {e.amount} {currency} ({e.reference})", detail

    def _refunded(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        currency = self._add(cur, e, "refunded", e.amount)
        detail = {
            "refund_id": e.refund_id,
            "amount": _amount(e.amount),
            "currency": currency,
            "reference": e.reference,
        }
        return f"refund {e.refund_id} recorded: {e.amount} {currency} ({e.reference})", detail

    # -- shipments -------------------------------------------------------------------------

    def _picked(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        location = self._move(cur, e.originator_id, [e.shipment], ShipmentStatus.PICKED)
        return f"shipment {e.shipment} picked at {location}", {
            "shipment": e.shipment,
            "location": location,
        }

    def _packed(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        location = self._move(cur, e.originator_id, [e.shipment], ShipmentStatus.PACKED)
        return f"shipment {e.shipment} packed at {location}", {
            "shipment": e.shipment,
            "location": location,
        }

    def _shipped(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        cur.execute(
            self.sql(
                "UPDATE {s}.order_shipments SET carrier = %s, tracking = %s "
                "WHERE order_id = %s AND shipment = %s"
            ),
            (e.carrier, e.tracking, e.originator_id, e.shipment),
        )
        location = self._move(cur, e.originator_id, [e.shipment], ShipmentStatus.SHIPPED)
        self._set(cur, e, status=self._settle(cur, e.originator_id))
        reservations = self._reservations(cur, e.originator_id, [e.shipment])
        summary = f"shipment {e.shipment} left {location}"
        if e.carrier or e.tracking:
            summary += f" with {e.carrier or 'a carrier'} ({e.tracking or 'no tracking'})"
        return summary, {
            "shipment": e.shipment,
            "location": location,
            "carrier": e.carrier,
            "tracking": e.tracking,
            "committed_reservations": reservations,
        }

    def _delivered(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        location = self._move(cur, e.originator_id, [e.shipment], ShipmentStatus.DELIVERED)
        self._set(cur, e, status=self._settle(cur, e.originator_id))
        return f"shipment {e.shipment} delivered", {"shipment": e.shipment, "location": location}

    # -- ending early and returns ----------------------------------------------------------

    def _cancelled(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        self._move(cur, e.originator_id, e.shipments, ShipmentStatus.CANCELLED)
        states = self._states(cur, e.originator_id)
        # Like the aggregate: an order with goods on their way settles on its shipments.
        status = (
            self._settle(cur, e.originator_id)
            if any(state in GONE for state in states)
            else OrderStatus.CANCELLED
        )
        self._set(cur, e, status=status, closed_reason=e.reason)
        released = self._reservations(cur, e.originator_id, e.shipments)
        summary = f"cancelled: {e.reason}"
        if e.shipments:
            summary += f"; shipment(s) {', '.join(e.shipments)} cancelled"
        return summary, {
            "reason": e.reason,
            "cancelled_shipments": list(e.shipments),
            "released_reservations": released,
        }

    def _erased(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        """The customer and ship-to as the aggregate now shows them: erased (decision 0018)."""
        row = cur.execute(
            self.sql("SELECT customer, ship_to FROM {s}.orders WHERE order_id = %s"),
            (e.originator_id,),
        ).fetchone()
        customer, ship_to = (None, None) if row is None else row
        cur.execute(
            self.sql("UPDATE {s}.orders SET customer = %s, ship_to = %s WHERE order_id = %s"),
            (
                None if customer is None else to_json(erased(json.loads(customer))),
                None if ship_to is None else to_json(erased(json.loads(ship_to))),
                e.originator_id,
            ),
        )
        return "personal data erased", {"legal_basis": e.legal_basis}

    def _ship_to_erased(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        row = cur.execute(
            self.sql("SELECT ship_to FROM {s}.orders WHERE order_id = %s"), (e.originator_id,)
        ).fetchone()
        if row is not None and row[0] is not None:
            cur.execute(
                self.sql("UPDATE {s}.orders SET ship_to = %s WHERE order_id = %s"),
                (to_json(erased(json.loads(row[0]))), e.originator_id),
            )
        return "ship-to address erased", {"legal_basis": e.legal_basis}

    def _expired(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        self._move(cur, e.originator_id, e.shipments, ShipmentStatus.CANCELLED)
        reason = f"not paid by {e.deadline.isoformat()}"
        self._set(cur, e, status=OrderStatus.EXPIRED, closed_reason=reason)
        released = self._reservations(cur, e.originator_id, e.shipments)
        return f"expired: {reason}", {
            "deadline": e.deadline,
            "cancelled_shipments": list(e.shipments),
            "released_reservations": released,
        }

    def _returned(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> Entry:
        cur.executemany(
            self.sql(
                "UPDATE {s}.order_lines SET returned = returned + %s "
                "WHERE order_id = %s AND line = %s"
            ),
            [(item["quantity"], e.originator_id, item["line"]) for item in e.lines],
        )
        units = sum(item["quantity"] for item in e.lines)
        lines = [
            {"line": item["line"], "sku": item["sku"], "quantity": item["quantity"]}
            for item in e.lines
        ]
        summary = f"return {e.return_id}: {units} unit(s) back at {e.location}, {e.disposition}"
        return summary, {
            "return_id": e.return_id,
            "location": e.location,
            "disposition": str(e.disposition),
            "lines": lines,
        }

    # -- helpers ---------------------------------------------------------------------------

    def _set(
        self,
        cur: psycopg.Cursor[Any],
        e: Any,
        *,
        status: OrderStatus,
        routing_reason: str | None = None,
        closed_reason: str | None = None,
    ) -> None:
        cur.execute(
            self.sql(
                "UPDATE {s}.orders SET status = %s, "
                "routing_reason = COALESCE(%s, routing_reason), "
                "closed_reason = COALESCE(%s, closed_reason) WHERE order_id = %s"
            ),
            (status.value, routing_reason, closed_reason, e.originator_id),
        )

    def _add(self, cur: psycopg.Cursor[Any], e: Any, column: str, amount: Decimal) -> str:
        """Add ``amount`` to a payment column; the order's currency."""
        row = cur.execute(
            self.sql(
                "UPDATE {s}.orders SET {c} = {c} + %s WHERE order_id = %s RETURNING currency",
                c=Identifier(column),
            ),
            (amount, e.originator_id),
        ).fetchone()
        if row is None:
            raise LookupError(f"orders: no row for order {e.originator_id}")
        return str(row[0])

    def _move(
        self, cur: psycopg.Cursor[Any], order: UUID, shipments: list[str], to: ShipmentStatus
    ) -> str:
        """Set the status of ``shipments``; the location of the first one ('' for none)."""
        rows = cur.execute(
            self.sql(
                "UPDATE {s}.order_shipments SET status = %s "
                "WHERE order_id = %s AND shipment = ANY(%s) RETURNING shipment, location"
            ),
            (to.value, order, list(shipments)),
        ).fetchall()
        if len(rows) != len(set(shipments)):
            raise LookupError(f"order_shipments: order {order} lacks one of {shipments}")
        found = dict(rows)
        return str(found[shipments[0]]) if shipments else ""

    def _states(self, cur: psycopg.Cursor[Any], order: UUID) -> list[str]:
        rows = cur.execute(
            self.sql("SELECT status FROM {s}.order_shipments WHERE order_id = %s"), (order,)
        ).fetchall()
        return [row[0] for row in rows]

    def _settle(self, cur: psycopg.Cursor[Any], order: UUID) -> OrderStatus:
        return settled_status(self._states(cur, order))

    def _reservations(
        self, cur: psycopg.Cursor[Any], order: UUID, shipments: list[str]
    ) -> list[str]:
        rows = cur.execute(
            self.sql(
                "SELECT reservation_id FROM {s}.order_shipment_lines "
                "WHERE order_id = %s AND shipment = ANY(%s) ORDER BY shipment, line"
            ),
            (order, list(shipments)),
        ).fetchall()
        return [row[0] for row in rows]
