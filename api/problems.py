"""RFC 9457 problem details: every error leaves as application/problem+json with a stable type."""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from domain.errors import Conflict, DomainError, InvalidValue, NotFound

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:ledgerline:problem:"

log = structlog.get_logger(__name__)

_HTTP_TYPES = {
    400: "invalid-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    408: "request-timeout",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    request: Request[Any, Any, Any] | None,
    **extensions: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = request.scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
    body.update({k: v for k, v in extensions.items() if k not in body})
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


def status_of(error: DomainError) -> int:
    if error.code == "forbidden":
        return 403
    if error.code == "invalid-request":
        return 400
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, InvalidValue):
        return 422
    if isinstance(error, Conflict):
        return 409
    return 422


# RFC 9457's own members: a domain fact of the same name must not overwrite them.
RESERVED = frozenset({"type", "title", "status", "detail", "instance", "slug", "request"})


def domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    facts = {(f"fact_{k}" if k in RESERVED else k): v for k, v in error.facts.items()}
    return problem(status_of(error), error.code, error.title, error.detail, request, **facts)


def http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    status = error.status_code
    slug = _HTTP_TYPES.get(status, "http-error")
    extensions: dict[str, Any] = {}
    if isinstance(error, ValidationException) and error.extra:
        extensions["errors"] = error.extra
    if status >= 500:
        log.error("http.server_error", status=status, detail=error.detail)
    response = problem(
        status, slug, slug.replace("-", " ").capitalize(), error.detail, request, **extensions
    )
    if error.headers:  # WWW-Authenticate, Retry-After, ...
        response.headers.update(error.headers)
    return response


def unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    log.exception("http.unhandled", error_type=type(error).__name__)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal error",
        "the server failed to handle this request; it is logged",
        request,
    )


def invalid_body(request: Request[Any, Any, Any], error: msgspec.MsgspecError) -> Response[Any]:
    return problem(400, "invalid-request", "Invalid request", str(error), request)


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    msgspec.MsgspecError: invalid_body,
    DomainError: domain_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
