"""What the audit chains hash, defined once for the writer and the verifier.

An event's hash is ``SHA-256(prev_hash || canonical(log, stream id, version, topic, state))``,
where ``prev_hash`` is the hash of the stream's previous event (32 zero bytes for version 1).
The state is the stored bytes, metadata (``_meta``) included, so the chain covers who did
what, when and why. The log chain folds every event's hash in notification order:
``log_hash_n = SHA-256(log_hash_{n-1} || hash_n)``, starting from 32 zero bytes, so one
value (signed in a checkpoint) stands for the whole log up to a position.

The canonical encoding is length-prefixed, so no two different tuples share their bytes.
The writer computes the same in SQL (:mod:`infrastructure.audit.writer`); the verifier uses
this module, so the two implementations check each other.
"""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID

ZERO = bytes(32)
_HEAD = struct.Struct(">I")
_VERSION = struct.Struct(">q")
_STATE = struct.Struct(">Q")


def log_prefix(log: str) -> bytes:
    """The first field of every canonical encoding in ``log``."""
    log_bytes = log.encode()
    return _HEAD.pack(len(log_bytes)) + log_bytes


def canonical(log: str, stream: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The bytes an event's hash covers (without its predecessor's hash)."""
    topic_bytes = topic.encode()
    return b"".join(
        (
            log_prefix(log),
            stream.bytes,
            _VERSION.pack(version),
            _HEAD.pack(len(topic_bytes)),
            topic_bytes,
            _STATE.pack(len(state)),
            state,
        )
    )


def event_hash(
    prev_hash: bytes, log: str, stream: UUID, version: int, topic: str, state: bytes
) -> bytes:
    """SHA-256 of the predecessor's hash and this event's canonical bytes."""
    return hashlib.sha256(prev_hash + canonical(log, stream, version, topic, state)).digest()


class LogHasher:
    """:func:`event_hash` for one log, fed piecewise (the verifier's hot loop): no joined
    copy of the state, and each topic encoded once."""

    def __init__(self, log: str) -> None:
        self.prefix = log_prefix(log)
        self.topics: dict[str, bytes] = {}

    def hash(
        self, prev_hash: bytes, stream: bytes, version: int, topic: str, state: bytes
    ) -> bytes:
        """``stream`` is the UUID's 16 bytes."""
        encoded = self.topics.get(topic)
        if encoded is None:
            topic_bytes = topic.encode()
            encoded = self.topics[topic] = _HEAD.pack(len(topic_bytes)) + topic_bytes
        digest = hashlib.sha256(prev_hash)
        digest.update(self.prefix + stream + _VERSION.pack(version) + encoded)
        digest.update(_STATE.pack(len(state)))
        digest.update(state)
        return digest.digest()


def fold(log_hash: bytes, hash_: bytes) -> bytes:
    """The log chain one event further."""
    return hashlib.sha256(log_hash + hash_).digest()
