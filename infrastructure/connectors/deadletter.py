"""The dead letters: events a connector gave up on, kept in a JetStream stream of their own.

A dead letter carries the whole original envelope, so it can be inspected and re-sent
without the event store; its ``Nats-Msg-Id`` makes a repeated give-up (after a crash) one
message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from infrastructure.envelope import DEADLETTER_PREFIX, DEADLETTER_STREAM, DeadLetter, Envelope
from infrastructure.messaging import replicas

# Dead letters wait for a person; a month is time enough to notice and act.
RETENTION = timedelta(days=30)


def subject(connector: str) -> str:
    return f"{DEADLETTER_PREFIX}.{connector}"


async def ensure_stream(js: JetStreamContext) -> None:
    config = StreamConfig(
        name=DEADLETTER_STREAM,
        subjects=[f"{DEADLETTER_PREFIX}.>"],
        storage=StorageType.FILE,
        max_age=RETENTION.total_seconds(),
        duplicate_window=timedelta(minutes=10).total_seconds(),
        num_replicas=replicas(),
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def publish(
    js: JetStreamContext,
    connector: str,
    envelope: Envelope,
    *,
    reason: str,
    attempts: int,
    stream_sequence: int | None,
) -> None:
    letter = DeadLetter(
        connector=connector,
        reason=reason,
        attempts=attempts,
        failed_at=datetime.now(UTC),
        stream_sequence=stream_sequence,
        envelope=envelope,
    )
    await js.publish(
        subject(connector),
        msgspec.json.encode(letter),
        headers={
            "Nats-Msg-Id": f"{connector}:{envelope.id}",
            "Ledgerline-Failure-Reason": reason[:500].replace("\r", " ").replace("\n", " "),
            "Ledgerline-Attempts": str(attempts),
        },
    )
