"""The one path every write takes: strict body, command context, idempotency, answer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, TypeVar

from litestar import Request, Response

from api.auth import principal_of
from api.schemas import Strict, decode_strict
from application.access import Principal
from application.commands import Outcome
from application.commands import Request as CommandRequest
from application.context import CommandContext
from application.idempotency import fingerprint
from domain.errors import DomainError
from infrastructure.metrics import COMMANDS

T = TypeVar("T", bound=Strict)

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_IF_MATCH = re.compile(r'^(?:W/)?"(\d{1,18})"$')


class BadRequest(DomainError):
    code = "invalid-request"
    title = "Invalid request"


class OtherChannel(DomainError):
    """A channel key named another channel: refused before anything is looked up."""

    code = "forbidden"
    title = "Forbidden"


def acting_channel(request: Request[Any, Any, Any], named: str | None) -> str | None:
    """The channel a command acts for: a channel key's own, whatever the body says."""
    own = principal_of(request).channel
    if own is None:
        return named
    if named is not None and named != own:
        raise OtherChannel(f"this key acts for channel {own!r} only", channel=named)
    return own


def command_request(request: Request[Any, Any, Any], raw: bytes) -> CommandRequest:
    state = request.scope.get("state", {})
    key = request.headers.get("idempotency-key")
    if key is not None and not _KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1-200 visible ASCII characters")
    expected: int | None = None
    if (if_match := request.headers.get("if-match")) is not None:
        found = _IF_MATCH.match(if_match.strip())
        if found is None:
            raise BadRequest('If-Match must be an entity tag like "3"')
        expected = int(found.group(1))
    principal: Principal = state["principal"]
    context = CommandContext(
        actor=principal.key_id,
        channel=principal.channel,
        correlation_id=state.get("correlation_id"),
        causation_id=state.get("request_id"),
    )
    return CommandRequest(
        context=context,
        idempotency_key=key,
        fingerprint=fingerprint(request.method, request.url.path, raw),
        expected_version=expected,
    )


async def execute(
    request: Request[Any, Any, Any],
    name: str,
    model: type[T] | None,
    command: Callable[[Any, CommandRequest], Outcome],
    status: int = 200,
) -> Response[Any]:
    raw = await request.body()
    # Malformed or mistyped bodies raise msgspec errors: 400 problems (api.problems).
    payload = decode_strict(raw, model) if model is not None else None
    try:
        outcome = await asyncio.to_thread(command, payload, command_request(request, raw))
    except DomainError as error:
        COMMANDS.labels(name, error.code).inc()
        raise
    return respond(name, outcome, status)


def respond(
    name: str, outcome: Outcome, status: int, extra: dict[str, Any] | None = None
) -> Response[Any]:
    """A command's answer: its body (plus ``extra``), ETag, log position, replay mark."""
    COMMANDS.labels(name, "replayed" if outcome.replayed else "ok").inc()
    headers = {"etag": f'"{outcome.version}"'}
    if outcome.position is not None:
        headers["ledgerline-position"] = str(outcome.position)
    if outcome.replayed:
        headers["idempotent-replayed"] = "true"
    return Response({**outcome.body, **(extra or {})}, status_code=status, headers=headers)
