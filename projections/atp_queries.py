"""Reads over the ATP read model: plain SQL, no aggregate is loaded to answer a read.

Every figure counts a hold that expired but is not yet released as free, as
``Inventory.available_to_promise`` does. The clock is the database's ``now()``, not the API
process's: every API process then reads the same clock, and a figure and the holds it counts
are read at one instant (the stock picture reads the clock once and passes it on).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.sql import SQL, Composable, Identifier, Placeholder

from domain.errors import InvalidValue
from domain.identity import CODE_PATTERN
from projections.atp import LOG

# The ATP an ``availability`` row ``a`` serves at {now}: until its earliest expiring hold
# lapses, the stored figure; after it, the unclamped figure plus the lapsed holds at the
# channel's locations (their units may back new holds, so reserved can exceed on hand there).
SERVED_ATP = """
CASE WHEN a.next_expiry <= {now} THEN GREATEST(0, a.pooled
    + (SELECT COALESCE(SUM(h.quantity), 0) FROM {s}.holds h
       JOIN {s}.channel_locations cl ON cl.location = h.location
       WHERE cl.channel = a.channel AND h.sku = a.sku AND h.expires_at <= {now}))::bigint
ELSE a.atp END
"""

# Units held at a ``stock`` row ``st``'s location by holds lapsed at {now}.
LAPSED_AT_LOCATION = """
CASE WHEN st.next_expiry <= {now} THEN
    (SELECT SUM(h.quantity) FROM {s}.holds h
     WHERE h.sku = st.sku AND h.location = st.location AND h.expires_at <= {now})::bigint
ELSE 0 END
"""


@dataclass(frozen=True)
class Cursor:
    """Where a channel's change feed stopped: after (log position, sku)."""

    position: int
    sku: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.position}:{self.sku}".encode()).decode()

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            position, sku = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
            cursor = cls(int(position), sku)
            if not 0 <= cursor.position < 2**63 or (sku and not CODE_PATTERN.fullmatch(sku)):
                raise ValueError(token)
            return cursor
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidValue("cursor is not one this API issued", field="cursor") from None


# A statement naming ``holds`` opens and locks it on every run, even when no row needs it:
# that made the hot availability read about 15% slower. So rows are read first with a flag,
# and only flagged rows (a hold lapsed) are read again through SERVED_ATP.
LAPSED_FLAG = "a.next_expiry <= now()"


