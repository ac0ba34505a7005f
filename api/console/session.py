"""Console login: an API key, once, buys an encrypted cookie session; forms carry a CSRF token.

The cookie (Litestar's client-side session: AES-GCM, HttpOnly, SameSite=Strict) holds the key
itself, so every page re-checks it exactly as the API does: a revoked or expired key logs the
console out at once. Pages declare the role kinds they admit with :func:`console_roles`; the
API's bearer guard leaves them to :func:`console_guard`. Channel and connector keys are
refused: the console shows every channel's data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import os
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.params import Body
from litestar.response import Redirect, Template

from api.auth import PUBLIC
from api.services import Services
from application.access import Principal
from infrastructure.metrics import AUTH_REFUSALS

log = structlog.get_logger("ledgerline.console")

CONSOLE_KINDS = frozenset({"admin", "operator", "auditor"})
WRITERS = frozenset({"admin", "operator"})
READERS = CONSOLE_KINDS
AUDITORS = frozenset({"admin", "auditor"})


class LoginRequired(NotAuthorizedException):
    """No session, or its key no longer works: the console answers with the login page."""


class ConsoleRefused(PermissionDeniedException):
    """A logged-in key whose roles do not admit this page."""


def console_roles(*kinds: str) -> dict[str, Any]:
    """Route option: a console page admitting these role kinds (checked by the session)."""
    unknown = set(kinds) - CONSOLE_KINDS
    if not kinds or unknown:
        raise ValueError(f"console pages admit {sorted(CONSOLE_KINDS)}, got {kinds}")
    return {"session": True, "roles": frozenset(kinds)}


def session_secret() -> bytes:
    """``LEDGERLINE_CONSOLE_SECRET`` (32 bytes, hex or base64); else a secret of this process
    only, so a login lasts until the process restarts and is not shared between processes."""
    configured = os.environ.get("LEDGERLINE_CONSOLE_SECRET", "").strip()
    if not configured:
        return secrets.token_bytes(32)
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            value = decode(configured)
        except (ValueError, binascii.Error):
            continue
        if len(value) == 32:
            return value
    raise ValueError("LEDGERLINE_CONSOLE_SECRET must be 32 bytes, hex or base64")


def session_config() -> CookieBackendConfig:
    return CookieBackendConfig(
        secret=session_secret(),
        key="ledgerline_console",
        path="/console",
        max_age=8 * 3600,
        httponly=True,
        samesite="strict",
        # Plain http on localhost in development; behind TLS set LEDGERLINE_CONSOLE_SECURE=1.
        secure=os.environ.get("LEDGERLINE_CONSOLE_SECURE") == "1",
    )


async def _principal(services: Services, token: str) -> Principal | None:
    found = services.access.authenticate_cached(token, datetime.now(UTC))
    if found is None or isinstance(found, Principal):
        return found
    return await asyncio.to_thread(services.access.authenticate, token, datetime.now(UTC))


def kinds_of(principal: Principal) -> frozenset[str]:
    return frozenset(role.kind for role in principal.roles)


async def console_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    allowed: frozenset[str] | None = handler.opt.get("roles")
    if handler.opt.get("public"):
        return
    if not handler.opt.get("session") or not allowed:
        raise ConsoleRefused("this console page declares no roles, so nobody may open it")
    token = connection.session.get("token") if connection.scope.get("session") else None
    services: Services = connection.app.state["services"]
    principal = await _principal(services, token) if isinstance(token, str) else None
    if principal is None:
        AUTH_REFUSALS.labels("console_login").inc()
        raise LoginRequired("log in with an API key")
    if not kinds_of(principal) & allowed:
        AUTH_REFUSALS.labels("denied").inc()
        log.warning("console.refused", key_id=principal.key_id, path=connection.url.path)
        raise ConsoleRefused("this key's roles do not allow this page")
    connection.scope["state"]["principal"] = principal
    structlog.contextvars.bind_contextvars(key_id=principal.key_id)


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The session's CSRF token (made on first use); every console form posts it back."""
    token = request.session.get("csrf") if request.scope.get("session") else None
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.set_session(
            {**(request.session if request.scope.get("session") else {}), "csrf": token}
        )
    return token


def check_csrf(request: Request[Any, Any, Any], form: dict[str, Any]) -> None:
    expected = request.session.get("csrf") if request.scope.get("session") else None
    sent = form.get("csrf")
    if not (isinstance(expected, str) and isinstance(sent, str)) or not hmac.compare_digest(
        expected.encode(), sent.encode()
    ):
        AUTH_REFUSALS.labels("csrf").inc()
        raise ConsoleRefused("the form's CSRF token is missing or stale: reload the page")


def page_context(request: Request[Any, Any, Any], **values: Any) -> dict[str, Any]:
    """What every page template gets: who is logged in, whether they may write, the CSRF."""
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    kinds = kinds_of(principal) if principal else frozenset()
    return {
        "who": principal.name if principal else None,
        "roles": sorted(kinds),
        "can_write": bool(kinds & WRITERS),
        "can_audit": bool(kinds & AUDITORS),
        "csrf": csrf_token(request),
        **values,
    }


Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/login", opt=PUBLIC, name="console-login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any]) -> Template:
    """The login form."""
    return Template("login.html", context={"csrf": csrf_token(request), "error": None})


@post("/login", opt=PUBLIC, include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any], data: Form) -> Response[Any]:
    """Check the key; a console role logs in, anything else stays on the form."""
    check_csrf(request, data)
    token = str(data.get("api_key", "")).strip()
    services: Services = request.app.state["services"]
    principal = await _principal(services, token) if token else None
    error = None
    if principal is None:
        AUTH_REFUSALS.labels("invalid").inc()
        error, status = "That API key is unknown, revoked or expired.", 401
    elif not kinds_of(principal) & CONSOLE_KINDS:
        AUTH_REFUSALS.labels("denied").inc()
        error, status = "Channel and connector keys cannot use the console.", 403
    if error is not None:
        return Template(
            "login.html",
            context={"csrf": csrf_token(request), "error": error},
            status_code=status,
        )
    assert principal is not None
    # A fresh CSRF token per login: one seen before logging in is worth nothing after.
    request.set_session({"token": token, "csrf": secrets.token_urlsafe(32)})
    log.info("console.login", key_id=principal.key_id)
    return Redirect("/console", status_code=303)


@post("/logout", opt=console_roles(*READERS), include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any], data: Form) -> Redirect:
    """End the session."""
    check_csrf(request, data)
    request.clear_session()
    return Redirect("/console/login", status_code=303)
