"""Running a command against one aggregate: load, decide, save, answer — exactly once.

Writers of the same aggregate in this process queue on a lock (no wasted work); writers in
other processes are caught by the event store's optimistic concurrency (the unique
(stream, version) key) and retried on fresh state. A command's answer is recorded with its
events when the caller gave an idempotency key, so a retry returns the first answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from application.context import CommandContext, acting_as
from application.idempotency import (
    IdempotencyKeyReused,
    IdempotencyRecord,
    IdempotencyStore,
    PendingAnswer,
)
from domain.errors import Conflict, NotFound

A = TypeVar("A", bound=Aggregate)

MAX_ATTEMPTS = 200


class WriteContention(Conflict):
    code = "write-contention"
    title = "Too many concurrent writes to the same record; retry"


@dataclass(frozen=True)
class Outcome:
    """What a command answers: the resource's state after it and the log position written."""

    body: dict[str, Any]
    position: int | None  # notification id of the last event written (None: nothing new)
    version: int  # the aggregate's version after the command
    replayed: bool = False  # True when this is the recorded answer to an earlier request


@dataclass(frozen=True)
class Request:
    """A command's who and, for idempotent retries, its key and fingerprint."""

    context: CommandContext = CommandContext()
    idempotency_key: str | None = None
    fingerprint: str = ""
    expected_version: int | None = None  # If-Match


ANONYMOUS = Request()


class VersionMismatch(Conflict):
    code = "version-mismatch"
    title = "The resource changed since the version given in If-Match"


class _Stripes:
    """A fixed set of locks: aggregates hash onto them, so memory stays bounded."""

    def __init__(self, count: int = 256) -> None:
        self._locks = [threading.Lock() for _ in range(count)]

    def __call__(self, aggregate_id: UUID) -> threading.Lock:
        return self._locks[aggregate_id.int % len(self._locks)]


class CommandRunner:
    def __init__(self, app: Application[UUID]) -> None:
        if not isinstance(app.recorder, IdempotencyStore):
            raise TypeError("the application's recorder does not keep idempotency answers")
        self._app = app
        self._store: IdempotencyStore = app.recorder
        self._locks = _Stripes()

    def _scoped_key(self, request: Request) -> str | None:
        if request.idempotency_key is None:
            return None
        return f"{request.context.actor}:{request.idempotency_key}"

    def _replay(self, key: str, request: Request) -> Outcome | None:
        found = self._store.find_answer(key)
        if found is None:
            return None
        if found.fingerprint != request.fingerprint:
            raise IdempotencyKeyReused(
                f"idempotency key {request.idempotency_key!r} was used for a different request",
                idempotency_key=request.idempotency_key,
            )
        return replace(msgspec.json.decode(found.answer, type=Outcome), replayed=True)

    def run(
        self,
        aggregate_id: UUID,
        decide: Callable[[A | None], tuple[A, dict[str, Any]]],
        request: Request,
        missing: Callable[[], NotFound] | None = None,
    ) -> Outcome:
        """Load the aggregate (None if new), let ``decide`` act on it, save, answer.

        ``decide`` returns the aggregate to save and the answer body; it raises a
        DomainError to refuse, and then nothing is written. With ``missing`` set, an
        absent aggregate is that error instead of None.
        """
        key = self._scoped_key(request)
        if key is not None and (earlier := self._replay(key, request)) is not None:
            return earlier
        context = replace(request.context, idempotency_key=request.idempotency_key)
        for attempt in range(MAX_ATTEMPTS):
            with self._locks(aggregate_id):
                aggregate: A | None
                try:
                    aggregate = self._app.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    if missing is not None:
                        raise missing() from None
                    aggregate = None
                if (
                    request.expected_version is not None
                    and (aggregate.version if aggregate else 0) != request.expected_version
                ):
                    raise VersionMismatch(
                        f"expected version {request.expected_version}, "
                        f"found {aggregate.version if aggregate else 0}",
                        expected=request.expected_version,
                        actual=aggregate.version if aggregate else 0,
                    )
                changed, body = decide(aggregate)
                pending = changed.pending_events
                outcome = Outcome(body=body, position=None, version=changed.version)
                try:
                    with acting_as(context):
                        if not pending:
                            self._record_without_events(key, request, outcome)
                            return outcome
                        recordings = self._save(changed, key, request, outcome)
                except IntegrityError:
                    if key is not None and (earlier := self._replay(key, request)) is not None:
                        return earlier
                    # Another process wrote this aggregate first: decide again on fresh state.
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))  # noqa: S311
                    continue
            position = recordings[-1].notification.id if recordings else None
            return replace(outcome, position=position)
        raise WriteContention(
            f"gave up after {MAX_ATTEMPTS} conflicting attempts", attempts=MAX_ATTEMPTS
        )

    def _save(
        self, aggregate: Aggregate, key: str | None, request: Request, outcome: Outcome
    ) -> list[Any]:
        if key is None:
            return self._app.save(aggregate)

        def render(position: int) -> bytes:
            return msgspec.json.encode(replace(outcome, position=position))

        answer = PendingAnswer(key, request.fingerprint, render)
        return self._app.save(aggregate, idempotency=answer)

    def _record_without_events(self, key: str | None, request: Request, outcome: Outcome) -> None:
        if key is None:
            return
        answer = msgspec.json.encode(outcome)
        if not self._store.record_answer(IdempotencyRecord(key, request.fingerprint, answer)):
            raise IntegrityError("idempotency key recorded concurrently")
