"""Reads over the bookings read model: plain SQL, no aggregate is loaded to answer a read.

Availability is ``Resource.free_for`` as SQL: for a channel in a slot, its allotment left
plus what is left of the shared pool, where the pool's use is Σ over channels of
max(0, used - allotment) and only live uses count (confirmed, or held until a time still
ahead of the database clock ``now()``): a lapsed hold is free at once, before the expiry
timer releases it. A closed slot, or one stop-sold for the channel, has nothing free.

Times come back in UTC; amounts as Decimal; documents as the dicts that were issued (their
``digest`` checks against them); the guest and the timeline's ``detail`` as dicts. Lists
page by an opaque cursor over the log position of each booking's hold, so a page never skips
or repeats a booking however many are held meanwhile.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Composed, Identifier

from domain.booking import BookingStatus
from domain.errors import InvalidValue
from projections.bookings import LOG
from projections.cursors import PositionCursor, utc_row

MAX_LIMIT = 500
MAX_SLOTS = 366
CURSOR_PREFIX = "bookings:"
CURSOR = PositionCursor(CURSOR_PREFIX)
STATUSES = frozenset(status.value for status in BookingStatus)

BOOKING_COLUMNS = (
    "booking_id, channel, reference, status, resource, slots, quantity, unit_rate, total, "
    "currency, expires_at, payment_reference, flagged, cancellation_fee, closed_reason, "
    "confirmation_number, held_at, updated_at, held_position, last_position, version"
)

AVAILABILITY = """
WITH wanted AS (
    SELECT w.slot, w.ord FROM unnest(%(slots)s::text[]) WITH ORDINALITY AS w(slot, ord)),
live AS (
    SELECT u.slot, u.channel, SUM(u.quantity) AS n FROM {s}.uses u
    WHERE u.resource = %(resource)s AND u.slot = ANY(%(slots)s)
      AND (u.expires_at IS NULL OR u.expires_at > now())
    GROUP BY u.slot, u.channel),
per_slot AS (
    SELECT l.slot,
           SUM(GREATEST(0, l.n - COALESCE(a.quantity, 0))) AS pool_used,
           COALESCE(SUM(l.n) FILTER (WHERE l.channel = %(channel)s), 0) AS own_used
    FROM live l LEFT JOIN {s}.allotments a
        ON a.resource = %(resource)s AND a.channel = l.channel
    GROUP BY l.slot)
SELECT w.slot,
       CASE WHEN c.slot IS NOT NULL OR w.slot = ANY(COALESCE(cr.stop_sell, '{{}}')) THEN 0
            ELSE GREATEST(0,
                GREATEST(0, COALESCE(own.quantity, 0) - COALESCE(p.own_used, 0))
                + r.pool - COALESCE(p.pool_used, 0))
       END AS available,
       c.slot IS NOT NULL AS closed,
       w.slot = ANY(COALESCE(cr.stop_sell, '{{}}')) AS stop_sold
