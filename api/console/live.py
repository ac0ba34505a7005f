"""Server-sent events for the console, fed from NATS (the relay's published events).

A page subscribes to the subjects it cares about on the API's own NATS connection. An
event on NATS can arrive before the read model has applied it, so the stock stream waits
until the ATP read model's position has reached the event's before it reads the figures
again: what the page shows is then never older than the event that triggered it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import structlog
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.console.session import READERS, console_roles
from api.services import Services
from domain.identity import check_code, stream_id
from infrastructure.envelope import SUBJECT_PREFIX

log = structlog.get_logger("ledgerline.console.live")

# A comment line this often lets the server notice a browser that went away.
KEEPALIVE_SECONDS = 10.0
# How long to wait for the read model to reach an event's position before showing anyway.
CATCH_UP_SECONDS = 5.0
FEED_QUEUE = 1000


async def _subscribe(services: Services, subject: str) -> tuple[Any, asyncio.Queue[bytes]]:
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=FEED_QUEUE)

    async def on_message(message: Any) -> None:
        if queue.full():  # a slow browser loses the oldest lines, not the server's memory
            queue.get_nowait()
        queue.put_nowait(message.data)

    subscription = await services.nats.subscribe(subject, cb=on_message)
    return subscription, queue


async def _next(queue: asyncio.Queue[bytes]) -> bytes | None:
    try:
        return await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
    except TimeoutError:
        return None


async def _caught_up(services: Services, position: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CATCH_UP_SECONDS
    while loop.time() < deadline:
        async with services.read_pool.connection() as conn:
            if await services.queries.position(conn) >= position:
                return
        await asyncio.sleep(0.05)


def _render(request: Request[Any, Any, Any], template: str, **context: Any) -> str:
    engine = request.app.template_engine
    assert engine is not None
    return str(engine.get_template(template).render(**context))


@get("/live/stock/{sku:str}", opt=console_roles(*READERS), include_in_schema=False)
async def live_stock(
    request: Request[Any, Any, Any], sku: FromPath[str], services: NamedDependency[Services]
) -> ServerSentEvent:
    """The SKU's stock tables, sent again after every inventory event that concerns it."""
    check_code(sku, "sku")
    sku_stream = str(stream_id("sku", sku))

    async def stream() -> AsyncIterator[ServerSentEventMessage]:
        if services.nats is None:
            yield ServerSentEventMessage(event="unavailable", data="NATS is not reachable")
            return
        subscription, queue = await _subscribe(services, f"{SUBJECT_PREFIX}.>")
        try:
            yield ServerSentEventMessage(event="ready", data="subscribed")
            while True:
                raw = await _next(queue)
                if raw is None:
                    yield ServerSentEventMessage(comment="keepalive")
                    continue
                envelope = json.loads(raw)
                if envelope.get("log") != "inventory":
                    continue
                # Another SKU's event changes nothing here; channel and location events
                # (their own stream types) change which stock feeds a channel.
                if envelope.get("stream_type") == "inventory" and (
                    envelope.get("stream_id") != sku_stream
                ):
                    continue
                await _caught_up(services, int(envelope.get("position", 0)))
                async with services.read_pool.connection() as conn:
                    picture = await services.queries.stock_picture(conn, sku)
                if picture is None:
                    continue
                html = _render(request, "stock_tables.html", stock=picture)
                yield ServerSentEventMessage(event="stock", data=html, id=picture["position"])
        finally:
            await subscription.unsubscribe()

    return ServerSentEvent(stream())


@get("/live/feed", opt=console_roles(*READERS), include_in_schema=False)
async def live_feed(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> ServerSentEvent:
    """Every published event, as one table row each."""

    async def stream() -> AsyncIterator[ServerSentEventMessage]:
        if services.nats is None:
            yield ServerSentEventMessage(event="unavailable", data="NATS is not reachable")
            return
        subscription, queue = await _subscribe(services, f"{SUBJECT_PREFIX}.>")
        try:
            yield ServerSentEventMessage(event="ready", data="subscribed")
            while True:
                raw = await _next(queue)
                if raw is None:
                    yield ServerSentEventMessage(comment="keepalive")
                    continue
                envelope = json.loads(raw)
                html = _render(request, "feed_row.html", event=envelope)
                yield ServerSentEventMessage(event="event", data=html)
        finally:
            await subscription.unsubscribe()

    return ServerSentEvent(stream())
