"""What ``verify`` reports: findings, per-log results, and how a finding is worded.

Each finding names the first event it concerns (log, notification id, stream, version) and
what is wrong. Events whose data does not match their hash are classified at the end of a
log's walk: data that belongs in another suspect's slot means reordered (swapped), anything
else altered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple
from uuid import UUID

from infrastructure.audit.chain import event_hash

DATA_ALTERED = "data altered"
EVENT_MISSING = "event missing"
EVENTS_REORDERED = "events reordered"
HASH_MISSING = "hash missing"
CHAIN_BROKEN = "chain broken"
CHECKPOINT_MISMATCH = "checkpoint mismatch"
BAD_SIGNATURE = "bad signature"

MAX_FINDINGS = 100  # per log and problem; the rest are counted


@dataclass(frozen=True)
class Finding:
    """One thing wrong, named by the first event it concerns."""

    log: str
    problem: str
    notification_id: int | None
    stream_id: UUID | None
    version: int | None
    detail: str

    def line(self) -> str:
        where = f"{self.log} #{self.notification_id}" if self.notification_id else self.log
        stream = f" stream {self.stream_id} v{self.version}" if self.stream_id else ""
        return f"{where}{stream}: {self.problem}: {self.detail}"


@dataclass
class LogResult:
    log: str
    events: int = 0
    checkpoints: int = 0
    seconds: float = 0.0


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    logs: list[LogResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def events(self) -> int:
        return sum(result.events for result in self.logs)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Findings:
    """Findings of one log, at most ``MAX_FINDINGS`` per problem (the rest counted)."""

    def __init__(self, log: str) -> None:
        self.log = log
        self.kept: list[Finding] = []
        self.counts: dict[str, int] = {}

    def add(self, finding: Finding) -> None:
        count = self.counts.get(finding.problem, 0) + 1
        self.counts[finding.problem] = count
        if count <= MAX_FINDINGS:
            self.kept.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        for finding in findings:
            self.add(finding)

    def all(self) -> list[Finding]:
        found = sorted(self.kept, key=lambda f: (f.notification_id or 0, f.problem))
        for problem, count in sorted(self.counts.items()):
            if count > MAX_FINDINGS:
                found.append(
                    Finding(
                        self.log,
                        problem,
                        None,
                        None,
                        None,
                        f"{count - MAX_FINDINGS} more not listed",
                    )
                )
        return found


class Event(NamedTuple):
    notification_id: int
    stream: UUID
    version: int
    topic: str
    state: bytes


class HashRow(NamedTuple):
    notification_id: int
    stream: UUID
    version: int
    prev_hash: bytes
    hash: bytes
    log_hash: bytes


def log_link(name: str, row: HashRow, previous: int) -> Finding:
    """The stored log chain does not continue at ``row``: say what most likely happened."""
    if row.notification_id > previous + 1:
        gap = span(list(range(previous + 1, row.notification_id)))
        return Finding(
            name,
            EVENT_MISSING,
            row.notification_id,
            row.stream,
            row.version,
            f"the log chain does not continue here: events #{gap} before it were deleted "
            "together with their hash rows, or events were reordered",
        )
    return Finding(
        name,
        CHAIN_BROKEN,
        row.notification_id,
        row.stream,
        row.version,
        "the stored log chain does not continue here: events were reordered, or this "
        "event's hash was rewritten",
    )


def span(versions: list[int]) -> str:
    return str(versions[0]) if len(versions) == 1 else f"{versions[0]}..{versions[-1]}"


def unhashed(name: str, event: Event) -> Finding:
    return Finding(
        name,
        HASH_MISSING,
        event.notification_id,
        event.stream,
        event.version,
        "the event has no hash row: written around the recorder, or its hash row was deleted",
    )


def gone(name: str, row: HashRow) -> Finding:
    return Finding(
        name,
        EVENT_MISSING,
        row.notification_id,
        row.stream,
        row.version,
        "a hash row remains for an event that is no longer stored",
    )


def altered(name: str, event: Event, row: HashRow) -> Finding:
    if (event.stream, event.version) != (row.stream, row.version):
        detail = (
            f"this position was hashed for stream {row.stream} v{row.version}, "
            "not for the event stored here"
        )
    else:
        detail = "the stored data no longer matches its hash"
    return Finding(name, DATA_ALTERED, event.notification_id, event.stream, event.version, detail)


def _fits(row: HashRow, data: Event, name: str) -> bool:
    """Whether ``data``'s topic and state are what ``row`` was hashed over."""
    return (
        event_hash(row.prev_hash, name, row.stream, row.version, data.topic, data.state) == row.hash
    )


def classify(name: str, suspects: list[tuple[Event, HashRow]]) -> list[Finding]:
    """Altered events; or pairs whose data sits in each other's place (reordered)."""
    findings: list[Finding] = []
    paired: set[int] = set()
    for i, (event, row) in enumerate(suspects):
        if event.notification_id in paired:
            continue
        for other, other_row in suspects[i + 1 :]:
            if other.notification_id in paired:
                continue
            if _fits(row, other, name) and _fits(other_row, event, name):
                paired.update((event.notification_id, other.notification_id))
                findings.append(
                    Finding(
                        name,
                        EVENTS_REORDERED,
                        event.notification_id,
                        row.stream,
                        row.version,
                        f"its data and that of #{other.notification_id} (stream "
                        f"{other_row.stream} v{other_row.version}) were swapped",
                    )
                )
                break
    for event, row in suspects:
        if event.notification_id in paired:
            continue
        source = next(
            (o for o, _ in suspects if o is not event and _fits(row, o, name)),
            None,
        )
        if source is not None:
            findings.append(
                Finding(
                    name,
                    EVENTS_REORDERED,
                    event.notification_id,
                    row.stream,
                    row.version,
                    f"its data is now stored at #{source.notification_id}",
                )
            )
        else:
            findings.append(altered(name, event, row))
    return findings
