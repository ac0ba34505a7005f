"""Idempotent commands: a retried request returns the first answer and writes nothing.

The first answer is recorded in the same transaction as the command's events, so two
concurrent retries cannot both write: the second one's insert of the same key fails and it
reads the answer the first one recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from domain.errors import Conflict


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str  # scoped by the caller: "<actor>:<client key>"
    fingerprint: str  # what was asked, so a reused key with another request is caught
    answer: bytes


@dataclass(frozen=True)
class PendingAnswer:
    """An answer to record with a command's events, once their positions are known."""

    key: str
    fingerprint: str
    render: Callable[[int | None], bytes]  # the command's log position -> answer bytes
    event_index: int | None  # which of the saved events is the command's last; None: none


@runtime_checkable
class IdempotencyStore(Protocol):
    def find_answer(self, key: str) -> IdempotencyRecord | None: ...

    def record_answer(self, record: IdempotencyRecord) -> bool:
        """Record an answer for a command that wrote no events; False if the key exists."""
        ...


class IdempotencyKeyReused(Conflict):
    code = "idempotency-key-reused"
    title = "Idempotency key reused for a different request"


def fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()
