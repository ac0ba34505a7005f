"""Available-to-promise (ATP) per channel and SKU, and the stock picture behind it.

ATP(channel, sku, now) = max(0, Σ over locations feeding the channel of (on hand - reserved
+ units of holds expired at ``now`` but not yet released) - the channel's safety buffer).

A hold that lapsed counts as free at once (as in ``Inventory.available_to_promise``), so
what is served never waits for the expiry timer. Time passes without events, so the stored
rows hold what does not depend on the clock: ``pooled`` (the figure before clamping at 0;
re-promised lapsed units can leave reserved above on hand), ``expiring`` (units of holds that
carry an expiry) and ``next_expiry`` (the earliest of their expiries), with the holds
themselves in ``holds``. ``atp`` is ``max(0, pooled)``, the served figure whenever no hold
has lapsed; ``projections.atp_queries`` adds lapsed holds at read time.

Each ``availability`` row remembers the log position of the event that last changed its
figure, so a channel can poll "what changed since my cursor" cheaply. Rows are recomputed by
one SQL statement per event, and only rows whose stored figures changed are touched; the
result is that of applying events one by one, whatever the batch boundaries, so a rebuild
from position 0 equals the live tables row for row.

A batch (a rebuild's, or a follower's catching up) folds each run of at least ``fold_from``
plain stock movements in memory instead (see ``apply_batch``): it loads the touched SKUs'
rows once, replays the run event by event on them with the same rules as the SQL, and
writes the final rows with one statement per table. The rows it writes are those the
event-by-event path would leave, log positions included. Events without a handler here (an
Allocation's, which change no stock figure) are skipped; the tracking position still passes
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import SQL, Identifier

from domain.inventory import Inventory
from domain.network import Channel, Location
from infrastructure.eventstore import EventMeta
from projections.schema import SchemaProjection, event_class

LOG = "inventory"

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.locations (
    code text PRIMARY KEY, stream_id uuid UNIQUE NOT NULL, name text NOT NULL,
    kind text NOT NULL, latitude numeric, longitude numeric);
CREATE TABLE IF NOT EXISTS {s}.channels (
    code text PRIMARY KEY, stream_id uuid UNIQUE NOT NULL, name text NOT NULL,
    kind text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.channel_locations (
    channel text NOT NULL, location text NOT NULL, PRIMARY KEY (channel, location));
CREATE TABLE IF NOT EXISTS {s}.skus (
    sku text PRIMARY KEY, stream_id uuid UNIQUE NOT NULL, name text NOT NULL, gtin text);
CREATE TABLE IF NOT EXISTS {s}.stock (
    sku text NOT NULL, location text NOT NULL, on_hand bigint NOT NULL,
    reserved bigint NOT NULL, reorder_point bigint, reorder_quantity bigint,
    expiring bigint NOT NULL DEFAULT 0, next_expiry timestamptz,
    PRIMARY KEY (sku, location));
CREATE TABLE IF NOT EXISTS {s}.buffers (
    channel text NOT NULL, sku text NOT NULL, quantity bigint NOT NULL,
    PRIMARY KEY (channel, sku));
CREATE TABLE IF NOT EXISTS {s}.availability (
    channel text NOT NULL, sku text NOT NULL, atp bigint NOT NULL,
    log_position bigint NOT NULL, pooled bigint NOT NULL, expiring bigint NOT NULL,
    next_expiry timestamptz, PRIMARY KEY (channel, sku));
CREATE INDEX IF NOT EXISTS availability_changes
    ON {s}.availability (channel, log_position, sku);
CREATE TABLE IF NOT EXISTS {s}.holds (
    sku text NOT NULL, reservation_id text NOT NULL, location text NOT NULL,
    quantity bigint NOT NULL, expires_at timestamptz NOT NULL,
    PRIMARY KEY (sku, reservation_id));
CREATE INDEX IF NOT EXISTS holds_by_expiry ON {s}.holds (sku, location, expires_at);
"""

