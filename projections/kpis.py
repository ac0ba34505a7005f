"""Integration KPIs as read models (schema ``kpis``), one follower per log, plus their reads.

- cycle counts per day and location: counts, units counted, absolute variance (inventory
  accuracy = 1 - variance / counted; exact counts / counts); a first count where no stock
  was ever recorded is an opening stock take, kept apart;
- when each inventory event was stored, so connector acknowledgements (``connector_handled``)
  give the sync latency per connector (commit -> ack, p50 and p99);
- sales per channel, day and currency from confirmed orders (orders, units, revenue), and
  orders refused for want of stock (oversell attempts rejected), from the orders log.
Order fulfilment accuracy reads the orders read model (shipped orders with nothing returned).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

from application.inventory import InventoryApp
from application.orders import OrdersApp
from domain.inventory import AdjustmentReason, Inventory
from domain.order import Order
from infrastructure.eventstore import EventMeta, events_table
from projections.follower import Follower
from projections.schema import SchemaProjection, event_class

SCHEMA = "kpis"

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.cycle_counts (
    day date NOT NULL, location text NOT NULL, counts bigint NOT NULL,
    exact bigint NOT NULL, counted bigint NOT NULL, variance bigint NOT NULL,
    opening bigint NOT NULL, PRIMARY KEY (day, location));
CREATE TABLE IF NOT EXISTS {s}.stocked (
    stream_id uuid NOT NULL, location text NOT NULL, PRIMARY KEY (stream_id, location));
CREATE TABLE IF NOT EXISTS {s}.event_times (
    log text NOT NULL, position bigint NOT NULL, at timestamptz NOT NULL,
    PRIMARY KEY (log, position));
CREATE TABLE IF NOT EXISTS {s}.sales (
    day date NOT NULL, channel text NOT NULL, currency text NOT NULL, orders bigint NOT NULL,
    units bigint NOT NULL, revenue numeric NOT NULL, PRIMARY KEY (day, channel, currency));
CREATE TABLE IF NOT EXISTS {s}.order_channels (
    order_id uuid PRIMARY KEY, channel text NOT NULL, day date NOT NULL,
    currency text NOT NULL, units bigint NOT NULL, total numeric NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.rejections (
    day date NOT NULL, channel text NOT NULL, orders bigint NOT NULL,
    PRIMARY KEY (day, channel))
"""


def _day(event: Any) -> Any:
    stamp: datetime = event.timestamp
    return stamp.astimezone(UTC).date()


class InventoryKpis(SchemaProjection):
    """Cycle-count variance and event commit times, from the inventory log."""

    tables = TABLES

    def __init__(self, schema: str = SCHEMA) -> None:
        super().__init__("kpis-inventory", schema, "inventory")
        self._adjusted: Any = event_class(Inventory, "StockAdjusted")
        self._stocking = {
            event_class(Inventory, name)
            for name in ("StockReceived", "StockReturned", "StockAdjusted", "StockTransferred")
        }

    def apply(self, cur: psycopg.Cursor[Any], event: Any, meta: EventMeta, position: int) -> None:
        # The event's own timestamp is taken just before its transaction commits.
        cur.execute(
            self.sql("INSERT INTO {s}.event_times VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"),
            ("inventory", position, event.timestamp),
        )
        if type(event) is self._adjusted and event.reason == AdjustmentReason.CYCLE_COUNT:
            self._count(cur, event)
        places = [getattr(event, name, None) for name in ("location", "destination")]
        if type(event) in self._stocking:
            for place in (p for p in places if p is not None):
                cur.execute(
                    self.sql("INSERT INTO {s}.stocked VALUES (%s, %s) ON CONFLICT DO NOTHING"),
                    (event.originator_id, place),
                )

    def _count(self, cur: psycopg.Cursor[Any], event: Any) -> None:
        # The first count where no stock was ever recorded is the opening stock take, not a
        # variance: counted apart, so a newly onboarded site does not read as 0 % accurate.
        known = cur.execute(
            self.sql("SELECT 1 FROM {s}.stocked WHERE stream_id = %s AND location = %s"),
            (event.originator_id, event.location),
        ).fetchone()
        figures = (
            (0, 0, 0, 0, 1)
            if known is None
            else (1, int(event.delta == 0), event.counted or 0, abs(event.delta), 0)
        )
        cur.execute(
            self.sql(
                "INSERT INTO {s}.cycle_counts VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (day, location) DO UPDATE SET"
                " counts = cycle_counts.counts + excluded.counts,"
                " exact = cycle_counts.exact + excluded.exact,"
                " counted = cycle_counts.counted + excluded.counted,"
                " variance = cycle_counts.variance + excluded.variance,"
                " opening = cycle_counts.opening + excluded.opening"
            ),
            (_day(event), event.location, *figures),
        )


