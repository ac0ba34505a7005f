"""Who asked for a command, and why: carried into every event it records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CommandContext:
    """The metadata every stored event carries besides its data (docs/decisions/0002)."""

    actor: str = "system"
    channel: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None


SYSTEM = CommandContext()  # for events saved outside a command (imports, tools)

_per_event: ContextVar[dict[int, CommandContext] | None] = ContextVar(
    "ledgerline_per_event", default=None
)


def context_of(event: object) -> CommandContext:
    """The context of the command that produced ``event``: with several commands saved
    together, each event keeps its own command's actor, correlation and idempotency key."""
    per_event = _per_event.get()
    if per_event is not None and id(event) in per_event:
        return per_event[id(event)]
    return SYSTEM


@contextmanager
def acting_per_event(contexts: dict[int, CommandContext]) -> Iterator[None]:
    """Events saved inside this block carry the context ``contexts`` maps them to."""
    token = _per_event.set(contexts)
    try:
        yield
    finally:
        _per_event.reset(token)
