"""Customer privacy in an immutable log: crypto-shredding (decision 0018, docs/privacy.md).

- :mod:`.crypto`: AES-GCM, the master key from configuration, key wrapping;
- :mod:`.keystore`: each customer's data key in ``privacy_keys``, wrapped by the master key;
- :mod:`.sealing`: :class:`Privacy`, which seals personal fields before they are stored and
  reveals them (or shows them as ``"[erased]"``) when read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg

from infrastructure.privacy.crypto import (
    MASTER_KEY_ENV,
    PREVIOUS_MASTER_KEY_ENV,
    MasterKeyMissing,
    generate_key,
    master_keys,
)
from infrastructure.privacy.sealing import ERASED, MARK, Privacy

__all__ = [
    "ERASED",
    "MasterKeyMissing",
    "Privacy",
    "default_privacy",
    "has_sealed",
    "require_master_key",
    "reveal_states",
    "reveal_states_async",
]

_cached: dict[tuple[str, str], Privacy] = {}


def default_privacy() -> Privacy:
    """The process's :class:`Privacy`, from the configured master keys.

    Raises :class:`MasterKeyMissing` when none is configured; readers ask for it only when
    they meet a sealed value, so logs without personal data read without a key.
    """
    config = (os.environ.get(MASTER_KEY_ENV, ""), os.environ.get(PREVIOUS_MASTER_KEY_ENV, ""))
    found = _cached.get(config)
    if found is None:
        found = _cached[config] = Privacy(master_keys())
    return found


def has_sealed(document: bytes) -> bool:
    return MARK in document


def reveal_states(conn: psycopg.Connection[Any], states: list[bytes]) -> list[bytes]:
    """Stored states as readers see them: personal values revealed or shown as erased."""
    if not any(MARK in state for state in states):
        return states
    return default_privacy().reveal_sync(conn, states)


async def reveal_states_async(
    conn: psycopg.AsyncConnection[Any], states: list[bytes]
) -> list[bytes]:
    if not any(MARK in state for state in states):
        return states
    return await default_privacy().reveal_async(conn, states)


DEV_KEY_FILE = "master.key"


def require_master_key(database_configured: bool, data_dir: Path) -> None:
    """Make sure a master key is configured before anything starts.

    With a configured database and no key, refuse (:class:`MasterKeyMissing`): a production
    store must never get a key nobody kept. The embedded development setup gets a key of its
    own, generated once into its data directory next to the database it protects.
    """
    if os.environ.get(MASTER_KEY_ENV, "").strip():
        master_keys()  # a malformed key fails here, before anything is written
        return
    if database_configured:
        raise MasterKeyMissing(
            "A database is configured (LEDGERLINE_DATABASE_URL), so no development key is made."
        )
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(generate_key() + "\n")
    os.environ[MASTER_KEY_ENV] = path.read_text().strip()