class OrderKpis(SchemaProjection):
    """Sales per channel, day and currency, and orders refused for want of stock."""

    tables = TABLES

    def __init__(self, schema: str = SCHEMA) -> None:
        super().__init__("kpis-orders", schema, "orders")
        self._placed: Any = event_class(Order, "OrderPlaced")
        self._rejected: Any = event_class(Order, "OrderRejected")
        self._confirmed: Any = event_class(Order, "OrderConfirmed")

    def apply(self, cur: psycopg.Cursor[Any], event: Any, meta: EventMeta, position: int) -> None:
        if type(event) is self._placed:
            units = sum(int(line["quantity"]) for line in event.lines)
            cur.execute(
                self.sql(
                    "INSERT INTO {s}.order_channels VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING"
                ),
                (
                    event.originator_id,
                    event.channel,
                    _day(event),
                    event.currency,
                    units,
                    Decimal(event.total),
                ),
            )
        elif type(event) is self._confirmed:
            # A sale is an order the stock was reserved for, on the day it was placed.
            cur.execute(
                self.sql(
                    "INSERT INTO {s}.sales SELECT day, channel, currency, 1, units, total "
                    "FROM {s}.order_channels WHERE order_id = %s "
                    "ON CONFLICT (day, channel, currency) DO UPDATE SET "
                    "orders = sales.orders + 1, units = sales.units + excluded.units, "
                    "revenue = sales.revenue + excluded.revenue"
                ),
                (event.originator_id,),
            )
        elif type(event) is self._rejected and event.shortages:
            cur.execute(
                self.sql(
                    "INSERT INTO {s}.rejections SELECT %s, channel, 1 FROM {s}.order_channels "
                    "WHERE order_id = %s ON CONFLICT (day, channel) DO UPDATE SET "
                    "orders = rejections.orders + 1"
                ),
                (_day(event), event.originator_id),
            )


def kpi_followers(conninfo: str) -> list[Follower]:
    """The followers that keep the KPI read models (``ledgerline up`` runs them)."""
    followers = [
        Follower(conninfo, events_table(InventoryApp.name), InventoryKpis()),
        Follower(conninfo, events_table(OrdersApp.name), OrderKpis()),
    ]
    for follower in followers:
        follower.setup()
    return followers


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _rows(
    conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    return list(conn.execute(query, params).fetchall())


def kpi_figures(conn: psycopg.Connection[Any], days: int = 14) -> dict[str, Any]:
    """Every KPI the dashboard and /metrics show; empty figures before any data.

    Synchronous: the dashboard runs it off the event loop, and Prometheus scrapes call it
    from a plain collector."""
    figures: dict[str, Any] = {
        "cycle_counts": 0,
        "opening_counts": 0,
        "inventory_accuracy": None,
        "exact_counts": None,
        "fulfilment_accuracy": None,
        "shipped_orders": 0,
        "latency": [],
        "rejected_orders": 0,
        "dead_letter_rate": None,
        "sales": [],
    }
    if _exists(conn, f"{SCHEMA}.cycle_counts"):
        counts, exact, counted, variance, opening = (
            _rows(
                conn,
                "SELECT COALESCE(sum(counts), 0), COALESCE(sum(exact), 0), "
                "COALESCE(sum(counted), 0), COALESCE(sum(variance), 0), "
                "COALESCE(sum(opening), 0) FROM kpis.cycle_counts",
            )
        )[0]
        figures["cycle_counts"] = int(counts)
        figures["opening_counts"] = int(opening)
        if counts:
            figures["exact_counts"] = float(exact) / float(counts)
            figures["inventory_accuracy"] = max(0.0, 1 - float(variance) / max(float(counted), 1))
        figures["rejected_orders"] = int(
            (_rows(conn, "SELECT COALESCE(sum(orders), 0) FROM kpis.rejections"))[0][0]
        )
        figures["sales"] = [
            {
                "day": day.isoformat(),
                "channel": channel,
                "currency": currency,
                "orders": int(orders),
                "units": int(units),
                "revenue": str(revenue),
            }
            for day, channel, currency, orders, units, revenue in _rows(
                conn,
                "SELECT day, channel, currency, orders, units, revenue FROM kpis.sales "
                "WHERE day > current_date - %s::int ORDER BY day, channel, currency",
                (days,),
            )
        ]
        if _exists(conn, "connector_handled"):
            figures["latency"] = [
                {
                    "connector": connector,
                    "events": int(events),
                    "p50_ms": float(p50),
                    "p99_ms": float(p99),
                }
                for connector, events, p50, p99 in _rows(
                    conn,
                    "SELECT h.connector, count(*), "
                    "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "
                    "h.handled_at - t.at) * 1000), "
                    "percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM "
                    "h.handled_at - t.at) * 1000) "
                    "FROM connector_handled h JOIN kpis.event_times t "
                    "ON t.log = h.log AND t.position = h.position "
                    "WHERE h.outcome = 'handled' GROUP BY h.connector ORDER BY h.connector",
                )
            ]
    if _exists(conn, "connector_handled"):
        total, dead = (
            _rows(
                conn,
                "SELECT count(*), count(*) FILTER (WHERE outcome = 'dead_lettered') "
                "FROM connector_handled",
            )
        )[0]
        figures["dead_letter_rate"] = float(dead) / float(total) if total else None
    if _exists(conn, "orders.orders"):
        shipped, exact = (
            _rows(
                conn,
                "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM "
                "orders.order_lines l WHERE l.order_id = o.order_id AND l.returned > 0)) "
                "FROM orders.orders o WHERE o.status IN ('shipped', 'delivered')",
            )
        )[0]
        figures["shipped_orders"] = int(shipped)
        figures["fulfilment_accuracy"] = float(exact) / float(shipped) if shipped else None
    return figures
