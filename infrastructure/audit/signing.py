"""The checkpoint signing key, and what a signed checkpoint is.

A checkpoint says "log L, up to position P, has log hash H", at time T, signed with Ed25519.
The signed bytes are a short text (``message``), so anyone can check a checkpoint with any
Ed25519 tool. The key is a 32-byte seed from ``LEDGERLINE_AUDIT_SIGNING_KEY`` (hex or
base64). Unset, a seed is generated once and kept in the ``audit_signing_key`` table: fine
for development, useless against someone who can write the database (they could re-sign a
rewritten log), so a production deployment must set the variable (docs/audit.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec
import psycopg
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from infrastructure.envelope import Time

log = structlog.get_logger(__name__)

KEY_VARIABLE = "LEDGERLINE_AUDIT_SIGNING_KEY"
KEY_TABLE = """
CREATE TABLE IF NOT EXISTS audit_signing_key (
    id int PRIMARY KEY CHECK (id = 1),
    seed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now())
"""


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed statement of a log's chained head: what is stored, published and exported.

    `log_hash` (hex) is the log chain's value after the event at `position`; `signature`
    (hex) is Ed25519 over `message()` by `public_key` (hex, 32 bytes).
    """

    log: str
    position: int
    log_hash: str
    time: Time
    public_key: str
    signature: str

    def message(self) -> bytes:
        return message(self.log, self.position, bytes.fromhex(self.log_hash), self.time)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def message(log_name: str, position: int, log_hash: bytes, time: datetime) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return (
        f"ledgerline-checkpoint/v1\n{log_name}\n{position}\n{log_hash.hex()}\n{rfc3339(time)}\n"
    ).encode()


def key_id(public_key: bytes) -> str:
    """A short name for a public key (the first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class Signer:
    """Signs checkpoints with one Ed25519 key."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, log_name: str, position: int, log_hash: bytes, time: datetime) -> Checkpoint:
        # Microseconds are what PostgreSQL keeps: the stored time re-signs to the same bytes.
        time = time.astimezone(UTC)
        signature = self._key.sign(message(log_name, position, log_hash, time))
        return Checkpoint(
            log=log_name,
            position=position,
            log_hash=log_hash.hex(),
            time=time,
            public_key=self.public_key.hex(),
            signature=signature.hex(),
        )


def signature_problem(checkpoint: Checkpoint, trusted: bytes | None) -> str | None:
    """Why ``checkpoint``'s signature is not good, or None when it is.

    Only ``trusted`` counts: a checkpoint names its signer, but anyone can sign with a key
    of their own.
    """
    if trusted is None:
        return "no trusted public key to check it with"
    if checkpoint.public_key != trusted.hex():
        return f"signed by key {_short(checkpoint.public_key)}, not the trusted {key_id(trusted)}"
    try:
        Ed25519PublicKey.from_public_bytes(trusted).verify(
            bytes.fromhex(checkpoint.signature), checkpoint.message()
        )
    except (InvalidSignature, ValueError):
        return "the signature does not match the checkpoint"
    return None


def _short(public_key_hex: str) -> str:
    try:
        return key_id(bytes.fromhex(public_key_hex))
    except ValueError:
        return "(malformed)"


def parse_key(text: str) -> bytes:
    """32 bytes from hex (64 digits) or base64 (44 characters); ValueError otherwise."""
    text = text.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as error:
        raise ValueError(f"not hex or base64: {error}") from error
    if len(raw) != 32:
        raise ValueError(f"needs 32 bytes, got {len(raw)}")
    return raw


def configured_seed() -> bytes | None:
    """The seed from ``LEDGERLINE_AUDIT_SIGNING_KEY``, if set."""
    raw = os.environ.get(KEY_VARIABLE)
    if not raw:
        return None
    try:
        return parse_key(raw)
    except ValueError as error:
        raise ValueError(f"{KEY_VARIABLE}: {error}") from error


def load_signer(conn: psycopg.Connection[Any]) -> Signer:
    """The configured key, else the database's own (made on first use)."""
    seed = configured_seed()
    if seed is not None:
        return Signer(seed)
    conn.execute(KEY_TABLE)
    conn.execute(
        "INSERT INTO audit_signing_key (id, seed) VALUES (1, %s) ON CONFLICT (id) DO NOTHING",
        (os.urandom(32),),
    )
    row = conn.execute("SELECT seed FROM audit_signing_key WHERE id = 1").fetchone()
    assert row is not None
    _warn_key_in_database()
    return Signer(bytes(row[0]))


@cache
def _warn_key_in_database() -> None:
    """Once per process: the checkpoint thread would repeat it every round."""
    log.warning(
        "audit.signing_key_in_database",
        hint=f"set {KEY_VARIABLE} in production: a key kept in the database cannot prove "
        "the database was not rewritten",
    )


def trusted_key(conn: psycopg.Connection[Any]) -> bytes | None:
    """The public key checkpoints must be signed with, as configured; None if none yet."""
    seed = configured_seed()
    if seed is not None:
        return Signer(seed).public_key
    exists = conn.execute("SELECT to_regclass('audit_signing_key')").fetchone()
    if exists is None or exists[0] is None:
        return None
    row = conn.execute("SELECT seed FROM audit_signing_key WHERE id = 1").fetchone()
    return Signer(bytes(row[0])).public_key if row else None


async def public_key(conn: psycopg.AsyncConnection[Any]) -> str | None:
    """The configured public key (hex), as :func:`trusted_key`, read without writing."""
    seed = configured_seed()
    if seed is not None:
        return Signer(seed).public_key.hex()
    cur = await conn.execute("SELECT to_regclass('audit_signing_key')")
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    cur = await conn.execute("SELECT seed FROM audit_signing_key WHERE id = 1")
    row = await cur.fetchone()
    return None if row is None else Signer(bytes(row[0])).public_key.hex()
