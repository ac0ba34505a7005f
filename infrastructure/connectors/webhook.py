"""The webhook connector: POST each event's envelope, signed, to one URL, in order.

A 2xx answer is success. Timeouts, connection errors, 408, 429 and 5xx are retried with the
runtime's backoff; any other 4xx says the receiver will never take this event, so it goes to
the dead letters at once, with the status and the start of the answer as its reason.
Receivers deduplicate by ``Ledgerline-Event-Id``: delivery is at least once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx
import msgspec

from infrastructure.connectors.base import ALL_EVENTS, BaseConnector, Context, PermanentFailure
from infrastructure.connectors.signing import HEADER, sign
from infrastructure.envelope import Envelope

RETRYABLE_4XX = {408, 429}


class DeliveryFailed(Exception):
    """The receiver did not take the event this time."""


async def post_signed(
    client: httpx.AsyncClient,
    url: str,
    secret: str,
    body: bytes,
    event_id: str,
    attempt: int,
    timeout: float,
) -> None:
    """POST ``body``; raise :class:`DeliveryFailed` or :class:`PermanentFailure` unless 2xx."""
    headers = {
        "Content-Type": "application/json",
        HEADER: sign(secret, int(time.time()), body),
        "Ledgerline-Event-Id": event_id,
        "Ledgerline-Attempt": str(attempt),
    }
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as error:
        raise DeliveryFailed(f"timed out after {timeout}s: {type(error).__name__}") from error
    except httpx.TransportError as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}") from error
    if response.is_success:
        return
    detail = f"HTTP {response.status_code} from {url}: {response.text[:200]}"
    if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_4XX:
        raise PermanentFailure(detail)
    raise DeliveryFailed(detail)


class WebhookConnector(BaseConnector):
    def __init__(
        self,
        name: str,
        url: str,
        secret: str,
        subjects: Sequence[str] = ALL_EVENTS,
        timeout: float = 10.0,
    ) -> None:
        if not secret:
            raise ValueError(f"webhook {name} needs a secret to sign with")
        self.name = name
        self.url = url
        self.secret = secret
        self.subjects = subjects
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def handle(self, envelope: Envelope, ctx: Context) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient()
        await post_signed(
            self._client,
            self.url,
            self.secret,
            msgspec.json.encode(envelope),
            envelope.id,
            ctx.attempt,
            self.timeout,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
