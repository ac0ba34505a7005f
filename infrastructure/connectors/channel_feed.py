"""The channel feed connector: a per-channel availability file, CSV and JSON, kept current.

Marketplaces ingest such files. The state behind them (channels, SKUs, stock, buffers) is
rebuilt from public events into tables of this connector, in the transaction that records
each event as handled; the files are rewritten from those tables, atomically (temporary
file, then rename), whenever the connector has caught up, and at every start, so a crash
between a commit and a rewrite heals itself.

Availability per channel and SKU is the sum, over the locations feeding the channel, of
on hand minus reserved, less the channel's safety buffer, never below zero: the same
figure the API promises, derived here only from published events.

``price`` and ``currency`` are empty until price events exist: the pricing work fills them
by keeping a ``feed_prices`` table from its events and joining it in ``FEED`` below.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from infrastructure.connectors.base import BaseConnector, Context
from infrastructure.envelope import Envelope
from infrastructure.public_events import decode
from infrastructure.public_events import inventory as inv
from infrastructure.public_events import network as net

TABLES = """
CREATE TABLE IF NOT EXISTS feed_channels (
    connector text NOT NULL, channel text NOT NULL, locations text[] NOT NULL,
    PRIMARY KEY (connector, channel));
CREATE TABLE IF NOT EXISTS feed_skus (
    connector text NOT NULL, sku text NOT NULL, name text, gtin text,
    PRIMARY KEY (connector, sku));
CREATE TABLE IF NOT EXISTS feed_stock (
    connector text NOT NULL, sku text NOT NULL, location text NOT NULL,
    on_hand bigint NOT NULL DEFAULT 0, reserved bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (connector, sku, location));
CREATE TABLE IF NOT EXISTS feed_buffers (
    connector text NOT NULL, channel text NOT NULL, sku text NOT NULL,
    quantity bigint NOT NULL, PRIMARY KEY (connector, channel, sku));
"""

FEED = """
SELECT k.sku, k.gtin, k.name,
       GREATEST(0,
           COALESCE((SELECT SUM(s.on_hand - s.reserved) FROM feed_stock s
                     WHERE s.connector = k.connector AND s.sku = k.sku
                       AND s.location = ANY(c.locations)), 0)
         - COALESCE((SELECT b.quantity FROM feed_buffers b
                     WHERE b.connector = k.connector AND b.channel = c.channel
                       AND b.sku = k.sku), 0))::bigint AS available,
       NULL::text AS price,  -- extension point: a feed_prices join, once prices exist
       NULL::text AS currency
FROM feed_skus k JOIN feed_channels c ON c.connector = k.connector
WHERE k.connector = %s AND c.channel = %s
ORDER BY k.sku
"""

COLUMNS = ("sku", "gtin", "title", "available", "price", "currency")
ALL = "*"


class ChannelFeedConnector(BaseConnector):
    subjects: Sequence[str] = ("ledgerline.events.inventory.>", "ledgerline.events.channel.>")

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = Path(directory)
        self._dirty: set[str] = {ALL}

    async def setup(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('feed_tables'))")
            await conn.execute(TABLES)
        self._dirty = {ALL}  # rewrite every file from the committed state
        await self.caught_up(conn)

    async def reset(self, tx: psycopg.AsyncConnection[Any]) -> None:
        for table in ("feed_channels", "feed_skus", "feed_stock", "feed_buffers"):
            await tx.execute(f"DELETE FROM {table} WHERE connector = %s", (self.name,))  # noqa: S608
        self._dirty = {ALL}

    async def handle(self, envelope: Envelope, ctx: Context) -> None:
        event = decode(envelope)
        tx, me = ctx.tx, self.name
        if isinstance(event, net.ChannelRegistered | net.ChannelLocationsChanged):
            await tx.execute(
                "INSERT INTO feed_channels VALUES (%s, %s, %s) ON CONFLICT (connector, channel) "
                "DO UPDATE SET locations = EXCLUDED.locations",
                (me, event.code, event.locations),
            )
            self._dirty.add(event.code)
            return
        sku = getattr(event, "sku", None)
        if envelope.stream_type != "inventory" or sku is None:
            return
        # Known from any of its events: a connector started mid-stream still lists the SKU.
        await tx.execute(
            "INSERT INTO feed_skus (connector, sku) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (me, sku),
        )
        if isinstance(event, inv.SkuRegistered | inv.SkuDescribed):
            await tx.execute(
                "UPDATE feed_skus SET name = %s, gtin = %s WHERE connector = %s AND sku = %s",
                (event.name, event.gtin, me, sku),
            )
        elif isinstance(event, inv.StockReceived):
            await self._stock(tx, sku, event.location, event.quantity, 0)
        elif isinstance(event, inv.StockAdjusted):
            await self._stock(tx, sku, event.location, event.delta, 0)
        elif isinstance(event, inv.StockTransferred):
            await self._stock(tx, sku, event.from_location, -event.quantity, 0)
            await self._stock(tx, sku, event.to_location, event.quantity, 0)
        elif isinstance(event, inv.StockReserved):
            await self._stock(tx, sku, event.location, 0, event.quantity)
        elif isinstance(event, inv.ReservationReleased):
            await self._stock(tx, sku, event.location, 0, -event.quantity)
        elif isinstance(event, inv.ReservationCommitted):
            await self._stock(tx, sku, event.location, -event.quantity, -event.quantity)
        elif isinstance(event, inv.SafetyBufferSet):
            await tx.execute(
                "DELETE FROM feed_buffers WHERE connector = %s AND channel = %s AND sku = %s",
                (me, event.channel, sku),
            )
            if event.quantity:
                await tx.execute(
                    "INSERT INTO feed_buffers VALUES (%s, %s, %s, %s)",
                    (me, event.channel, sku, event.quantity),
                )
        self._dirty.add(ALL)

    async def _stock(
        self, tx: psycopg.AsyncConnection[Any], sku: str, location: str, on_hand: int, reserved: int
    ) -> None:
        await tx.execute(
            "INSERT INTO feed_stock VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (connector, sku, location) DO UPDATE SET "
            "on_hand = feed_stock.on_hand + EXCLUDED.on_hand, "
            "reserved = feed_stock.reserved + EXCLUDED.reserved",
            (self.name, sku, location, on_hand, reserved),
        )

    async def caught_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if not self._dirty:
            return
        channels = self._dirty
        if ALL in channels:
            cur = await conn.execute(
                "SELECT channel FROM feed_channels WHERE connector = %s", (self.name,)
            )
            channels = {str(row[0]) for row in await cur.fetchall()}
        self.directory.mkdir(parents=True, exist_ok=True)
        for channel in sorted(channels):
            cur = await conn.execute(FEED, (self.name, channel))
            await self._write(channel, await cur.fetchall())
        self._dirty = set()

    async def _write(self, channel: str, rows: list[tuple[Any, ...]]) -> None:
        items = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COLUMNS)
        for item in items:
            writer.writerow(["" if item[c] is None else item[c] for c in COLUMNS])
        document = {"channel": channel, "items": items}
        _replace(self.directory / f"{channel}.csv", text.getvalue())
        _replace(self.directory / f"{channel}.json", json.dumps(document, indent=2) + "\n")


def _replace(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of either."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