FROM {s}.resources r
CROSS JOIN wanted w
LEFT JOIN per_slot p ON p.slot = w.slot
LEFT JOIN {s}.closed_slots c ON c.resource = r.code AND c.slot = w.slot
LEFT JOIN {s}.allotments own ON own.resource = r.code AND own.channel = %(channel)s
LEFT JOIN {s}.channel_rules cr ON cr.resource = r.code AND cr.channel = %(channel)s
WHERE r.code = %(resource)s
ORDER BY w.ord
"""


def _document(row: dict[str, Any]) -> dict[str, Any]:
    found = utc_row(row)
    found["document"] = json.loads(found["document"])
    return found


class BookingQueries:
    def __init__(self, schema: str = "bookings") -> None:
        self.schema = schema
        self._s = Identifier(schema)
        self._availability = self._sql(AVAILABILITY)

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(s=self._s)

    async def position(self, conn: AsyncConnection[Any]) -> int:
        """The last bookings-log position the read model applied (for read-your-writes)."""
        cur = await conn.execute(
            self._sql("SELECT position FROM {s}.tracking WHERE log = %s"), (LOG,)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def availability(
        self, conn: AsyncConnection[Any], channel: str, resource: str, slots: list[str]
    ) -> list[dict[str, Any]] | None:
        """Units ``channel`` may still take in each of ``slots`` of ``resource`` (in the
        order given, each once), as ``Resource.free_for`` decides it now; each item says
        whether the slot is ``closed`` or ``stop_sold`` for the channel. None if the
        resource is unknown."""
        wanted = list(dict.fromkeys(slots))
        if not 1 <= len(wanted) <= MAX_SLOTS or not all(isinstance(s, str) for s in wanted):
            raise InvalidValue(f"give 1 to {MAX_SLOTS} slots", field="slots")
        cur = await conn.execute(
            self._availability, {"channel": channel, "resource": resource, "slots": wanted}
        )
        rows = await cur.fetchall()
        if not rows:
            return None
        return [
            {"slot": slot, "available": int(free), "closed": closed, "stop_sold": stop_sold}
            for slot, free, closed, stop_sold in rows
        ]

    async def booking(
        self, conn: AsyncConnection[Any], channel: str, reference: str
    ) -> dict[str, Any] | None:
        """The channel's booking ``reference`` with its guest, cancellation terms, every
        confirmation document issued (oldest first) and its timeline; None if unknown.

        The timeline is in log order: each event with its time, actor, channel, correlation
        and causation ids, the booking's status after it, a summary and its detail.
        """
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                self._sql(
                    f"SELECT {BOOKING_COLUMNS}, guest, terms "  # noqa: S608
                    "FROM {s}.bookings WHERE channel = %s AND reference = %s"
                ),
                (channel, reference),
            )
            found = await cur.fetchone()
            if found is None:
                return None
            booking = utc_row(found)
            booking["guest"] = json.loads(booking["guest"])
            booking["terms"] = json.loads(booking["terms"])
            await cur.execute(
                self._sql(
                    "SELECT confirmation_number, seq, issued_at, replaces, reason, digest, "
                    "document, position FROM {s}.documents WHERE booking_id = %s ORDER BY seq"
                ),
                (booking["booking_id"],),
            )
            booking["documents"] = [_document(row) for row in await cur.fetchall()]
            await cur.execute(
                self._sql(
                    "SELECT position, version, event, at, recorded_at, status, actor, channel, "
                    "correlation_id, causation_id, summary, detail::jsonb AS detail "
                    "FROM {s}.booking_timeline WHERE booking_id = %s ORDER BY version"
                ),
                (booking["booking_id"],),
            )
            booking["timeline"] = [utc_row(row) for row in await cur.fetchall()]
        return booking

    async def document(
        self, conn: AsyncConnection[Any], confirmation_number: str
    ) -> dict[str, Any] | None:
        """A confirmation document by its number, whether current or replaced since: the
        document as issued, its booking (id, channel, reference), the number it replaces and
        the number that replaced it (None while it is the booking's current one)."""
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                self._sql(
                    "SELECT d.confirmation_number, d.booking_id, b.channel, b.reference, d.seq, "
                    "d.issued_at, d.replaces, "
                    "(SELECT n.confirmation_number FROM {s}.documents n "
                    " WHERE n.booking_id = d.booking_id AND n.replaces = d.confirmation_number "
                    " ORDER BY n.seq LIMIT 1) AS replaced_by, "
                    "d.reason, d.digest, d.document, d.position "
                    "FROM {s}.documents d JOIN {s}.bookings b ON b.booking_id = d.booking_id "
                    "WHERE d.confirmation_number = %s"
                ),
                (confirmation_number,),
            )
            found = await cur.fetchone()
        return None if found is None else _document(found)

    async def list(
        self,
        conn: AsyncConnection[Any],
        *,
        channel: str | None = None,
        resource: str | None = None,
        status: str | None = None,
        flagged: bool | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """Bookings matching every filter given, oldest hold first, and the cursor of the
        next page (None on the last page). The guest is left out (see ``booking``).

        ``flagged`` True selects bookings an operator must handle, False the others;
        ``after`` is a cursor from an earlier page.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidValue(f"limit must be 1 to {MAX_LIMIT}", field="limit")
        if status is not None and status not in STATUSES:
            raise InvalidValue(f"unknown booking status {status!r}", field="status")
        conditions: builtins.list[Composable] = [SQL("held_position > %(after)s")]
        if channel is not None:
            conditions.append(SQL("channel = %(channel)s"))
        if resource is not None:
            conditions.append(SQL("resource = %(resource)s"))
        if status is not None:
            conditions.append(SQL("status = %(status)s"))
        if flagged is not None:
            conditions.append(SQL("flagged IS NOT NULL" if flagged else "flagged IS NULL"))
        query = SQL(
            "SELECT {columns} FROM {s}.bookings WHERE {where} "
            "ORDER BY held_position LIMIT %(limit)s"
        ).format(
            columns=SQL(BOOKING_COLUMNS),
            s=self._s,
            where=SQL(" AND ").join(conditions),
        )
        params = {
            "after": 0 if after is None else CURSOR.decode(after),
            "channel": channel,
            "resource": resource,
            "status": status,
            "limit": limit + 1,  # one more tells whether there is a next page
        }
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            rows = [utc_row(row) for row in await cur.fetchall()]
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        return rows, CURSOR.encode(rows[-1]["held_position"])
