"""The read models the demand-pricing process looks at: ATP and list prices."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg.sql import SQL, Identifier

from projections.atp_queries import SERVED_ATP
from projections.price_queries import PriceQueries


class DemandReadModels:
    """:class:`application.demand_pricing.DemandView` over the ATP and pricing schemas."""

    def __init__(
        self, conninfo: str, atp_schema: str = "atp", prices: PriceQueries | None = None
    ) -> None:
        self.conninfo = conninfo
        self.atp_schema = Identifier(atp_schema)
        self.prices = prices or PriceQueries()
        # The figure the availability API serves: a lapsed hold counts as free.
        self._atp = SQL(
            "SELECT {served}, a.log_position FROM {s}.availability a "
            "WHERE a.channel = %s AND a.sku = %s"
        ).format(
            served=SQL(SERVED_ATP).format(s=self.atp_schema, now=SQL("now()")), s=self.atp_schema
        )

    def rules(self) -> list[str]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return self.prices.rules(conn)

    def atp(self, channel: str, sku: str) -> tuple[int, int] | None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            row = conn.execute(self._atp, (channel, sku)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def list_price(self, channel: str, currency: str, sku: str, at: datetime) -> Decimal | None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            inputs = self.prices.inputs_sync(conn, channel, [sku], at, currency)
        layer = inputs.layers.get((currency, sku))
        return None if layer is None else layer["amount"]
