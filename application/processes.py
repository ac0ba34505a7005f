"""Process managers: follow one application's log and write into another, exactly once.

A process reads the upstream log in order (only the event types it reacts to), decides on
the target application's aggregates, and saves what it decided together with its position
in the upstream log, in one transaction of the target's event store. A crash anywhere
leaves either both or neither, so a restart resumes at the first event not yet acted on and
never acts twice. A write that loses a race with a concurrent command is decided again on
fresh state; a second instance of the same process finds the position already taken and
moves on.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import structlog
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.context import CommandContext, acting_per_event

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 200


@dataclass(frozen=True)
class ProcessMark:
    """Process ``process`` has acted on ``upstream``'s log up to ``position``."""

    process: str
    upstream: str
    position: int


@runtime_checkable
class ProcessStore(Protocol):
    def process_position(self, process: str, upstream: str) -> int: ...

    def advance_process(self, mark: ProcessMark) -> bool: ...


# A reaction: given an upstream event and its metadata, the target aggregates it changed.
Reaction = Callable[[Any, Any], Sequence[Aggregate]]


class LogProcess:
    def __init__(
        self,
        name: str,
        upstream: Application[UUID],
        target: Application[UUID],
        reactions: dict[type, Reaction],
        *,
        actor: str,
        batch_size: int = 100,
    ) -> None:
        if not isinstance(target.recorder, ProcessStore):
            raise TypeError("the target's recorder does not track process positions")
        self.name = name
        self.upstream = upstream
        self.target = target
        self.store: ProcessStore = target.recorder
        self.reactions = reactions
        self.topics = [f"{cls.__module__}:{cls.__qualname__}" for cls in reactions]
        self.actor = actor
        self.batch_size = batch_size
        self.handled = 0

    @property
    def position(self) -> int:
        return self.store.process_position(self.name, self.upstream.name)

    def run_once(self) -> int:
        """Act on every upstream event committed so far; return how many were acted on."""
        total = 0
        while True:
            start = self.position
            # Ids up to the head are all committed (the store commits them in order), so
            # a filtered read up to it passes over nothing that could still appear.
            head = self.upstream.recorder.max_notification_id() or 0
            if head <= start:
                return total
            notes = self.upstream.recorder.select_notifications(
                start, self.batch_size, stop=head, topics=self.topics, inclusive_of_start=False
            )
            for note in notes:
                self._act(note)
            total += len(notes)
            if len(notes) < self.batch_size:
                # Nothing else of interest up to the head: step over the rest.
                self.store.advance_process(ProcessMark(self.name, self.upstream.name, head))
                return total

    def _act(self, note: Any) -> None:
        stored = StoredEvent(note.originator_id, note.originator_version, note.topic, note.state)
        event, meta = self.upstream.mapper.decode(stored)  # type: ignore[attr-defined]
        react = self.reactions[type(event)]
        mark = ProcessMark(self.name, self.upstream.name, note.id)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            changed = [agg for agg in react(event, meta) if agg.pending_events]
            if not changed:
                self.store.advance_process(mark)
                return
            context = CommandContext(
                actor=self.actor,
                channel=meta.channel,
                correlation_id=meta.correlation_id,
                causation_id=meta.event_id.hex,
            )
            contexts = {id(e): context for agg in changed for e in agg.pending_events}
            try:
                with acting_per_event(contexts):
                    self.target.save(*changed, process_mark=mark)
            except IntegrityError:
                if self.position >= note.id:
                    return  # another instance of this process acted on it
                # A concurrent command wrote one of the aggregates: decide again.
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6))))  # noqa: S311
                continue
            self.handled += 1
            return
        raise RuntimeError(f"{self.name}: gave up on position {note.id} after {MAX_ATTEMPTS}")

    def run(self, stop: threading.Event, poll_interval: float = 0.05) -> None:
        """Act until ``stop`` is set; survive database outages by retrying with backoff."""
        backoff = 0.2
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(poll_interval)
                backoff = 0.2
            except Exception:
                log.exception("process.failed", process=self.name, retry_in=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def start(self, poll_interval: float = 0.05) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run, args=(stop, poll_interval), name=f"process-{self.name}", daemon=True
        )
        thread.start()
        return thread, stop
