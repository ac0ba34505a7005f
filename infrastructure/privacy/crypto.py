"""AES-256-GCM for personal fields, and the master key that wraps every customer's data key.

A value is sealed with its customer's data key; the data key is stored wrapped (AES-GCM again)
by the master key, which lives only in configuration (``LEDGERLINE_MASTER_KEY``, 32 bytes as
URL-safe base64). Each wrap names the master key it used by a short fingerprint, so after a
rotation (``LEDGERLINE_MASTER_KEY_PREVIOUS`` holds the old one until ``ledgerline privacy
rewrap`` has run) both can be read.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY_ENV = "LEDGERLINE_MASTER_KEY"
PREVIOUS_MASTER_KEY_ENV = "LEDGERLINE_MASTER_KEY_PREVIOUS"
NONCE_BYTES = 12
KEY_BYTES = 32


class MasterKeyMissing(RuntimeError):
    """No master key is configured: nothing personal may be written (or read)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            f"{MASTER_KEY_ENV} is not set. Ledgerline encrypts customers' personal data with "
            "keys wrapped by this master key and refuses to run without it rather than write "
            "personal data unencrypted. Set it to the service's master key (generate one with "
            "'ledgerline privacy generate-key'; losing it makes every customer's data "
            f"unreadable).{' ' + detail if detail else ''}"
        )


class MasterKeyInvalid(RuntimeError):
    pass


def generate_key() -> str:
    """A new random 256-bit key as URL-safe base64 text."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def parse_key(text: str, name: str = MASTER_KEY_ENV) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except ValueError as error:
        raise MasterKeyInvalid(f"{name} is not URL-safe base64") from error
    if len(raw) != KEY_BYTES:
        raise MasterKeyInvalid(f"{name} must hold {KEY_BYTES} bytes, it holds {len(raw)}")
    return raw


def fingerprint(key: bytes) -> str:
    """Names a master key without revealing it."""
    return hashlib.sha256(b"ledgerline-master-key:" + key).hexdigest()[:16]


@dataclass(frozen=True)
class MasterKeys:
    """The current master key (new wraps) and any older one still readable."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @property
    def current_id(self) -> str:
        return fingerprint(self.current)

    def by_id(self, key_id: str) -> bytes:
        for key in (self.current, *self.previous):
            if fingerprint(key) == key_id:
                return key
        raise MasterKeyInvalid(
            f"a data key is wrapped by master key {key_id}, which is not configured "
            f"(set it as {PREVIOUS_MASTER_KEY_ENV} and run 'ledgerline privacy rewrap')"
        )

    def wrap(self, subject: str, data_key: bytes) -> tuple[str, bytes]:
        return self.current_id, seal_bytes(self.current, data_key, subject.encode())

    def unwrap(self, subject: str, key_id: str, wrapped: bytes) -> bytes:
        return open_bytes(self.by_id(key_id), wrapped, subject.encode())


def master_keys_from(environ: Mapping[str, str]) -> MasterKeys:
    """The configured master keys; :class:`MasterKeyMissing` when there is none."""
    current = environ.get(MASTER_KEY_ENV, "").strip()
    if not current:
        raise MasterKeyMissing()
    previous = environ.get(PREVIOUS_MASTER_KEY_ENV, "").strip()
    return MasterKeys(
        current=parse_key(current),
        previous=(parse_key(previous, PREVIOUS_MASTER_KEY_ENV),) if previous else (),
    )


def master_keys() -> MasterKeys:
    return master_keys_from(os.environ)


def seal_bytes(key: bytes, plain: bytes, associated: bytes) -> bytes:
    """nonce || ciphertext+tag; ``associated`` binds it to its owner (not secret)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, associated)


def open_bytes(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=8 * KEY_BYTES)
