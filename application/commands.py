"""Running a command against one aggregate: load, decide, save, answer — exactly once.

Writers of the same aggregate in this process queue on a lock (no wasted work); writers in
other processes are caught by the event store's optimistic concurrency (the unique
(stream, version) key) and retried on fresh state. A command's answer is recorded with its
events when the caller gave an idempotency key, so a retry returns the first answer.

Saves are grouped twice: the commands queued for one aggregate are decided and saved as one
batch (decision 8), and the batches of different aggregates decided while a save is in
flight are saved together in the next transaction (``GroupCommit``, decision 16).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from application.context import CommandContext, acting_per_event
from application.idempotency import (
    IdempotencyKeyReused,
    IdempotencyRecord,
    IdempotencyStore,
    PendingAnswer,
)
from domain.errors import Conflict, DomainError, NotFound

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


class CommandRunner:
    def __init__(self, app: Application[UUID]) -> None:
        if not isinstance(app.recorder, IdempotencyStore):
            raise TypeError("the application's recorder does not keep idempotency answers")
        self._app = app
        self._store: IdempotencyStore = app.recorder
        self._lanes: dict[UUID, _Lane] = {}
        self._lanes_lock = threading.Lock()
        self._group = GroupCommit(app)

    def scoped_key(self, request: Request) -> str | None:
        """The key an answer is recorded under: the client's key, scoped by its actor."""
        return self._scoped_key(request)

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

    def replay(self, request: Request) -> Outcome | None:
        """The recorded answer to an earlier request with this key, if there is one."""
        key = self._scoped_key(request)
        return None if key is None else self._replay(key, request)

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

        Commands for one aggregate queue up. The first caller leads: it loads the aggregate
        once, decides a batch of queued commands one after another, saves all their events
        in one transaction, answers each caller, and hands the lead to the next waiting one.
        """
        key = self._scoped_key(request)
        if key is not None and (earlier := self._replay(key, request)) is not None:
            return earlier
        job = _Job(decide, request, key, missing)
        with self._lanes_lock:
            lane = self._lanes.setdefault(aggregate_id, _Lane())
            lane.jobs.append(job)
            leading = not lane.busy
            lane.busy = True
        if not leading:
            job.wake.wait()
        if job.lead or leading:
            self._lead(aggregate_id, lane)
        return job.result()

    def _lead(self, aggregate_id: UUID, lane: _Lane) -> None:
        # The leader's own job is first in the lane: its batch includes it.
        with self._lanes_lock:
            batch = [lane.jobs.popleft() for _ in range(min(MAX_BATCH, len(lane.jobs)))]
        try:
            self._execute(aggregate_id, batch)
        except BaseException as error:  # no caller may wait forever
            for job in batch:
                job.fail(error)
            raise
        finally:
            with self._lanes_lock:
                if lane.jobs:
                    lane.jobs[0].lead = True
                    lane.jobs[0].wake.set()
                else:
                    lane.busy = False
                    del self._lanes[aggregate_id]

    def _execute(self, aggregate_id: UUID, batch: list[_Job]) -> None:
        conflicts = 0
        while open_jobs := [job for job in batch if not job.finished]:
            if self._attempt(aggregate_id, open_jobs):
                continue  # saved; jobs left open (repeats of a key) go in the next round
            conflicts += 1
            if conflicts >= MAX_ATTEMPTS:
                for job in open_jobs:
                    job.fail(
                        WriteContention(
                            f"gave up after {MAX_ATTEMPTS} conflicting attempts",
                            attempts=MAX_ATTEMPTS,
                        )
                    )
                return
            # Another process wrote this aggregate first: decide again on fresh state.
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(conflicts, 6))))  # noqa: S311

    def _attempt(self, aggregate_id: UUID, jobs: list[_Job]) -> bool:
        """Decide ``jobs`` in order on the current aggregate and save them together.

        Returns False when the save lost a race and the open jobs must be decided again.
        """
        current: Any
        try:
            current = self._app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            current = None
        accepted: list[tuple[_Job, Outcome, int | None]] = []  # job, outcome, last event index
        contexts: dict[int, CommandContext] = {}
        keys_in_batch: set[str] = set()
        for job in jobs:
            if job.key is not None:
                if job.key in keys_in_batch:
                    job.deferred = True  # a repeat of a request in this batch: next round
                    continue
                keys_in_batch.add(job.key)
                if job.deferred:  # its twin may have been answered meanwhile
                    try:
                        earlier = self._replay(job.key, job.request)
                    except DomainError as error:
                        job.fail(error)
                        continue
                    if earlier is not None:
                        job.succeed(earlier)
                        continue
            version = current.version if current is not None else 0
            expected = job.request.expected_version
            if expected is not None and version != expected:
                job.fail(
                    VersionMismatch(
                        f"expected version {expected}, found {version}",
                        expected=expected,
                        actual=version,
                    )
                )
                continue
            if current is None and job.missing is not None:
                job.fail(job.missing())
                continue
            before = len(current.pending_events) if current is not None else 0
            try:
                changed, body = job.decide(current)
            except Exception as error:
                job.fail(error)
                if current is not None and len(current.pending_events) != before:
                    return False  # a refused command left events behind: start afresh
                continue
            current = changed
            events = changed.pending_events[before:]
            context = replace(job.request.context, idempotency_key=job.request.idempotency_key)
            for event in events:
                contexts[id(event)] = context
            last = len(changed.pending_events) - 1 if events else None
            accepted.append((job, Outcome(body=body, position=None, version=changed.version), last))
        if not accepted:
            return True
        try:
            positions = self._save(current, accepted, contexts)
        except IntegrityError:
            for job, _, _ in accepted:
                if job.key is not None and (earlier := self._replay(job.key, job.request)):
                    job.succeed(earlier)
            return False
        for (job, outcome, last), position in zip(accepted, positions, strict=True):
            job.succeed(replace(outcome, position=position if last is not None else None))
        return True

    def _save(
        self,
        aggregate: Any,
        accepted: list[tuple[_Job, Outcome, int | None]],
        contexts: dict[int, CommandContext],
    ) -> list[int | None]:
        """Save the batch's events and keyed answers in one transaction; each job's position."""
        if not aggregate.pending_events:
            for job, outcome, _ in accepted:
                self._record_without_events(job.key, job.request, outcome)
            return [None] * len(accepted)

        def renderer(outcome: Outcome) -> Callable[[int | None], bytes]:
            return lambda position: msgspec.json.encode(replace(outcome, position=position))

        answers = [
            PendingAnswer(job.key, job.request.fingerprint, renderer(outcome), last)
            for job, outcome, last in accepted
            if job.key is not None
        ]
        ids = self._group.save(aggregate, answers, contexts)
        return [ids[last] if last is not None else None for _, _, last in accepted]

    def _record_without_events(self, key: str | None, request: Request, outcome: Outcome) -> None:
        if key is None:
            return
        answer = msgspec.json.encode(outcome)
        if not self._store.record_answer(IdempotencyRecord(key, request.fingerprint, answer)):
            raise IntegrityError("idempotency key recorded concurrently")


MAX_BATCH = 100
MAX_GROUP = 64  # lane batches saved in one transaction, at most


@dataclass
class _Save:
    """One lane's decided batch, waiting for the group's transaction."""

    aggregate: Any
    answers: list[PendingAnswer]
    contexts: dict[int, CommandContext]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to commit for the group rather than with a result
    ids: list[int] | None = None
    error: BaseException | None = None


class GroupCommit:
    """Saves the decided batches of different aggregates of one application together.

    The event store takes an exclusive table lock per insert, so its saves are serialised
    anyway. While one is in flight, the batches decided meanwhile queue here; the caller
    that finds no save in flight commits everything queued in one transaction, answers
    each waiting caller only after that commit, and hands on to the next waiting one.
    If the shared save fails, each batch is saved on its own, so one batch's failure (a
    lost race, a key recorded by another process) reaches that batch's callers only.
    """

    def __init__(self, app: Application[UUID]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._queue: deque[_Save] = deque()
        self._busy = False

    def save(
        self,
        aggregate: Any,
        answers: list[PendingAnswer],
        contexts: dict[int, CommandContext],
    ) -> list[int]:
        """Save ``aggregate``'s pending events and ``answers``; the events' log positions."""
        mine = _Save(aggregate, answers, contexts)
        with self._lock:
            self._queue.append(mine)
            leading = not self._busy
            self._busy = True
        if not leading:
            mine.done.wait()
        if mine.lead or leading:
            self._commit()
        if mine.error is not None:
            raise mine.error
        assert mine.ids is not None
        return mine.ids

    def _commit(self) -> None:
        with self._lock:
            group = [self._queue.popleft() for _ in range(min(MAX_GROUP, len(self._queue)))]
        try:
            if len(group) == 1 or not self._together(group):
                for item in group:
                    self._alone(item)
        finally:
            for item in group:
                if item.ids is None and item.error is None:
                    item.error = RuntimeError("the group's save was interrupted")
                item.done.set()
            with self._lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._busy = False

    def _together(self, group: list[_Save]) -> bool:
        """Save ``group`` in one transaction; False (nothing written) if that failed."""
        pending = [list(item.aggregate.pending_events) for item in group]
        answers: list[PendingAnswer] = []
        contexts: dict[int, CommandContext] = {}
        offset = 0
        for item, events in zip(group, pending, strict=True):
            answers += [
                replace(a, event_index=None if a.event_index is None else a.event_index + offset)
                for a in item.answers
            ]
            contexts.update(item.contexts)
            offset += len(events)
        try:
            with acting_per_event(contexts):
                recordings = self._app.save(
                    *(item.aggregate for item in group), idempotency=answers
                )
        except Exception:
            # One transaction: nothing was written. Give each its events back, save alone.
            for item, events in zip(group, pending, strict=True):
                item.aggregate.pending_events[:] = events
            return False
        ids = [recording.notification.id for recording in recordings]
        offset = 0
        for item, events in zip(group, pending, strict=True):
            item.ids = ids[offset : offset + len(events)]
            offset += len(events)
        return True

    def _alone(self, item: _Save) -> None:
        try:
            with acting_per_event(item.contexts):
                recordings = self._app.save(item.aggregate, idempotency=item.answers)
            item.ids = [recording.notification.id for recording in recordings]
        except BaseException as error:  # the caller's own thread raises it
            item.error = error


@dataclass
class _Job:
    decide: Callable[[Any], tuple[Any, dict[str, Any]]]
    request: Request
    key: str | None
    missing: Callable[[], NotFound] | None
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to lead the lane rather than with an answer
    deferred: bool = False  # held back as a repeat of another request in its batch
    finished: bool = False
    outcome: Outcome | None = None
    error: BaseException | None = None

    def succeed(self, outcome: Outcome) -> None:
        if not self.finished:
            self.outcome, self.finished = outcome, True
            self.wake.set()

    def fail(self, error: BaseException) -> None:
        if not self.finished:
            self.error, self.finished = error, True
            self.wake.set()

    def result(self) -> Outcome:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


@dataclass
class _Lane:
    """The commands waiting for one aggregate, and whether a leader is working on them."""

    jobs: deque[_Job] = field(default_factory=deque)
    busy: bool = False
