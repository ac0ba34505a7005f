"""The effective-price read model: every price layer, promotion version and MAP floor kept.

Nothing is overwritten: rows hold each layer and each version with its window and the time it
was recorded, and a query resolves the price "at t" when asked (projections/price_queries).
So a rebuild from position 0 equals the live tables, and an answer about a past moment does
not change when the tables grow.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from domain.price_floors import PriceFloors
from domain.price_list import ListStatus, PriceList
from domain.pricing_rule import PricingRule
from domain.promotion import Promotion
from projections.schema import SchemaProjection, event_class

LOG = "pricing"

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.lists (
    stream_id uuid PRIMARY KEY, channel text NOT NULL, currency text NOT NULL,
    name text NOT NULL, map_policy text NOT NULL, status text NOT NULL,
    version bigint NOT NULL, UNIQUE (channel, currency));
CREATE TABLE IF NOT EXISTS {s}.list_versions (
    channel text NOT NULL, currency text NOT NULL, version bigint NOT NULL,
    recorded_at timestamptz NOT NULL, status text NOT NULL, event text NOT NULL,
    log_position bigint NOT NULL, PRIMARY KEY (channel, currency, version));
CREATE TABLE IF NOT EXISTS {s}.layers (
    channel text NOT NULL, currency text NOT NULL, sku text NOT NULL,
    version bigint NOT NULL, idx integer NOT NULL, amount numeric,
    valid_from timestamptz NOT NULL, valid_until timestamptz,
    recorded_at timestamptz NOT NULL, clamped_from numeric, source text NOT NULL,
    PRIMARY KEY (channel, currency, sku, version, idx));
CREATE TABLE IF NOT EXISTS {s}.promotions (
    promotion_id text NOT NULL, version bigint NOT NULL, stream_id uuid NOT NULL,
    recorded_at timestamptz NOT NULL, name text NOT NULL, kind text NOT NULL,
    value numeric NOT NULL, currency text, channels text[], skus text[],
    valid_from timestamptz NOT NULL, valid_until timestamptz, priority integer NOT NULL,
    stacking text NOT NULL, stacks_with text[] NOT NULL,
    PRIMARY KEY (promotion_id, version));
CREATE INDEX IF NOT EXISTS promotions_stream ON {s}.promotions (stream_id);
CREATE TABLE IF NOT EXISTS {s}.floor_streams (
    stream_id uuid PRIMARY KEY, currency text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.floors (
    currency text NOT NULL, sku text NOT NULL, version bigint NOT NULL,
    recorded_at timestamptz NOT NULL, amount numeric,
    PRIMARY KEY (currency, sku, version));
CREATE TABLE IF NOT EXISTS {s}.rules (
    stream_id uuid PRIMARY KEY, rule_id text UNIQUE NOT NULL, channel text NOT NULL,
    currency text NOT NULL, skus text[] NOT NULL, base numeric NOT NULL,
    floor numeric NOT NULL, ceiling numeric NOT NULL, low_atp bigint NOT NULL,
    high_atp bigint NOT NULL, step_percent numeric NOT NULL, enabled boolean NOT NULL,
    version bigint NOT NULL)
"""


