"""The channel feed connector: a per-channel availability file, CSV and JSON, kept current.

Marketplaces ingest such files. The state behind them (channels, SKUs, stock, buffers) is
rebuilt from public events into tables of this connector, in the transaction that records
each event as handled; the files are rewritten from those tables, atomically (temporary
file, then rename), whenever the connector has caught up, and at every start, so a crash
between a commit and a rewrite heals itself.

Availability per channel and SKU is the sum, over the locations feeding the channel, of
on hand minus reserved, less the channel's safety buffer, never below zero: the same
figure the API promises, derived here only from published events. (A hold that lapsed
counts as reserved until the expiry timer's release event arrives: the feed errs low.)

Prices are the channel's effective prices now, one row per SKU and currency the channel
lists: they come from the pricing read model through the same query the price API answers
with (list price, promotions, MAP floor). Rebuilding the promotion rules here from events
would be a second copy of them. Price events mark the feed for rewriting; a rewrite that
finds the read model behind the last price event seen stays pending and is retried while
idle, and a price or promotion window opening or closing rewrites the feed when its moment
comes, though no event marks it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.sql import SQL, Identifier

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
                       AND b.sku = k.sku), 0))::bigint AS available
FROM feed_skus k JOIN feed_channels c ON c.connector = k.connector
WHERE k.connector = %s AND c.channel = %s
ORDER BY k.sku
"""

# The next moment a price layer or promotion starts or stops applying.
NEXT_CHANGE = """
SELECT min(t) FROM (
    SELECT valid_from AS t FROM {s}.layers WHERE valid_from > %(now)s
    UNION ALL SELECT valid_until FROM {s}.layers WHERE valid_until > %(now)s
    UNION ALL SELECT valid_from FROM {s}.promotions WHERE valid_from > %(now)s
    UNION ALL SELECT valid_until FROM {s}.promotions WHERE valid_until > %(now)s) moments
"""

COLUMNS = ("sku", "gtin", "title", "available", "price", "list_price", "currency")
PRICE_SUBJECTS = (
    "ledgerline.events.price_list.>",
    "ledgerline.events.promotion.>",
    "ledgerline.events.price_floors.>",
)
ALL = "*"


class PriceSource(Protocol):
    """The pricing read model's answers. The projection layer provides it (``PriceQueries``):
    connectors sit inside the projections, so the feed is handed its prices, not importing them."""

    schema: str

    async def prices(
        self,
        conn: psycopg.AsyncConnection[Any],
        channel: str,
        skus: Sequence[str],
        at: datetime,
        currency: str | None = None,
    ) -> list[dict[str, Any]]: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ChannelFeedConnector(BaseConnector):
    subjects: Sequence[str] = (
        "ledgerline.events.inventory.>",
        "ledgerline.events.channel.>",
        *PRICE_SUBJECTS,
    )

    def __init__(
        self,
        name: str,
        directory: Path,
        prices: PriceSource,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.name = name
        self.directory = Path(directory)
        self.prices = prices
        self.clock = clock
        self._dirty: set[str] = {ALL}
        self._price_position = 0  # the last pricing-log event seen; the read model must reach it
        self._next_change: datetime | None = None
        # The read model's position when the files were written behind it, else None.
        self._written_at_price: int | None = None

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
        if self._next_change is not None and self.clock() >= self._next_change:
            self._dirty.add(ALL)
        if envelope.log == "pricing":
            self._price_position = max(self._price_position, envelope.position)
            self._dirty.add(ALL)
            return
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

    async def idle(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._next_change is not None and self.clock() >= self._next_change:
            self._dirty.add(ALL)
        elif (
            # Written before the read model reached the last price event: again once it moved.
            self._written_at_price is not None
            and await self._pricing_position(conn) == self._written_at_price
        ):
            return
        await self.caught_up(conn)

    async def caught_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if not self._dirty:
            return
        channels = self._dirty
        if ALL in channels:
            cur = await conn.execute(
                "SELECT channel FROM feed_channels WHERE connector = %s", (self.name,)
            )
            channels = {str(row[0]) for row in await cur.fetchall()}
        now = self.clock()
        priced = await self._pricing_position(conn)
        self.directory.mkdir(parents=True, exist_ok=True)
        for channel in sorted(channels):
            cur = await conn.execute(FEED, (self.name, channel))
            rows = await cur.fetchall()
            prices = await self._prices(conn, channel, [row[0] for row in rows], now, priced)
            await self._write(channel, _items(rows, prices))
        self._next_change = await self._following_change(conn, now, priced)
        if (priced or 0) < self._price_position:
            self._dirty, self._written_at_price = {ALL}, priced
        else:
            self._dirty, self._written_at_price = set(), None

    async def _pricing_position(self, conn: psycopg.AsyncConnection[Any]) -> int | None:
        """How far the pricing read model has got, or None when it does not exist (yet)."""
        cur = await conn.execute("SELECT to_regclass(%s)", (f"{self.prices.schema}.tracking",))
        found = await cur.fetchone()
        if found is None or found[0] is None:
            return None
        cur = await conn.execute(
            SQL("SELECT position FROM {}.tracking WHERE log = 'pricing'").format(
                Identifier(self.prices.schema)
            )
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _prices(
        self,
        conn: psycopg.AsyncConnection[Any],
        channel: str,
        skus: list[str],
        now: datetime,
        priced: int | None,
    ) -> dict[str, list[dict[str, Any]]]:
        """Each SKU's prices on ``channel`` now, one per currency the channel lists."""
        if priced is None or not skus:
            return {}
        found: dict[str, list[dict[str, Any]]] = {}
        for answer in await self.prices.prices(conn, channel, skus, now):
            found.setdefault(answer["sku"], []).append(answer)
        return found

    async def _following_change(
        self, conn: psycopg.AsyncConnection[Any], now: datetime, priced: int | None
    ) -> datetime | None:
        if priced is None:
            return None
        cur = await conn.execute(
            SQL(NEXT_CHANGE).format(s=Identifier(self.prices.schema)), {"now": now}
        )
        row = await cur.fetchone()
        return None if row is None else row[0]

    async def _write(self, channel: str, items: list[dict[str, Any]]) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COLUMNS)
        for item in items:
            writer.writerow(["" if item[c] is None else item[c] for c in COLUMNS])
        document = {"channel": channel, "items": items}
        _replace(self.directory / f"{channel}.csv", text.getvalue())
        _replace(self.directory / f"{channel}.json", json.dumps(document, indent=2) + "\n")


def _items(
    rows: list[tuple[Any, ...]], prices: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """One item per SKU and listed currency; a SKU the channel prices in none has one,
    without a price."""
    items = []
    for sku, gtin, title, available in rows:
        base = {"sku": sku, "gtin": gtin, "title": title, "available": available}
        quotes = [a for a in prices.get(sku, ()) if a["effective_price"] or a["list_price"]]
        if not quotes:
            items.append(base | {"price": None, "list_price": None, "currency": None})
        for answer in quotes:
            effective, listed = answer["effective_price"], answer["list_price"]
            items.append(
                base
                | {
                    "price": None if effective is None else effective["amount"],
                    "list_price": None if listed is None else listed["amount"],
                    "currency": answer["currency"],
                }
            )
    return items


def _replace(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of either."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
