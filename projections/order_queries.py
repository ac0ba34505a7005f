"""Reads over the orders read model: plain SQL, no aggregate is loaded to answer a read.

Times come back in UTC; amounts as Decimal; the timeline's ``detail`` (and an order's
``customer`` and ``ship_to``) as dicts. Lists page by an opaque cursor over the log position
of each order's placement, so a page never skips or repeats an order however many are
placed meanwhile (new orders come after every cursor already issued).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Composed, Identifier

from domain.errors import InvalidValue
from domain.order import OPEN, OrderStatus
from projections.cursors import PositionCursor, utc_row
from projections.orders import LOG, UNSHIPPED

MAX_LIMIT = 500
CURSOR_PREFIX = "orders:"
CURSOR = PositionCursor(CURSOR_PREFIX)
STATUSES = frozenset(status.value for status in OrderStatus)

ORDER_COLUMNS = (
    "order_id, channel, order_number, status, fulfilment, currency, total, authorised, "
    "captured, refunded, payment_due_by, pickup_location, customer_id, split_allowed, "
    "routing_reason, closed_reason, placed_at, updated_at, placed_position, last_position, "
    "version"
)


class OrderQueries:
    def __init__(self, schema: str = "orders") -> None:
        self.schema = schema
        self._s = Identifier(schema)

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(s=self._s)

    async def position(self, conn: AsyncConnection[Any]) -> int:
        """The last order-log position the read model applied (for read-your-writes)."""
        cur = await conn.execute(
            self._sql("SELECT position FROM {s}.tracking WHERE log = %s"), (LOG,)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def by_number(
        self, conn: AsyncConnection[Any], channel: str, order_number: str
    ) -> UUID | None:
        """The id of the channel's order ``order_number``, None if unknown."""
        cur = await conn.execute(
            self._sql("SELECT order_id FROM {s}.orders WHERE channel = %s AND order_number = %s"),
            (channel, order_number),
        )
        row = await cur.fetchone()
        return None if row is None else UUID(str(row[0]))

    async def detail(self, conn: AsyncConnection[Any], order_id: UUID) -> dict[str, Any] | None:
        """The order with its lines, shipments (and their lines) and timeline; None if unknown.

        The timeline is in log order: each event with its time, actor, channel, correlation
        and causation ids, the order status after it, a summary and its detail.
        """
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                self._sql(
                    f"SELECT {ORDER_COLUMNS}, customer::jsonb AS customer, "  # noqa: S608
                    "ship_to::jsonb AS ship_to FROM {s}.orders WHERE order_id = %s"
                ),
                (order_id,),
            )
            found = await cur.fetchone()
            if found is None:
                return None
            order = utc_row(found)
            await cur.execute(
                self._sql(
                    "SELECT line, sku, quantity, unit_price, effective_price, list_price, "
                    "promotion_ids, price_list_version, price_entry_version, returned "
                    "FROM {s}.order_lines WHERE order_id = %s ORDER BY line"
                ),
                (order_id,),
            )
            order["lines"] = list(await cur.fetchall())
            await cur.execute(
                self._sql(
                    "SELECT s.shipment, s.location, s.status, s.carrier, s.tracking, "
                    "COALESCE(jsonb_agg(jsonb_build_object('line', l.line, 'sku', l.sku, "
                    "'quantity', l.quantity, 'reservation_id', l.reservation_id) "
                    "ORDER BY l.line) FILTER (WHERE l.line IS NOT NULL), '[]') AS lines "
                    "FROM {s}.order_shipments s LEFT JOIN {s}.order_shipment_lines l "
                    "ON l.order_id = s.order_id AND l.shipment = s.shipment "
                    "WHERE s.order_id = %s GROUP BY s.shipment, s.location, s.status, "
                    "s.carrier, s.tracking ORDER BY s.shipment"
                ),
                (order_id,),
            )
            order["shipments"] = list(await cur.fetchall())
            await cur.execute(
                self._sql(
                    "SELECT position, version, event, at, recorded_at, status, actor, channel, "
                    "correlation_id, causation_id, summary, detail::jsonb AS detail "
                    "FROM {s}.order_timeline WHERE order_id = %s ORDER BY version"
                ),
                (order_id,),
            )
            order["timeline"] = [utc_row(row) for row in await cur.fetchall()]
        return order

    async def list(
        self,
        conn: AsyncConnection[Any],
        *,
        channel: str | None = None,
        status: str | None = None,
        sku: str | None = None,
        placed_from: datetime | None = None,
        placed_to: datetime | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """Orders matching every filter given, oldest placement first, and the cursor of the
        next page (None on the last page).

        ``placed_from`` is inclusive and ``placed_to`` exclusive; ``sku`` matches orders with a
        line of that SKU; ``after`` is a cursor from an earlier page.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidValue(f"limit must be 1 to {MAX_LIMIT}", field="limit")
        if status is not None and status not in STATUSES:
            raise InvalidValue(f"unknown order status {status!r}", field="status")
        conditions: builtins.list[Composable] = [SQL("o.placed_position > %(after)s")]
        if channel is not None:
            conditions.append(SQL("o.channel = %(channel)s"))
        if status is not None:
            conditions.append(SQL("o.status = %(status)s"))
        if sku is not None:
            conditions.append(
                SQL(
                    "EXISTS (SELECT 1 FROM {s}.order_lines l "
                    "WHERE l.order_id = o.order_id AND l.sku = %(sku)s)"
                ).format(s=self._s)
            )
        if placed_from is not None:
            conditions.append(SQL("o.placed_at >= %(placed_from)s"))
        if placed_to is not None:
            conditions.append(SQL("o.placed_at < %(placed_to)s"))
        query = SQL(
            "SELECT {columns} FROM {s}.orders o WHERE {where} "
            "ORDER BY o.placed_position LIMIT %(limit)s"
        ).format(
            columns=SQL(", ").join(SQL("o." + c.strip()) for c in ORDER_COLUMNS.split(",")),
            s=self._s,
            where=SQL(" AND ").join(conditions),
        )
        params = {
            "after": 0 if after is None else CURSOR.decode(after),
            "channel": channel,
            "status": status,
            "sku": sku,
            "placed_from": placed_from,
            "placed_to": placed_to,
            "limit": limit + 1,  # one more tells whether there is a next page
        }
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            rows = [utc_row(row) for row in await cur.fetchall()]
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        return rows, CURSOR.encode(rows[-1]["placed_position"])

    # -- for the expiry timer and for checks (sync) ----------------------------------------

    def due_for_ship_to_erasure(
        self, conn: psycopg.Connection[Any], delivered_before: datetime, limit: int = 100
    ) -> builtins.list[UUID]:
        """Delivered orders whose last delivery is older than ``delivered_before`` and whose
        ship-to address still reads (the retention process erases it)."""
        rows = conn.execute(
            self._sql(
                "SELECT o.order_id FROM {s}.orders o WHERE o.status = %s "
                "AND o.ship_to IS NOT NULL AND o.ship_to NOT LIKE %s "
                "AND (SELECT max(t.at) FROM {s}.order_timeline t WHERE t.order_id = o.order_id "
                "AND t.event = 'ShipmentDelivered') < %s ORDER BY o.order_id LIMIT %s"
            ),
            (OrderStatus.DELIVERED.value, '%"[erased]"%', delivered_before, limit),
        ).fetchall()
        return [row[0] for row in rows]

    def due_for_expiry(
        self, conn: psycopg.Connection[Any], now: datetime, limit: int = 100
    ) -> builtins.list[UUID]:
        """Orders still waiting for payment whose deadline is ``now`` or earlier, most
        overdue first."""
        rows = conn.execute(
            self._sql(
                "SELECT order_id FROM {s}.orders "
                "WHERE status = ANY(%s) AND payment_due_by IS NOT NULL "
                "AND payment_due_by <= %s AND authorised < total "
                "ORDER BY payment_due_by, order_id LIMIT %s"
            ),
            ([OrderStatus.PLACED.value, OrderStatus.CONFIRMED.value], now, limit),
        ).fetchall()
        return [UUID(str(row[0])) for row in rows]

    def open_holds_by_sku(self, conn: psycopg.Connection[Any]) -> dict[str, int]:
        """Units per SKU that open orders hold on shipments not yet shipped or cancelled:
        what the stock side should have reserved for orders."""
        rows = conn.execute(
            self._sql(
                "SELECT l.sku, SUM(l.quantity) FROM {s}.orders o "
                "JOIN {s}.order_shipments s ON s.order_id = o.order_id "
                "JOIN {s}.order_shipment_lines l "
                "ON l.order_id = s.order_id AND l.shipment = s.shipment "
                "WHERE o.status = ANY(%s) AND s.status = ANY(%s) "
                "GROUP BY l.sku ORDER BY l.sku"
            ),
            (
                sorted(status.value for status in OPEN),
                [status.value for status in UNSHIPPED],
            ),
        ).fetchall()
        return {str(sku): int(units) for sku, units in rows}
