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


_current: ContextVar[CommandContext] = ContextVar("ledgerline_command", default=CommandContext())


def current_context() -> CommandContext:
    return _current.get()


@contextmanager
def acting_as(context: CommandContext) -> Iterator[CommandContext]:
    """Events recorded inside this block carry ``context`` in their metadata."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