# Recompute ATP for the (channel, sku) pairs selected by {where}; write only changed rows.
# Without expiring holds the served figure is ``atp``, so only a change of it moves the row in
# the change feed, as before holds could lapse. With them it also depends on the holds, so
# any change of what is stored counts.
RECOMPUTE = """
INSERT INTO {s}.availability AS a
    (channel, sku, atp, log_position, pooled, expiring, next_expiry)
SELECT c.code, k.sku, GREATEST(0, f.pooled), %(position)s, f.pooled, f.expiring, f.next_expiry
FROM {s}.channels c CROSS JOIN {s}.skus k
CROSS JOIN LATERAL (
    SELECT COALESCE(SUM(st.on_hand - st.reserved), 0)
             - COALESCE((SELECT b.quantity FROM {s}.buffers b
                         WHERE b.channel = c.code AND b.sku = k.sku), 0) AS pooled,
           COALESCE(SUM(st.expiring), 0) AS expiring,
           MIN(st.next_expiry) AS next_expiry
    FROM {s}.stock st JOIN {s}.channel_locations cl ON cl.location = st.location
    WHERE cl.channel = c.code AND st.sku = k.sku) f
WHERE {where}
ON CONFLICT (channel, sku) DO UPDATE
    SET atp = EXCLUDED.atp, pooled = EXCLUDED.pooled, expiring = EXCLUDED.expiring,
        next_expiry = EXCLUDED.next_expiry,
        log_position = CASE
            WHEN a.atp <> EXCLUDED.atp OR a.expiring > 0 OR EXCLUDED.expiring > 0
            THEN EXCLUDED.log_position ELSE a.log_position END
    WHERE (a.pooled, a.expiring, a.next_expiry)
          IS DISTINCT FROM (EXCLUDED.pooled, EXCLUDED.expiring, EXCLUDED.next_expiry)
"""

# A hold with an expiry was made: record it, and its units and expiry at its location.
HOLD_MADE = """
WITH made AS (
    INSERT INTO {s}.holds VALUES (%(sku)s, %(rid)s, %(location)s, %(quantity)s, %(expires_at)s))
UPDATE {s}.stock SET expiring = expiring + %(quantity)s,
    next_expiry = LEAST(next_expiry, %(expires_at)s)
WHERE sku = %(sku)s AND location = %(location)s
"""

# Take %(quantity)s units (all if NULL) off a hold with an expiry, and update its units and
# earliest expiry at its location (one index probe, however many holds a hot SKU has). The
# probe sees the holds as they were before this statement, so it skips a hold taken whole.
HOLD_TAKEN = """
WITH gone AS (
    DELETE FROM {s}.holds
    WHERE sku = %(sku)s AND reservation_id = %(rid)s
      AND quantity <= COALESCE(%(quantity)s, quantity)
    RETURNING location, quantity),
shrunk AS (
    UPDATE {s}.holds SET quantity = quantity - %(quantity)s
    WHERE sku = %(sku)s AND reservation_id = %(rid)s AND quantity > %(quantity)s
    RETURNING location, %(quantity)s::bigint AS quantity),
taken AS (SELECT * FROM gone UNION ALL SELECT * FROM shrunk)
UPDATE {s}.stock st SET expiring = st.expiring - taken.quantity,
    next_expiry = (SELECT h.expires_at FROM {s}.holds h
                   WHERE h.sku = st.sku AND h.location = st.location
                     AND (h.reservation_id <> %(rid)s OR NOT EXISTS (SELECT FROM gone))
                   ORDER BY h.expires_at LIMIT 1)
FROM taken WHERE st.sku = %(sku)s AND st.location = taken.location
RETURNING st.location
"""


# The fold's reads and writes: the touched SKUs' rows in, the final rows out.
FOLD_STOCK = """
SELECT sku, location, on_hand, reserved, expiring, next_expiry FROM {s}.stock
WHERE sku = ANY(%s)
"""
FOLD_AVAILABILITY = """
SELECT channel, sku, atp, log_position, pooled, expiring, next_expiry FROM {s}.availability
WHERE sku = ANY(%s)
"""
FOLD_WRITE_STOCK = """
INSERT INTO {s}.stock AS st (sku, location, on_hand, reserved)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[])
ON CONFLICT (sku, location) DO UPDATE
    SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved
"""
FOLD_WRITE_AVAILABILITY = """
INSERT INTO {s}.availability AS a
    (channel, sku, atp, log_position, pooled, expiring, next_expiry)
SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[],
                     %s::bigint[], %s::timestamptz[])
ON CONFLICT (channel, sku) DO UPDATE
    SET atp = EXCLUDED.atp, log_position = EXCLUDED.log_position, pooled = EXCLUDED.pooled,
        expiring = EXCLUDED.expiring, next_expiry = EXCLUDED.next_expiry
"""


