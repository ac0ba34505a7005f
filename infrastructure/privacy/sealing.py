"""Which stored fields are personal, and sealing them before they are written.

Personal data sits under a few keys of a stored event's state (and of the answers kept for
idempotent retries): ``customer``, ``ship_to`` and ``guest``, wherever they appear (an order's
placement, a booking's guest, the guest copied into a confirmation document). Each value
under them is sealed on its own with the data key of the subject it belongs to, so the
structure stays readable (an auditor sees that a customer had a name and an e-mail address,
not what they were) and ``customer_id``, the stable pseudonymous id erasure is asked by,
stays clear. A sealed value is the string ``sealed:v1:<subject>:<nonce and ciphertext>``
(both URL-safe base64): AES-GCM with the subject as associated data.

Revealing swaps each sealed value for its plain value, or for ``"[erased]"`` once the
subject's key is destroyed. Stock, prices, totals and states are never personal, so they stay
clear and auditable. The stored bytes (ciphertext) are what the hash chain covers.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

import psycopg
from cryptography.exceptions import InvalidTag

from domain.customer import SEPARATE_CATEGORIES, category_key
from infrastructure.privacy.crypto import MasterKeys, open_bytes, seal_bytes
from infrastructure.privacy.keystore import KeyStore

PERSONAL_KEYS = frozenset({"customer", "ship_to", "guest"})
CLEAR_KEYS = frozenset({"customer_id"})  # the pseudonymous id erasure is asked by
ERASED = "[erased]"
PREFIX = "sealed:v1:"
MARK = PREFIX.encode()
_MARK = MARK
_PERSONAL_MARKS = tuple(f'"{key}"'.encode() for key in PERSONAL_KEYS)
# eventsourcing's transcoder writes a Decimal or datetime as {"_type_": ..., "_data_": ...}:
# one value, sealed whole.
_TRANSCODED = "_type_"

Parts = list[tuple[dict[str, Any], str]]  # (parent, key) of each personal value
KeyLookup = Callable[[Iterable[str]], dict[str, bytes | None]]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def subject_of(parts: Parts, stream: UUID | str) -> str:
    """Whose data a document holds: the customer id one of its personal values names (the
    ship-to of an order belongs to its customer), else the order or booking itself."""
    for parent, key in parts:
        value = parent[key]
        if isinstance(value, dict) and isinstance(value.get("customer_id"), str):
            return str(value["customer_id"])
    return f"stream:{stream}"


def category_subject(key: str, owner: str, stream: UUID | str) -> str:
    """The key a personal value is sealed with. A ship-to address has a key of its own per
    order, so retention can erase it alone (application/retention.py); erasing the customer
    destroys it with theirs."""
    if key in SEPARATE_CATEGORIES:
        return category_key(key, stream)
    return owner


def may_hold_personal(state: bytes) -> bool:
    """A cheap test that leaves most events (stock, prices) unparsed."""
    return any(mark in state for mark in _PERSONAL_MARKS)


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _personal_parts(node: Any, found: Parts) -> None:
    """(parent, key) of every personal value under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in PERSONAL_KEYS and value is not None:
                found.append((node, key))
            else:
                _personal_parts(value, found)
    elif isinstance(node, list):
        for item in node:
            _personal_parts(item, found)


