"""The operator and auditor console: server-rendered pages under ``/console``.

One Litestar router mounted by the app: its own cookie session (login with an API key), its
own guard, and error pages in place of problem documents. Templates are Jinja2 (autoescaped);
the little JavaScript there is lives in one static file; there is no front-end build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from litestar import Request, Response, Router, get
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp

from api.auth import PUBLIC
from api.console.live import live_feed, live_stock
from api.console.pages import ConsolePages, dashboard, onboarding, onboarding_page
from api.console.session import (
    ConsoleRefused,
    LoginRequired,
    console_guard,
    login,
    login_page,
    logout,
    session_config,
)
from api.problems import status_of
from domain.errors import DomainError

log = structlog.get_logger("ledgerline.console")

HERE = Path(__file__).parent
TEMPLATES = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)
STATIC = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


@get("/static/{name:str}", opt=PUBLIC, include_in_schema=False)
async def static(name: FromPath[str]) -> Response[bytes]:
    """The console's script and style sheet (a fixed list: no path is read from the URL)."""
    if name not in STATIC:
        raise NotFoundException("no such file")
    return Response(
        (HERE / "static" / name).read_bytes(),
        media_type=STATIC[name],
        headers={"cache-control": "no-cache"},
    )


def _to_login(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    if request.url.path.startswith("/console/live/"):  # a stream cannot follow a redirect
        return Response("log in again", status_code=401, media_type="text/plain")
    return Redirect("/console/login", status_code=303)


def _error_page(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    if isinstance(error, DomainError):
        status, title, detail = status_of(error), error.title, error.detail
    elif isinstance(error, HTTPException):
        status, title, detail = error.status_code, "Refused", error.detail
    else:
        status, title, detail = 500, "Internal error", "the console failed; see the logs"
        log.exception("console.error", path=request.url.path)
    if isinstance(error, ValidationException):
        status, title = 400, "Bad request"
    return Template(
        "error.html",
        context={"status": status, "title": title, "detail": detail},
        status_code=status,
    )


def console_router() -> Router:
    """Everything under ``/console``: pages, live streams, login, static files."""
    sessions = session_config().middleware

    # A plain function: Litestar deep-copies a router's middleware list, and the session
    # backend's cipher cannot be copied.
    def session_middleware(app: ASGIApp) -> ASGIApp:
        return sessions(app)

    return Router(
        path="/console",
        route_handlers=[
            login_page,
            login,
            logout,
            static,
            ConsolePages,
            dashboard,
            onboarding_page,
            onboarding,
            live_stock,
            live_feed,
        ],
        guards=[console_guard],
        middleware=[session_middleware],
        exception_handlers={
            LoginRequired: _to_login,
            ConsoleRefused: _error_page,
            DomainError: _error_page,
            HTTPException: _error_page,
            Exception: _error_page,
        },
        include_in_schema=False,
    )
