"""Every request body is read once, within a deadline, and checked before anything decodes it.

A client that sends its headers and then trickles (or stops sending) its body would hold a
request open for as long as it liked: the body must arrive within ``timeout`` seconds of the
request head, or the answer is 408 and the connection is closed. Litestar decodes a JSON
body into untyped values before converting it to the handler's type, and that decoder
recurses: ``[[[[...]]]]`` thousands deep was a RecursionError, a 500. The nesting limit
(`api.limits`) is checked here, on the raw bytes, first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from api.limits import check_depth
from api.middleware import header

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def body_guard_middleware(app: ASGIApp, timeout: float = 30.0) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") not in _WITH_BODY:
            await app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + timeout

        async def receive_in_time() -> ReceiveMessage:
            left = deadline - asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(max(left, 0.0)):
                    return await receive()
            except TimeoutError:
                raise ClientException(
                    status_code=408,
                    detail=f"the request body must arrive within {timeout:g} s",
                    headers={"connection": "close"},
                ) from None

        # Litestar keeps the body in the scope: handlers and extractors read this copy.
        raw = await Request[Any, Any, Any](scope, receive_in_time).body()
        # Only JSON is decoded recursively; in CSV files and forms a bracket is a character.
        content_type = (header(scope, b"content-type") or "").lower()
        if not content_type or "json" in content_type:
            check_depth(raw)
        await app(scope, receive, send)

    return middleware
