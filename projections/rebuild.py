"""Rebuild a read model from position 0 beside the live one, compare, and swap it in."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.sql import SQL, Identifier

from projections.atp import AtpProjection
from projections.bookings import BookingsProjection
from projections.follower import Follower, Projection
from projections.orders import OrdersProjection
from projections.prices import PricingProjection

# The tables that make up the ATP read model, each with the columns that order its rows.
ATP_TABLES: dict[str, str] = {
    "locations": "code",
    "channels": "code",
    "channel_locations": "channel, location",
    "skus": "sku",
    "stock": "sku, location",
    "buffers": "channel, sku",
    "availability": "channel, sku",
    "holds": "sku, reservation_id",
}


PRICING_TABLES: dict[str, str] = {
    "lists": "channel, currency",
    "list_versions": "channel, currency, version",
    "layers": "channel, currency, sku, version, idx",
    "promotions": "promotion_id, version",
    "floor_streams": "stream_id",
    "floors": "currency, sku, version",
    "rules": "rule_id",
}

ORDER_TABLES: dict[str, str] = {
    "orders": "order_id",
    "order_lines": "order_id, line",
    "order_shipments": "order_id, shipment",
    "order_shipment_lines": "order_id, shipment, line",
    "order_timeline": "order_id, version",
}

BOOKING_TABLES: dict[str, str] = {
    "resources": "code",
    "allotments": "resource, channel",
    "channel_rules": "resource, channel",
    "closed_slots": "resource, slot",
    "uses": "resource, slot, booking_id",
    "bookings": "booking_id",
    "documents": "confirmation_number",
    "booking_timeline": "booking_id, version",
}

# Each read model: the log it follows, how to build its projection, its tables.
READ_MODELS: dict[str, tuple[str, Any, dict[str, str]]] = {
    "atp": ("inventory_events", AtpProjection, ATP_TABLES),
    "pricing": ("pricing_events", PricingProjection, PRICING_TABLES),
    "orders": ("orders_events", OrdersProjection, ORDER_TABLES),
    "bookings": ("bookings_events", BookingsProjection, BOOKING_TABLES),
}


def rebuild(conninfo: str, model: str, schema: str, batch_size: int = 5000) -> int:
    """Build read model ``model`` into ``schema`` from position 0; return events applied."""
    events_table, make, _ = READ_MODELS[model]
    return _rebuild(conninfo, events_table, make(schema), schema, batch_size)


def rebuild_atp(conninfo: str, events_table: str, schema: str, batch_size: int = 5000) -> int:
    """Build the ATP read model into ``schema`` from position 0; return events applied."""
    return _rebuild(conninfo, events_table, AtpProjection(schema), schema, batch_size)


def _rebuild(
    conninfo: str, events_table: str, projection: Projection, schema: str, batch_size: int
) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))
        exists = conn.execute("SELECT to_regclass(%s)", (events_table,)).fetchone()
    follower = Follower(conninfo, events_table, projection, batch_size=batch_size)
    follower.setup()
    if exists is None or exists[0] is None:
        return 0  # nothing was ever written to this log
    with psycopg.connect(conninfo) as conn:
        return follower.catch_up(conn)


def table_rows(
    conn: psycopg.Connection[Any], schema: str, table: str, tables: dict[str, str] = ATP_TABLES
) -> list[tuple[Any, ...]]:
    order = tables[table]
    rows = conn.execute(
        SQL("SELECT * FROM {}.{} ORDER BY " + order).format(  # noqa: S608 - fixed names
            Identifier(schema), Identifier(table)
        )
    ).fetchall()
    # Arrays come back as lists; rows are compared as sets, so make them hashable.
    return [tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in rows]


def differences(
    conninfo: str, live: str, rebuilt: str, tables: dict[str, str] = ATP_TABLES
) -> dict[str, int]:
    """Tables whose rows differ between two schemas, with the count of differing rows."""
    found: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn:
        for table in tables:
            a = set(table_rows(conn, live, table, tables))
            b = set(table_rows(conn, rebuilt, table, tables))
            if a != b:
                found[table] = len(a ^ b)
    return found


def swap_in(conninfo: str, live: str, rebuilt: str) -> None:
    """Replace ``live`` by ``rebuilt`` atomically; a running follower waits, then continues
    from the rebuilt schema's own tracking position."""
    old = f"{live}_replaced"
    with psycopg.connect(conninfo) as conn, conn.transaction():
        # Wait for the live follower's batch to end, then keep it out until the swap commits;
        # it then finds the tracking table by name again, in the rebuilt schema.
        conn.execute(
            SQL("LOCK TABLE {}.tracking IN ACCESS EXCLUSIVE MODE").format(Identifier(live))
        )
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(old)))
        conn.execute(SQL("ALTER SCHEMA {} RENAME TO {}").format(Identifier(live), Identifier(old)))
        conn.execute(
            SQL("ALTER SCHEMA {} RENAME TO {}").format(Identifier(rebuilt), Identifier(live))
        )
        conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(old)))