class PricingProjection(SchemaProjection):
    """Builds the pricing read model in PostgreSQL schema ``schema``."""

    tables = TABLES

    def __init__(self, schema: str = "pricing") -> None:
        super().__init__("prices", schema, LOG)
        self._lists: dict[UUID, tuple[str, str]] = {}
        self.handlers = {
            event_class(PriceList, "Opened"): self._opened,
            event_class(PriceList, "PricesScheduled"): self._layers,
            event_class(PriceList, "RolledBack"): self._layers,
            event_class(PriceList, "StatusChanged"): self._status_changed,
            event_class(PriceList, "Renamed"): self._renamed,
            event_class(PriceList, "MapPolicyChanged"): self._policy_changed,
            event_class(Promotion, "Defined"): self._promotion_defined,
            event_class(Promotion, "Ended"): self._promotion_ended,
            event_class(PriceFloors, "Started"): self._floors_started,
            event_class(PriceFloors, "FloorsSet"): self._floors_set,
            event_class(PricingRule, "Defined"): self._rule_defined,
            event_class(PricingRule, "Disabled"): self._rule_disabled,
        }

    # -- price lists -----------------------------------------------------------------------

    def _opened(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        self._lists[e.originator_id] = (e.channel, e.currency)
        cur.execute(
            self.sql("INSERT INTO {s}.lists VALUES (%s, %s, %s, %s, %s, %s, %s)"),
            (
                e.originator_id,
                e.channel,
                e.currency,
                e.name,
                e.map_policy,
                ListStatus.DRAFT.value,
                e.originator_version,
            ),
        )
        self._version(cur, e, position, "Opened")

    def _layers(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        channel, currency = self._list(cur, e.originator_id)
        source = getattr(e, "source", None) or f"rollback to version {e.to_version}"
        cur.executemany(
            self.sql("INSERT INTO {s}.layers VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"),
            [
                (
                    channel,
                    currency,
                    entry["sku"],
                    e.originator_version,
                    index,
                    entry["amount"],
                    entry["valid_from"],
                    entry["valid_until"],
                    e.recorded_at,
                    entry.get("clamped_from"),
                    source,
                )
                for index, entry in enumerate(e.entries)
            ],
        )
        self._touch(cur, e, position, type(e).__name__)

    def _status_changed(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            self.sql("UPDATE {s}.lists SET status = %s WHERE stream_id = %s"),
            (e.status, e.originator_id),
        )
        self._touch(cur, e, position, "StatusChanged")

    def _renamed(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            self.sql("UPDATE {s}.lists SET name = %s WHERE stream_id = %s"),
            (e.name, e.originator_id),
        )
        self._touch(cur, e, position, "Renamed")

    def _policy_changed(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            self.sql("UPDATE {s}.lists SET map_policy = %s WHERE stream_id = %s"),
            (e.map_policy, e.originator_id),
        )
        self._touch(cur, e, position, "MapPolicyChanged")

    def _touch(self, cur: psycopg.Cursor[Any], e: Any, position: int, name: str) -> None:
        cur.execute(
            self.sql("UPDATE {s}.lists SET version = %s WHERE stream_id = %s"),
            (e.originator_version, e.originator_id),
        )
        self._version(cur, e, position, name)

    def _version(self, cur: psycopg.Cursor[Any], e: Any, position: int, name: str) -> None:
        channel, currency = self._list(cur, e.originator_id)
        cur.execute(
            self.sql(
                "INSERT INTO {s}.list_versions "
                "SELECT %s, %s, %s, %s, status, %s, %s FROM {s}.lists WHERE stream_id = %s"
            ),
            (
                channel,
                currency,
                e.originator_version,
                e.recorded_at,
                name,
                position,
                e.originator_id,
            ),
        )

    def _list(self, cur: psycopg.Cursor[Any], stream: UUID) -> tuple[str, str]:
        found = self._lists.get(stream)
        if found is None:
            row = cur.execute(
                self.sql("SELECT channel, currency FROM {s}.lists WHERE stream_id = %s"),
                (stream,),
            ).fetchone()
            if row is None:
                raise LookupError(f"lists: no row for stream {stream}")
            found = self._lists[stream] = (row[0], row[1])
        return found

    # -- promotions ------------------------------------------------------------------------

    def _promotion_defined(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        terms = e.terms
        cur.execute(
            self.sql(
                "INSERT INTO {s}.promotions VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                terms["promotion_id"],
                e.originator_version,
                e.originator_id,
                e.recorded_at,
                terms["name"],
                terms["kind"],
                terms["value"],
                terms["currency"],
                terms["channels"],
                terms["skus"],
                e.valid_from,
                e.valid_until,
                terms["priority"],
                terms["stacking"],
                terms["stacks_with"],
            ),
        )

    def _promotion_ended(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        # A new version row, like the one before but for its end and recording time.
        cur.execute(
            self.sql(
                "INSERT INTO {s}.promotions "
                "SELECT promotion_id, %s, stream_id, %s, name, kind, value, currency, "
                "channels, skus, valid_from, %s, priority, stacking, stacks_with "
                "FROM {s}.promotions WHERE stream_id = %s AND version = %s"
            ),
            (
                e.originator_version,
                e.recorded_at,
                e.valid_until,
                e.originator_id,
                e.originator_version - 1,
            ),
        )

    # -- floors and rules ------------------------------------------------------------------

    def _floors_started(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql("INSERT INTO {s}.floor_streams VALUES (%s, %s)"),
            (e.originator_id, e.currency),
        )

    def _floors_set(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql(
                "INSERT INTO {s}.floors (currency, sku, version, recorded_at, amount) "
                "SELECT f.currency, x.sku, %s, %s, x.amount FROM {s}.floor_streams f, "
                "unnest(%s::text[], %s::numeric[]) AS x(sku, amount) WHERE f.stream_id = %s"
            ),
            (
                e.originator_version,
                e.recorded_at,
                list(e.floors),
                list(e.floors.values()),
                e.originator_id,
            ),
        )

    def _rule_defined(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql(
                "INSERT INTO {s}.rules VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true, %s)"
            ),
            (
                e.originator_id,
                e.rule_id,
                e.channel,
                e.currency,
                e.skus,
                e.base,
                e.floor,
                e.ceiling,
                e.low_atp,
                e.high_atp,
                e.step_percent,
                e.originator_version,
            ),
        )

    def _rule_disabled(self, cur: psycopg.Cursor[Any], e: Any, _: int) -> None:
        cur.execute(
            self.sql("UPDATE {s}.rules SET enabled = false, version = %s WHERE stream_id = %s"),
            (e.originator_version, e.originator_id),
        )
