"""What a connector author writes: a handler of public envelopes, and nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from nats.js import JetStreamContext

from infrastructure.envelope import Envelope

ALL_EVENTS = ("ledgerline.events.>",)


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help: the event goes to the dead letters."""


@dataclass(frozen=True)
class Context:
    """What a handler may use besides the envelope.

    ``tx`` is a PostgreSQL connection inside the transaction that also records the event as
    handled: state written through it commits exactly when the event counts as handled.
    """

    connector: str
    tx: psycopg.AsyncConnection[Any]
    js: JetStreamContext
    attempt: int  # 1 for the first delivery


class Connector(Protocol):
    name: str
    subjects: Sequence[str]  # NATS subject filters, e.g. "ledgerline.events.inventory.>"

    async def setup(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Create the connector's tables; called once per session before any event."""

    async def handle(self, envelope: Envelope, ctx: Context) -> None:
        """Handle one event; raise to retry it, :class:`PermanentFailure` to give up."""

    async def caught_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Called after a commit when nothing is waiting, and before stopping."""

    async def idle(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Called every fetch timeout while nothing arrives: for work a clock starts."""

    async def reset(self, tx: psycopg.AsyncConnection[Any]) -> None:
        """Forget all state (a replay that re-handles every event starts from scratch)."""

    async def close(self) -> None:
        """Release clients; called when a session ends."""


class BaseConnector:
    """Defaults for the optional hooks."""

    name: str
    subjects: Sequence[str] = ALL_EVENTS

    async def setup(self, conn: psycopg.AsyncConnection[Any]) -> None:
        return None

    async def caught_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        return None

    async def idle(self, conn: psycopg.AsyncConnection[Any]) -> None:
        return None

    async def reset(self, tx: psycopg.AsyncConnection[Any]) -> None:
        return None

    async def close(self) -> None:
        return None


class FunctionConnector(BaseConnector):
    """A connector made of one async function of the envelope."""

    def __init__(
        self,
        name: str,
        handler: Callable[[Envelope], Awaitable[None]],
        subjects: Sequence[str] = ALL_EVENTS,
    ) -> None:
        self.name = name
        self.handler = handler
        self.subjects = subjects

    async def handle(self, envelope: Envelope, ctx: Context) -> None:
        await self.handler(envelope)
