"""Customers' data keys in their own PostgreSQL table, wrapped by the master key.

``privacy_keys`` holds one row per subject (a customer id, or ``stream:<uuid>`` for an order
or booking that names no customer): the data key wrapped by the master key and the master
key's fingerprint. Erasure sets ``wrapped`` to NULL (and records when): the data key is gone,
so every value sealed with it is unreadable for good, while the events holding the ciphertext
(and the hash chain over them) stay as they were. ``privacy_streams`` says which streams hold
data of which subject, so erasure and export find them without decrypting anything.

Both sync (recorder, follower) and async (readers, API) connections are served; the SQL is
the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import SQL, Composed, Identifier

from infrastructure.privacy.crypto import MasterKeys, new_data_key

KEYS = "privacy_keys"
STREAMS = "privacy_streams"


def create_statements(schema: str) -> list[Composed]:
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " subject text PRIMARY KEY,"
            " master_id text NOT NULL,"
            " wrapped bytea,"  # NULL: erased, the data key is destroyed
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " erased_at timestamptz)"
        ).format(Identifier(schema, KEYS)),
        SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " subject text NOT NULL, log text NOT NULL, stream_id uuid NOT NULL,"
            " PRIMARY KEY (subject, log, stream_id))"
        ).format(Identifier(schema, STREAMS)),
    ]


_SELECT = f"SELECT subject, master_id, wrapped FROM {KEYS} WHERE subject = ANY(%s)"  # noqa: S608
# A subject erased earlier and seen again (a new order under the same customer id) gets a
# fresh key: what was erased stays erased (its ciphertext no longer opens), the new data is new.
_CREATE = (
    f"INSERT INTO {KEYS} AS k (subject, master_id, wrapped) VALUES (%s, %s, %s) "  # noqa: S608
    "ON CONFLICT (subject) DO UPDATE SET master_id = EXCLUDED.master_id, "
    "wrapped = EXCLUDED.wrapped WHERE k.wrapped IS NULL"
)
_LINK = (
    f"INSERT INTO {STREAMS} (subject, log, stream_id) VALUES (%s, %s, %s) "  # noqa: S608
    "ON CONFLICT DO NOTHING"
)


class KeyStore:
    """Data keys by subject, unwrapped with the configured master keys."""

    def __init__(self, master: MasterKeys) -> None:
        self.master = master

    def _unwrap(self, rows: Iterable[Any]) -> dict[str, bytes | None]:
        found: dict[str, bytes | None] = {}
        for row in rows:
            # The library's connections return dict rows, ours tuples.
            subject, key_id, wrapped = row.values() if isinstance(row, dict) else row
            found[subject] = (
                None if wrapped is None else self.master.unwrap(subject, key_id, bytes(wrapped))
            )
        return found

    def keys(
        self, conn: psycopg.Connection[Any], subjects: Iterable[str]
    ) -> dict[str, bytes | None]:
        """Live data keys of ``subjects``; None (or absent) for an erased one."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        with conn.cursor() as cur:
            cur.execute(_SELECT, (wanted,))
            return self._unwrap(cur.fetchall())

    async def keys_async(
        self, conn: psycopg.AsyncConnection[Any], subjects: Iterable[str]
    ) -> dict[str, bytes | None]:
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        async with conn.cursor() as cur:
            await cur.execute(_SELECT, (wanted,))
            return self._unwrap(await cur.fetchall())

    def ensure(
        self,
        conn: psycopg.Connection[Any],
        subjects: Iterable[str],
        streams: Iterable[tuple[str, str, UUID | str]],
    ) -> dict[str, bytes]:
        """A live data key for each subject (made if missing), and each stream noted.

        Runs in a transaction of its own before the events' one: a key made for events that
        then fail to insert is harmless (it seals nothing).
        """
        wanted = sorted(set(subjects))
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(_SELECT, (wanted,))
            found = self._unwrap(cur.fetchall())
            missing = [subject for subject in wanted if found.get(subject) is None]
            if missing:
                cur.executemany(
                    _CREATE,
                    [(s, *self.master.wrap(s, new_data_key())) for s in missing],
                )
                cur.execute(_SELECT, (missing,))
                found.update(self._unwrap(cur.fetchall()))
            links = sorted(set(streams))
            if links:
                cur.executemany(_LINK, links)
        return {subject: key for subject, key in found.items() if key is not None}

    @staticmethod
    def destroy(conn: psycopg.Connection[Any], subject: str) -> bool:
        """Destroy a subject's data key; False if it had none (or it was already erased)."""
        with conn.cursor() as cur:
            cur.execute(
                f"UPDATE {KEYS} SET wrapped = NULL, erased_at = now() "  # noqa: S608
                "WHERE subject = %s AND wrapped IS NOT NULL",
                (subject,),
            )
            return cur.rowcount == 1

    @staticmethod
    def streams(
        conn: psycopg.Connection[Any], subjects: Iterable[str]
    ) -> list[tuple[str, str, UUID]]:
        """(subject, log, stream id) of every stream holding data of ``subjects``."""
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT subject, log, stream_id FROM {STREAMS} "  # noqa: S608
                "WHERE subject = ANY(%s) ORDER BY log, stream_id",
                (sorted(set(subjects)),),
            )
            rows = [row.values() if isinstance(row, dict) else row for row in cur.fetchall()]
            return [(s, log, stream) for s, log, stream in rows]

    def rewrap(self, conn: psycopg.Connection[Any]) -> int:
        """Wrap every live data key with the current master key; how many were rewrapped."""
        done = 0
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                f"SELECT subject, master_id, wrapped FROM {KEYS} "  # noqa: S608
                "WHERE wrapped IS NOT NULL AND master_id <> %s FOR UPDATE",
                (self.master.current_id,),
            )
            for row in cur.fetchall():
                subject, key_id, wrapped = row.values() if isinstance(row, dict) else row
                data_key = self.master.unwrap(subject, key_id, bytes(wrapped))
                new_id, new_wrapped = self.master.wrap(subject, data_key)
                conn.execute(
                    f"UPDATE {KEYS} SET master_id = %s, wrapped = %s WHERE subject = %s",  # noqa: S608
                    (new_id, new_wrapped, subject),
                )
                done += 1
        return done