def _map_leaves(value: Any, change: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict) and _TRANSCODED not in value:
        return {k: v if k in CLEAR_KEYS else _map_leaves(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_leaves(item, change) for item in value]
    return None if value is None else change(value)


def _open(value: Any, keys: dict[str, bytes | None]) -> Any:
    """One personal value: opened if sealed, ``"[erased]"`` once its key is gone."""
    if not is_sealed(value):
        return value
    label, _, payload = value[len(PREFIX) :].partition(":")
    try:
        subject = _unb64(label).decode()
        sealed = _unb64(payload)
    except ValueError:
        return ERASED  # not ours: nothing readable to show
    data_key = keys.get(subject)
    if data_key is None:
        return ERASED
    try:
        return json.loads(open_bytes(data_key, sealed, subject.encode()))
    except InvalidTag:  # sealed under a key since destroyed and made anew
        return ERASED


class Privacy:
    """Seals personal fields before they are stored and reveals them when read."""

    def __init__(self, master: MasterKeys) -> None:
        self.keystore = KeyStore(master)

    # -- sealing ---------------------------------------------------------------------------

    @staticmethod
    def subjects(document: bytes, stream: UUID | str) -> set[str]:
        """The subjects whose data ``document`` (a stored state or an answer) holds."""
        if not may_hold_personal(document):
            return set()
        try:
            parsed = json.loads(document)
        except ValueError:
            return set()
        found: Parts = []
        _personal_parts(parsed, found)
        if not found:
            return set()
        owner = subject_of(found, stream)
        return {category_subject(key, owner, stream) for _, key in found}

    @staticmethod
    def seal(document: bytes, stream: UUID | str, keys: dict[str, bytes]) -> bytes:
        """``document`` with every personal value sealed (unchanged if it holds none)."""
        if not may_hold_personal(document):
            return document
        try:
            parsed = json.loads(document)
        except ValueError:
            return document
        found: Parts = []
        _personal_parts(parsed, found)
        if not found:
            return document
        owner = subject_of(found, stream)

        def sealer(subject: str) -> Callable[[Any], Any]:
            data_key = keys[subject]
            label = _b64(subject.encode())

            def seal_one(value: Any) -> str:
                plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
                return PREFIX + label + ":" + _b64(seal_bytes(data_key, plain, subject.encode()))

            return seal_one

        for parent, key in found:
            parent[key] = _map_leaves(parent[key], sealer(category_subject(key, owner, stream)))
        return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()

    # -- revealing -------------------------------------------------------------------------

    @staticmethod
    def sealed_subjects(document: bytes) -> set[str]:
        """The subjects named by sealed values in ``document``, without parsing it."""
        found = set()
        start = document.find(_MARK)
        while start >= 0:
            end = document.find(b":", start + len(_MARK))
            if end < 0:
                break
            # Text that only looks sealed (a channel's free text outside personal fields)
            # names no subject: skipped, never a reason to fail a read.
            with contextlib.suppress(ValueError):
                found.add(_unb64(document[start + len(_MARK) : end].decode()).decode())
            start = document.find(_MARK, end)
        return found

    @staticmethod
    def reveal_value(value: Any, keys: dict[str, bytes | None]) -> Any:
        """A stored value with the sealed values under its personal fields opened (or shown
        as ``"[erased]"``); everything else as stored, whatever it looks like."""
        if isinstance(value, dict):
            return {
                k: _map_leaves(v, lambda leaf: _open(leaf, keys))
                if k in PERSONAL_KEYS and v is not None
                else Privacy.reveal_value(v, keys)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [Privacy.reveal_value(v, keys) for v in value]
        return value

    def reveal(self, document: bytes, keys: dict[str, bytes | None]) -> bytes:
        """``document`` with its sealed values revealed, given the subjects' keys."""
        if _MARK not in document:
            return document
        revealed = self.reveal_value(json.loads(document), keys)
        return json.dumps(revealed, separators=(",", ":"), ensure_ascii=False).encode()

    def reveal_all(self, documents: list[bytes], lookup: KeyLookup) -> list[bytes]:
        subjects: set[str] = set()
        for document in documents:
            if _MARK in document:
                subjects |= self.sealed_subjects(document)
        if not subjects:
            return documents
        keys = lookup(subjects)
        return [self.reveal(document, keys) for document in documents]

    def reveal_sync(self, conn: psycopg.Connection[Any], documents: list[bytes]) -> list[bytes]:
        """Reveal a batch, fetching its subjects' keys on ``conn`` in one query."""
        return self.reveal_all(documents, lambda subjects: self.keystore.keys(conn, subjects))

    async def reveal_async(
        self, conn: psycopg.AsyncConnection[Any], documents: list[bytes]
    ) -> list[bytes]:
        subjects: set[str] = set()
        for document in documents:
            if _MARK in document:
                subjects |= self.sealed_subjects(document)
        if not subjects:
            return documents
        keys = await self.keystore.keys_async(conn, subjects)
        return [self.reveal(document, keys) for document in documents]