@dataclass
class _Stock:
    on_hand: int
    reserved: int
    expiring: int
    next_expiry: datetime | None


@dataclass
class _Figure:
    atp: int
    log_position: int
    pooled: int
    expiring: int
    next_expiry: datetime | None


class AtpProjection(SchemaProjection):
    """Builds the ATP read model in PostgreSQL schema ``schema``.

    ``fold_from``: the shortest run of stock movements in a batch that is folded in memory
    (shorter runs, as a live follower mostly sees, cost fewer statements one by one).
    """

    tables = TABLES

    def __init__(self, schema: str = "atp", *, fold_from: int = 8) -> None:
        super().__init__("atp", schema, LOG)
        self.fold_from = fold_from
        self._skus: dict[UUID, str] = {}
        self._channels: dict[UUID, str] = {}
        self.handlers = {
            event_class(Location, "Registered"): self._location_registered,
            event_class(Location, "Described"): self._location_described,
            event_class(Channel, "Registered"): self._channel_registered,
            event_class(Channel, "Described"): self._channel_described,
            event_class(Channel, "LocationsChanged"): self._channel_locations_changed,
            event_class(Inventory, "SkuRegistered"): self._sku_registered,
            event_class(Inventory, "SkuDescribed"): self._sku_described,
            event_class(Inventory, "StockReceived"): self._stock_received,
            event_class(Inventory, "StockAdjusted"): self._stock_adjusted,
            event_class(Inventory, "StockReturned"): self._stock_returned,
            event_class(Inventory, "StockTransferred"): self._stock_transferred,
            event_class(Inventory, "StockReserved"): self._stock_reserved,
            event_class(Inventory, "ReservationReleased"): self._reservation_released,
            event_class(Inventory, "ReservationCommitted"): self._reservation_committed,
            event_class(Inventory, "ReservationSecured"): self._reservation_secured,
            event_class(Inventory, "SafetyBufferSet"): self._safety_buffer_set,
            event_class(Inventory, "ReorderPolicySet"): self._reorder_policy_set,
        }
        self._received = event_class(Inventory, "StockReceived")
        self._adjusted = event_class(Inventory, "StockAdjusted")
        self._returned = event_class(Inventory, "StockReturned")
        self._transferred = event_class(Inventory, "StockTransferred")
        self._reserved = event_class(Inventory, "StockReserved")
        self._released = event_class(Inventory, "ReservationReleased")
        self._committed = event_class(Inventory, "ReservationCommitted")

    # -- batches ---------------------------------------------------------------------------

    def apply_batch(
        self, cur: psycopg.Cursor[Any], items: Sequence[tuple[Any, EventMeta, int]]
    ) -> None:
        """Apply a batch in log order, folding runs of plain stock movements."""
        run: list[tuple[Any, EventMeta, int]] = []
        for item in items:
            if self._deltas(item[0]) is not None:
                run.append(item)
                continue
            self._fold(cur, run)
            run = []
            self.apply(cur, *item)
        self._fold(cur, run)

    def _deltas(self, e: Any) -> list[tuple[str, int, int]] | None:
        """(location, on hand, reserved) changes of a plain stock movement; None for any
        other event (those touching holds with an expiry, the network, buffers ...)."""
        kind = type(e)
        if kind in (self._received, self._returned):
            return [(e.location, e.quantity, 0)]
        if kind is self._adjusted:
            return [(e.location, e.delta, 0)]
        if kind is self._transferred:
            return [(e.source, -e.quantity, 0), (e.destination, e.quantity, 0)]
        if kind is self._reserved and e.expires_at is None:
            return [(e.location, 0, e.quantity)]
        if kind is self._released:
            return [(e.location, 0, -e.quantity)]
        if kind is self._committed:
            return [(e.location, -e.quantity, -e.quantity)]
        return None

    def _fold(self, cur: psycopg.Cursor[Any], run: list[tuple[Any, EventMeta, int]]) -> None:
        """Apply a run of plain stock movements as the handlers would, one statement per
        table. A SKU with a hold that carries an expiry goes event by event (a release or
        commit may have to take from that hold)."""
        if len(run) < max(1, self.fold_from):
            for item in run:
                self.apply(cur, *item)
            return
        by_sku: dict[str, list[tuple[Any, EventMeta, int]]] = {}
        for item in run:
            by_sku.setdefault(self._sku(cur, item[0].originator_id), []).append(item)
        skus = list(by_sku)
        stock: dict[str, dict[str, _Stock]] = {sku: {} for sku in skus}
        for sku, location, on_hand, reserved, expiring, next_expiry in cur.execute(
            self.sql(FOLD_STOCK), (skus,)
        ):
            stock[sku][location] = _Stock(on_hand, reserved, expiring, next_expiry)
        figures: dict[str, dict[str, _Figure]] = {sku: {} for sku in skus}
        for channel, sku, atp, log_position, pooled, expiring, next_expiry in cur.execute(
            self.sql(FOLD_AVAILABILITY), (skus,)
        ):
            figures[sku][channel] = _Figure(atp, log_position, pooled, expiring, next_expiry)
        channels = [row[0] for row in cur.execute(self.sql("SELECT code FROM {s}.channels"))]
        feeds: dict[str, list[str]] = {channel: [] for channel in channels}
        for channel, location in cur.execute(
            self.sql("SELECT channel, location FROM {s}.channel_locations")
        ):
            feeds.setdefault(channel, []).append(location)
        buffers = {
            (channel, sku): quantity
            for channel, sku, quantity in cur.execute(
                self.sql("SELECT channel, sku, quantity FROM {s}.buffers WHERE sku = ANY(%s)"),
                (skus,),
            )
        }

        stock_rows: list[tuple[str, str, int, int]] = []
        figure_rows: list[tuple[str, str, int, int, int, int, datetime | None]] = []
        for sku, items in by_sku.items():
            rows = stock[sku]
            if any(row.expiring > 0 for row in rows.values()):
                for item in items:
                    self.apply(cur, *item)
                continue
            touched: set[str] = set()
            changed: set[str] = set()
            for e, _, position in items:
                for location, on_hand, reserved in self._deltas(e) or ():
                    row = rows.get(location)
                    if row is None:
                        rows[location] = _Stock(on_hand, reserved, 0, None)
                    else:
                        row.on_hand += on_hand
                        row.reserved += reserved
                    touched.add(location)
                for channel in channels:
                    if self._refigure(
                        figures[sku], channel, rows, feeds[channel], buffers, sku, position
                    ):
                        changed.add(channel)
            stock_rows += [
                (sku, loc, rows[loc].on_hand, rows[loc].reserved) for loc in sorted(touched)
            ]
            for channel in sorted(changed):
                f = figures[sku][channel]
                figure_rows.append(
                    (channel, sku, f.atp, f.log_position, f.pooled, f.expiring, f.next_expiry)
                )
        if stock_rows:
            cur.execute(
                self.sql(FOLD_WRITE_STOCK), [list(c) for c in zip(*stock_rows, strict=True)]
            )
        if figure_rows:
            cur.execute(
                self.sql(FOLD_WRITE_AVAILABILITY), [list(c) for c in zip(*figure_rows, strict=True)]
            )

    @staticmethod
    def _refigure(
        figures: dict[str, _Figure],
        channel: str,
        rows: dict[str, _Stock],
        feed: list[str],
        buffers: dict[tuple[str, str], int],
        sku: str,
        position: int,
    ) -> bool:
        """RECOMPUTE for one (channel, SKU) in memory; True if its row changed."""
        fed = [rows[location] for location in feed if location in rows]
        pooled = sum(r.on_hand - r.reserved for r in fed) - buffers.get((channel, sku), 0)
        expiring = sum(r.expiring for r in fed)
        expiries = [r.next_expiry for r in fed if r.next_expiry is not None]
        next_expiry = min(expiries) if expiries else None
        atp = max(0, pooled)
        old = figures.get(channel)
        if old is None:
            figures[channel] = _Figure(atp, position, pooled, expiring, next_expiry)
            return True
        if (old.pooled, old.expiring, old.next_expiry) == (pooled, expiring, next_expiry):
            return False
        if old.atp != atp or old.expiring > 0 or expiring > 0:
            old.log_position = position
        old.atp, old.pooled, old.expiring, old.next_expiry = atp, pooled, expiring, next_expiry
        return True

    # -- network ---------------------------------------------------------------------------

    def _location_registered(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql("INSERT INTO {s}.locations VALUES (%s, %s, %s, %s, %s, %s)"),
            (e.code, e.originator_id, e.name, str(e.kind), e.latitude, e.longitude),
        )

    def _location_described(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql(
                "UPDATE {s}.locations SET name = %s, kind = %s, latitude = %s, "
                "longitude = %s WHERE stream_id = %s"
            ),
            (e.name, str(e.kind), e.latitude, e.longitude, e.originator_id),
        )

    def _channel_registered(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        self._channels[e.originator_id] = e.code
        cur.execute(
            self.sql("INSERT INTO {s}.channels VALUES (%s, %s, %s, %s)"),
            (e.code, e.originator_id, e.name, str(e.kind)),
        )
        self._set_channel_locations(cur, e.code, e.locations, position)

    def _channel_described(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql("UPDATE {s}.channels SET name = %s, kind = %s WHERE stream_id = %s"),
            (e.name, str(e.kind), e.originator_id),
        )

    def _channel_locations_changed(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        code = self._code(cur, self._channels, "channels", "code", e.originator_id)
        self._set_channel_locations(cur, code, e.locations, position)

    def _set_channel_locations(
        self, cur: psycopg.Cursor[Any], channel: str, locations: list[str], position: int
    ) -> None:
        cur.execute(self.sql("DELETE FROM {s}.channel_locations WHERE channel = %s"), (channel,))
        cur.executemany(
            self.sql("INSERT INTO {s}.channel_locations VALUES (%s, %s)"),
            [(channel, location) for location in locations],
        )
        self._recompute(cur, position, channel=channel)

    # -- stock -----------------------------------------------------------------------------

    def _sku_registered(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        self._skus[e.originator_id] = e.sku
        cur.execute(
            self.sql("INSERT INTO {s}.skus VALUES (%s, %s, %s, %s)"),
            (e.sku, e.originator_id, e.name, e.gtin),
        )
        self._recompute(cur, position, sku=e.sku)

    def _sku_described(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql("UPDATE {s}.skus SET name = %s, gtin = %s WHERE stream_id = %s"),
            (e.name, e.gtin, e.originator_id),
        )

    def _stock_received(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        self._move(cur, e, position, [(e.location, e.quantity, 0)])

    def _stock_adjusted(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        self._move(cur, e, position, [(e.location, e.delta, 0)])

    def _stock_transferred(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        self._move(cur, e, position, [(e.source, -e.quantity, 0), (e.destination, e.quantity, 0)])

    def _stock_returned(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        self._move(cur, e, position, [(e.location, e.quantity, 0)])

    def _stock_reserved(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        sku = self._sku(cur, e.originator_id)
        self._change_stock(cur, sku, [(e.location, 0, e.quantity)])
        if e.expires_at is not None:
            cur.execute(
                self.sql(HOLD_MADE),
                {
                    "sku": sku,
                    "rid": e.reservation_id,
                    "location": e.location,
                    "quantity": e.quantity,
                    "expires_at": e.expires_at,
                },
            )
        self._recompute(cur, position, sku=sku)

    def _reservation_released(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        sku = self._sku(cur, e.originator_id)
        if self._change_stock(cur, sku, [(e.location, 0, -e.quantity)]):
            self._take_from_hold(cur, sku, e.reservation_id)
        self._recompute(cur, position, sku=sku)

    def _reservation_committed(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        sku = self._sku(cur, e.originator_id)
        if self._change_stock(cur, sku, [(e.location, -e.quantity, -e.quantity)]):
            self._take_from_hold(cur, sku, e.reservation_id, e.quantity)
        self._recompute(cur, position, sku=sku)

    def _reservation_secured(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        # Stock is unchanged, but the hold can no longer lapse into free units.
        sku = self._sku(cur, e.originator_id)
        if self._take_from_hold(cur, sku, e.reservation_id):
            self._recompute(cur, position, sku=sku)

    def _safety_buffer_set(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        sku = self._sku(cur, e.originator_id)
        if e.quantity:
            cur.execute(
                self.sql(
                    "INSERT INTO {s}.buffers VALUES (%s, %s, %s) ON CONFLICT (channel, sku) "
                    "DO UPDATE SET quantity = EXCLUDED.quantity"
                ),
                (e.channel, sku, e.quantity),
            )
        else:
            cur.execute(
                self.sql("DELETE FROM {s}.buffers WHERE channel = %s AND sku = %s"),
                (e.channel, sku),
            )
        self._recompute(cur, position, sku=sku, channel=e.channel)

    def _reorder_policy_set(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql(
                "INSERT INTO {s}.stock (sku, location, on_hand, reserved, reorder_point, "
                "reorder_quantity) VALUES (%s, %s, 0, 0, %s, %s) "
                "ON CONFLICT (sku, location) DO UPDATE SET "
                "reorder_point = EXCLUDED.reorder_point, "
                "reorder_quantity = EXCLUDED.reorder_quantity"
            ),
            (self._sku(cur, e.originator_id), e.location, e.reorder_point, e.reorder_quantity),
        )

    def _move(
        self,
        cur: psycopg.Cursor[Any],
        e: Any,
        position: int,
        changes: list[tuple[str, int, int]],
    ) -> None:
        sku = self._sku(cur, e.originator_id)
        self._change_stock(cur, sku, changes)
        self._recompute(cur, position, sku=sku)

    def _change_stock(
        self, cur: psycopg.Cursor[Any], sku: str, changes: list[tuple[str, int, int]]
    ) -> bool:
        """Add (location, on hand, reserved) deltas to the SKU's stock rows; True if a hold
        with an expiry is open at one of them (else no hold needs looking up)."""
        expiring = False
        for location, on_hand, reserved in changes:
            row = cur.execute(
                self.sql(
                    "INSERT INTO {s}.stock (sku, location, on_hand, reserved) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (sku, location) DO UPDATE SET "
                    "on_hand = stock.on_hand + EXCLUDED.on_hand, "
                    "reserved = stock.reserved + EXCLUDED.reserved RETURNING expiring"
                ),
                (sku, location, on_hand, reserved),
            ).fetchone()
            expiring = expiring or (row is not None and row[0] > 0)
        return expiring

    def _take_from_hold(
        self, cur: psycopg.Cursor[Any], sku: str, reservation_id: str, quantity: int | None = None
    ) -> bool:
        """Take ``quantity`` units (all if None) off a hold that carries an expiry; False if
        the reservation has none (it never had an expiry, or was secured already)."""
        taken = cur.execute(
            self.sql(HOLD_TAKEN), {"sku": sku, "rid": reservation_id, "quantity": quantity}
        ).fetchone()
        return taken is not None

    def _recompute(
        self,
        cur: psycopg.Cursor[Any],
        position: int,
        sku: str | None = None,
        channel: str | None = None,
    ) -> None:
        conditions = []
        if sku is not None:
            conditions.append(SQL("k.sku = %(sku)s"))
        if channel is not None:
            conditions.append(SQL("c.code = %(channel)s"))
        where = SQL(" AND ").join(conditions)
        cur.execute(
            self.sql(RECOMPUTE, where=where), {"position": position, "sku": sku, "channel": channel}
        )

    def _sku(self, cur: psycopg.Cursor[Any], stream: UUID) -> str:
        return self._code(cur, self._skus, "skus", "sku", stream)

    def _code(
        self,
        cur: psycopg.Cursor[Any],
        cache: dict[UUID, str],
        table: str,
        column: str,
        stream: UUID,
    ) -> str:
        code = cache.get(stream)
        if code is None:
            row = cur.execute(
                self.sql(
                    "SELECT {c} FROM {s}.{t} WHERE stream_id = %s",
                    c=Identifier(column),
                    t=Identifier(table),
                ),
                (stream,),
            ).fetchone()
            if row is None:
                raise LookupError(f"{table}: no row for stream {stream}")
            code = cache[stream] = row[0]
        return code