class AtpQueries:
    def __init__(self, schema: str = "atp") -> None:
        self._s = Identifier(schema)
        self._served_now = self._served(SQL("now()"))
        # Composed once: the availability read is the hot path.
        self._availability = self._sql(
            "SELECT a.sku, a.atp, a.log_position, " + LAPSED_FLAG + " "
            "FROM {s}.availability a WHERE a.channel = %s AND a.sku = ANY(%s) ORDER BY a.sku"
        )
        # The availability route's whole read in one round trip: whether the channel exists,
        # the read model's position, and the rows (one row of NULLs when there are none).
        self._channel_availability = self._sql(
            "SELECT EXISTS (SELECT 1 FROM {s}.channels WHERE code = %(channel)s), "  # noqa: S608
            "(SELECT position FROM {s}.tracking WHERE log = %(log)s), "
            "a.sku, a.atp, a.log_position, " + LAPSED_FLAG + " "
            "FROM (SELECT) one LEFT JOIN {s}.availability a "
            "ON a.channel = %(channel)s AND a.sku = ANY(%(skus)s) ORDER BY a.sku"
        )
        self._lapsed_again = self._sql(
            "SELECT a.sku, {served}, a.log_position FROM {s}.availability a "
            "WHERE a.channel = %s AND a.sku = ANY(%s)"
        )

    def _served(self, now: Composable) -> Composable:
        return SQL(SERVED_ATP).format(s=self._s, now=now)

    def _sql(self, text: str, served: Composable | None = None) -> Any:
        return SQL(text).format(s=self._s, served=served or self._served_now)

    async def position(self, conn: AsyncConnection[Any]) -> int:
        cur = await conn.execute(
            self._sql("SELECT position FROM {s}.tracking WHERE log = %s"), (LOG,)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def channel_and_position(
        self, conn: AsyncConnection[Any], channel: str
    ) -> tuple[bool, int]:
        """Whether ``channel`` exists, and the position the read model reached: one trip."""
        cur = await conn.execute(
            self._sql(
                "SELECT EXISTS (SELECT 1 FROM {s}.channels WHERE code = %s), "
                "(SELECT position FROM {s}.tracking WHERE log = %s)"
            ),
            (channel, LOG),
        )
        row = await cur.fetchone()
        assert row is not None
        return bool(row[0]), int(row[1] or 0)

    async def channel_exists(self, conn: AsyncConnection[Any], channel: str) -> bool:
        cur = await conn.execute(
            self._sql("SELECT 1 FROM {s}.channels WHERE code = %s"), (channel,)
        )
        return await cur.fetchone() is not None

    async def availability(
        self, conn: AsyncConnection[Any], channel: str, skus: list[str]
    ) -> list[dict[str, Any]]:
        """ATP of ``skus`` on ``channel``; SKUs the channel does not know are left out."""
        cur = await conn.execute(self._availability, (channel, skus))
        return await self._served_items(conn, channel, await cur.fetchall())

    async def channel_availability(
        self, conn: AsyncConnection[Any], channel: str, skus: list[str]
    ) -> tuple[bool, int, list[dict[str, Any]]]:
        """Whether ``channel`` exists, the position the read model reached, and the ATP of
        ``skus`` on it (as ``availability``): one round trip unless a hold lapsed."""
        cur = await conn.execute(
            self._channel_availability, {"channel": channel, "log": LOG, "skus": skus}
        )
        rows = await cur.fetchall()
        exists, position = bool(rows[0][0]), int(rows[0][1] or 0)
        found = [row[2:] for row in rows if row[2] is not None]
        return exists, position, await self._served_items(conn, channel, found)

    async def changes(
        self, conn: AsyncConnection[Any], channel: str, after: Cursor | None, limit: int
    ) -> tuple[list[dict[str, Any]], Cursor | None]:
        """Rows whose ATP changed after ``after``, oldest first, and the cursor to resume.

        A hold lapsing is no event: the feed lists the row again once the hold's release (by
        the expiry timer) is projected, while every figure it serves counts the hold free
        at once.
        """
        after = after or Cursor(0, "")
        cur = await conn.execute(
            self._sql(
                "SELECT a.sku, a.atp, a.log_position, " + LAPSED_FLAG + " "
                "FROM {s}.availability a "
                "WHERE a.channel = %s AND (a.log_position, a.sku) > (%s, %s) "
                "ORDER BY a.log_position, a.sku LIMIT %s"
            ),
            (channel, after.position, after.sku, limit),
        )
        rows = await cur.fetchall()
        items = await self._served_items(conn, channel, rows)
        resume = Cursor(rows[-1][2], rows[-1][0]) if rows else after
        return items, resume

    async def _served_items(
        self, conn: AsyncConnection[Any], channel: str, rows: list[tuple[Any, ...]]
    ) -> list[dict[str, Any]]:
        """Items from (sku, atp, position, lapsed) rows; a lapsed row's figure and position
        are read again, with its holds, in one statement."""
        items = [{"sku": sku, "available": atp, "position": pos} for sku, atp, pos, _ in rows]
        lapsed = [sku for sku, _, _, flag in rows if flag]
        if lapsed:
            cur = await conn.execute(self._lapsed_again, (channel, lapsed))
            again = {sku: (atp, pos) for sku, atp, pos in await cur.fetchall()}
            for item in items:
                if item["sku"] in again:
                    item["available"], item["position"] = again[item["sku"]]
        return items

    async def stock_picture(self, conn: AsyncConnection[Any], sku: str) -> dict[str, Any] | None:
        """Stock per location and ATP per channel; ``available`` at a location counts lapsed
        holds as free, like every ATP figure."""
        cur = await conn.execute(
            self._sql("SELECT name, gtin, now() FROM {s}.skus WHERE sku = %s"), (sku,)
        )
        found = await cur.fetchone()
        if found is None:
            return None
        now: datetime = found[2]
        lapsed = SQL(LAPSED_AT_LOCATION).format(s=self._s, now=Placeholder("now"))
        cur = await conn.execute(
            SQL(
                "SELECT st.location, st.on_hand, st.reserved, {lapsed}, st.reorder_point, "
                "st.reorder_quantity FROM {s}.stock st WHERE st.sku = %(sku)s "
                "ORDER BY st.location"
            ).format(s=self._s, lapsed=lapsed),
            {"sku": sku, "now": now},
        )
        locations = [
            {
                "location": loc,
                "on_hand": on_hand,
                "reserved": reserved,
                "available": on_hand - reserved + lapsed_units,
                "reorder_point": rp,
                "reorder_quantity": rq,
            }
            for loc, on_hand, reserved, lapsed_units, rp, rq in await cur.fetchall()
        ]
        cur = await conn.execute(
            self._sql(
                "SELECT a.channel, {served}, COALESCE(b.quantity, 0) FROM {s}.availability a "
                "LEFT JOIN {s}.buffers b ON b.channel = a.channel AND b.sku = a.sku "
                "WHERE a.sku = %(sku)s ORDER BY a.channel",
                self._served(Placeholder("now")),
            ),
            {"sku": sku, "now": now},
        )
        channels = [
            {"channel": ch, "available": atp, "safety_buffer": buffer}
            for ch, atp, buffer in await cur.fetchall()
        ]
        return {
            "sku": sku,
            "name": found[0],
            "gtin": found[1],
            "locations": locations,
            "channels": channels,
            "position": await self.position(conn),
        }

    async def locations(self, conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
        cur = await conn.execute(
            self._sql(
                "SELECT code, name, kind, latitude, longitude FROM {s}.locations ORDER BY code"
            )
        )
        return [
            {
                "code": c,
                "name": n,
                "kind": k,
                "latitude": None if lat is None else str(lat),
                "longitude": None if lon is None else str(lon),
            }
            for c, n, k, lat, lon in await cur.fetchall()
        ]

    async def channels(self, conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
        cur = await conn.execute(
            self._sql(
                "SELECT c.code, c.name, c.kind, "
                "COALESCE(array_agg(cl.location ORDER BY cl.location) "
                "FILTER (WHERE cl.location IS NOT NULL), '{{}}') "
                "FROM {s}.channels c LEFT JOIN {s}.channel_locations cl ON cl.channel = c.code "
                "GROUP BY c.code ORDER BY c.code"
            )
        )
        return [
            {"code": c, "name": n, "kind": k, "locations": list(locs)}
            for c, n, k, locs in await cur.fetchall()
        ]
