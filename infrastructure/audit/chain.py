"""What the audit chains hash, defined once for the writer and the verifier.

An event's hash is ``SHA-256(prev_hash || canonical(log, stream id, version, topic, state))``,
where ``prev_hash`` is the hash of the stream's previous event (32 zero bytes for version 1).
The state is the stored bytes, metadata (``_meta``) included, so the chain covers who did
what, when and why. The log chain folds every event's hash in notification order:
``log_hash_n = SHA-256(log_hash_{n-1} || hash_n)``, starting from 32 zero bytes, so one
value (signed in a checkpoint) stands for the whole log up to a position.

The canonical encoding is length-prefixed, so no two different tuples share their bytes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

ZERO = bytes(32)
_HEAD = struct.Struct(">I")
_VERSION = struct.Struct(">q")
_STATE = struct.Struct(">Q")


def canonical(log: str, stream: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The bytes an event's hash covers (without its predecessor's hash)."""
    log_bytes = log.encode()
    topic_bytes = topic.encode()
    return b"".join(
        (
            _HEAD.pack(len(log_bytes)),
            log_bytes,
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
        log_bytes = log.encode()
        self.prefix = _HEAD.pack(len(log_bytes)) + log_bytes
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


@dataclass(frozen=True)
class Unhashed:
    """A stored event, in the shape the writer needs it."""

    notification_id: int
    stream: UUID
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class Hashed:
    """The hash row the writer stores for one event."""

    notification_id: int
    stream: UUID
    version: int
    prev_hash: bytes
    hash: bytes
    log_hash: bytes


def chain(
    log: str,
    events: Sequence[Unhashed],
    stream_heads: dict[tuple[UUID, int], bytes],
    log_hash: bytes,
) -> list[Hashed]:
    """Hash a batch of newly stored events, in notification order.

    ``stream_heads`` holds the stored hash of each ``(stream, version - 1)`` the batch
    continues (batch-internal predecessors are found in the batch); a missing predecessor
    chains from zeros, which ``verify`` then reports. ``log_hash`` is the log chain's value
    at the last event stored before the batch.
    """
    heads = dict(stream_heads)
    hashes: dict[int, tuple[bytes, bytes]] = {}
    # Stream chains in version order, then the log chain in notification order.
    for event in sorted(events, key=lambda e: (e.stream.bytes, e.version)):
        prev = ZERO if event.version == 1 else heads.get((event.stream, event.version - 1), ZERO)
        hash_ = event_hash(prev, log, event.stream, event.version, event.topic, event.state)
        heads[(event.stream, event.version)] = hash_
        hashes[event.notification_id] = (prev, hash_)
    rows: list[Hashed] = []
    for event in sorted(events, key=lambda e: e.notification_id):
        prev, hash_ = hashes[event.notification_id]
        log_hash = fold(log_hash, hash_)
        rows.append(
            Hashed(event.notification_id, event.stream, event.version, prev, hash_, log_hash)
        )
    return rows


def predecessors(events: Sequence[Unhashed]) -> list[tuple[UUID, int]]:
    """The (stream, version) each batch needs from the store: those not in the batch."""
    inside = {(e.stream, e.version) for e in events}
    return sorted(
        {(e.stream, e.version - 1) for e in events if e.version > 1} - inside,
        key=lambda key: (key[0].bytes, key[1]),
    )
