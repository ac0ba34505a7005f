"""How the API is served: uvicorn, bounded so that slow or idle clients cannot hold it up.

Uvicorn closes an idle keep-alive connection, but it gives a client unlimited time to send
its request headers. `DeadlineH11Protocol` closes a connection whose request line and headers
have not all arrived within ``header_timeout`` of the connection opening or of the previous
response; the body has its own deadline, enforced inside the app (`api.body_deadline`) so
that it is answered with a problem document.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class ServerLimits:
    header_timeout: float = 10.0  # seconds to send request line and headers
    keep_alive_timeout: int = 5  # seconds an idle keep-alive connection stays open
    max_connections: int = 512  # past this, new requests get 503 at once
    max_header_bytes: int = 16 * 1024  # request line plus headers; larger gets 400


def limits_from_env() -> ServerLimits:
    """``LEDGERLINE_HEADER_TIMEOUT_SECONDS``, ``LEDGERLINE_KEEP_ALIVE_SECONDS``,
    ``LEDGERLINE_MAX_CONNECTIONS``; unset ones keep their defaults."""
    default = ServerLimits()
    return ServerLimits(
        header_timeout=float(
            os.environ.get("LEDGERLINE_HEADER_TIMEOUT_SECONDS") or default.header_timeout
        ),
        keep_alive_timeout=int(
            os.environ.get("LEDGERLINE_KEEP_ALIVE_SECONDS") or default.keep_alive_timeout
        ),
        max_connections=int(
            os.environ.get("LEDGERLINE_MAX_CONNECTIONS") or default.max_connections
        ),
    )


def body_timeout_from_env() -> float:
    """``LEDGERLINE_BODY_TIMEOUT_SECONDS``: how long a request body may take to arrive."""
    return float(os.environ.get("LEDGERLINE_BODY_TIMEOUT_SECONDS") or 30.0)


class DeadlineH11Protocol(H11Protocol):
    """h11 with a deadline for the request head (uvicorn has none: slowloris holds forever).

    The deadline is read from the environment when this module is imported, so that worker
    processes started by ``serve --workers`` (which import this class by name) get it too.
    """

    header_timeout: float = limits_from_env().header_timeout
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(
            self.header_timeout, self._head_overdue, self.cycle
        )

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self, cycle_when_armed: Any) -> None:
        # A new cycle means a request head arrived in time; one still running (pipelined
        # behind the last) is the app's to finish, not ours to cut off.
        idle = self.cycle is None or self.cycle.response_complete
        if self.cycle is cycle_when_armed and idle and not self.transport.is_closing():
            self.transport.close()


def server_options(limits: ServerLimits) -> dict[str, Any]:
    """The uvicorn settings that bound each client (for ``uvicorn.run`` and ``Config``)."""
    protocol: type[DeadlineH11Protocol] = DeadlineH11Protocol
    if limits.header_timeout != DeadlineH11Protocol.header_timeout:
        # In this process only (a test, or ``up``): worker processes cannot import it.
        timeout = {"header_timeout": limits.header_timeout}
        protocol = type("LedgerlineH11Protocol", (DeadlineH11Protocol,), timeout)
    return {
        "http": protocol,
        "timeout_keep_alive": limits.keep_alive_timeout,
        "limit_concurrency": limits.max_connections,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        "log_level": "warning",
        "access_log": False,
    }


def server_config(app: Any, host: str, port: int, limits: ServerLimits) -> uvicorn.Config:
    """The uvicorn configuration of an API served in this process."""
    return uvicorn.Config(app, host=host, port=port, lifespan="on", **server_options(limits))
