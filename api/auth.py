"""Authentication and authorisation: every route declares the roles it admits.

A route handler says who may call it with ``opt=admits(...)`` (or ``opt=PUBLIC``). One guard,
installed on the whole app, enforces it and refuses any route that declares nothing, so an
endpoint cannot be left open by forgetting.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Any

import structlog
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler

from application.access import NotCached, Principal
from infrastructure.metrics import AUTH_REFUSALS

log = structlog.get_logger("ledgerline.auth")

ROLE_KINDS = frozenset({"admin", "operator", "auditor", "channel", "connector"})
PUBLIC: dict[str, Any] = {"public": True}
# Served by Litestar itself, not by our handlers: the OpenAPI document is public.
PUBLIC_PATH_PREFIXES = ("/schema",)


def admits(*kinds: str) -> dict[str, Any]:
    """Route option naming the role kinds that may call it.

    ``channel`` admits a channel key only for its own channel: on a route with a
    ``{channel}`` path parameter the guard compares them; elsewhere the handler takes the
    channel from the key and never from the request.
    """
    unknown = set(kinds) - ROLE_KINDS
    if not kinds or unknown:
        raise ValueError(f"admits() takes role kinds from {sorted(ROLE_KINDS)}, got {kinds}")
    return {"roles": frozenset(kinds)}


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = connection.scope["state"]["principal"]
    return principal


def _refuse(reason: str, connection: ASGIConnection[Any, Any, Any, Any], **facts: Any) -> None:
    AUTH_REFUSALS.labels(reason).inc()
    # Never log the token itself; the key id is not a secret.
    log.warning(
        "auth.refused",
        reason=reason,
        method=connection.scope.get("method"),
        path=connection.url.path,
        **facts,
    )


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("public") or connection.url.path.startswith(PUBLIC_PATH_PREFIXES):
        return
    if handler.opt.get("session"):  # console pages: their own guard checks the login session
        return
    allowed: frozenset[str] | None = handler.opt.get("roles")
    if not allowed:
        _refuse("undeclared", connection, handler=str(handler))
        raise PermissionDeniedException("this route declares no roles, so nobody may call it")
    services = connection.app.state["services"]
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="ledgerline"'}
    if scheme.lower() != "bearer" or not token.strip():
        _refuse("missing", connection)
        raise NotAuthorizedException("send 'Authorization: Bearer <api key>'", headers=challenge)
    found = services.access.authenticate_cached(token.strip(), datetime.now(UTC))
    principal: Principal | None
    if isinstance(found, NotCached):  # the key is read from the event store, off the loop
        principal = await asyncio.to_thread(
            services.access.authenticate, token.strip(), datetime.now(UTC)
        )
    else:
        principal = found
    if principal is None:
        _refuse("invalid", connection)
        raise NotAuthorizedException(
            "the API key is unknown, revoked or expired", headers=challenge
        )
    wait = services.rate_limiter.take(principal.key_id)
    if wait > 0:
        _refuse("rate_limited", connection, key_id=principal.key_id)
        raise TooManyRequestsException(
            "too many requests for this key", headers={"Retry-After": str(math.ceil(wait))}
        )
    if not _admitted(principal, allowed, connection.path_params.get("channel")):
        _refuse("denied", connection, key_id=principal.key_id)
        raise PermissionDeniedException("this key's roles do not allow this request")
    connection.scope["state"]["principal"] = principal
    structlog.contextvars.bind_contextvars(key_id=principal.key_id)


def _admitted(principal: Principal, allowed: frozenset[str], path_channel: str | None) -> bool:
    for role in principal.roles:
        if role.kind not in allowed:
            continue
        if role.kind == "channel" and path_channel is not None and role.scope != path_channel:
            continue
        return True
    return False
