"""What every read model here shares: its own PostgreSQL schema, a tracking row per log it
follows, and one handler per event type, applied inside the follower's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.sql import SQL, Composable, Composed, Identifier

from infrastructure.eventstore import EventMeta


def event_class(aggregate: type, name: str) -> type:
    """An aggregate's event class by name (they are made by ``@event``, unseen by mypy)."""
    found: type = getattr(aggregate, name)
    return found


class SchemaProjection:
    """A read model in schema ``schema``, built from log ``log``; subclasses fill
    ``handlers`` (event class -> method taking cursor, event, position)."""

    tables: str = ""  # CREATE statements separated by ';', with {s} for the schema

    def __init__(self, kind: str, schema: str, log: str) -> None:
        self.name = f"{kind}:{schema}"
        self.schema = schema
        self.log = log
        self._s = Identifier(schema)
        self.handlers: dict[type, Any] = {}

    def sql(self, text: str, **parts: Composable) -> Composed:
        return SQL(text).format(s=self._s, **parts)

    def setup(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._s))
            conn.execute(
                self.sql(
                    "CREATE TABLE IF NOT EXISTS {s}.tracking ("
                    " log text PRIMARY KEY, position bigint NOT NULL)"
                )
            )
            for statement in self.tables.split(";"):
                if statement.strip():
                    conn.execute(self.sql(statement))
            conn.execute(
                self.sql("INSERT INTO {s}.tracking VALUES (%s, 0) ON CONFLICT DO NOTHING"),
                (self.log,),
            )

    def position(self, conn: psycopg.Connection[Any], *, lock: bool = False) -> int:
        query = self.sql("SELECT position FROM {s}.tracking WHERE log = %s")
        if lock:
            query = query + SQL(" FOR UPDATE")
        row = conn.execute(query, (self.log,)).fetchone()
        return int(row[0]) if row else 0

    def advance(self, cur: psycopg.Cursor[Any], position: int) -> None:
        cur.execute(
            self.sql("UPDATE {s}.tracking SET position = %s WHERE log = %s"),
            (position, self.log),
        )

    def apply(self, cur: psycopg.Cursor[Any], event: Any, meta: EventMeta, position: int) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(cur, event, position)

    def apply_batch(
        self, cur: psycopg.Cursor[Any], items: Sequence[tuple[Any, EventMeta, int]]
    ) -> None:
        """Apply a batch of (event, meta, position) in log order; a read model may fold it."""
        for event, meta, position in items:
            self.apply(cur, event, meta, position)
