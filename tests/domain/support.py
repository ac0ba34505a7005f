"""Helpers shared by the pure-domain tests: a fixed clock value and event read-outs.

No I/O, no mocks: tests build aggregates, apply past commands (given), run one command
(when) and look at the events the aggregate now has pending (then).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Attributes every eventsourcing event carries; the tests compare only the domain payload.
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def describe_event(event: Any) -> tuple[str, dict[str, Any]]:
    """An event as (qualified class name, payload), e.g. ("Inventory.StockReceived", {...})."""
    payload = {key: value for key, value in vars(event).items() if key not in _ENVELOPE}
    return type(event).__qualname__, payload


def new_events(aggregate: Aggregate) -> list[tuple[str, dict[str, Any]]]:
    """Collect the pending events: everything recorded since the last collection."""
    return [describe_event(event) for event in aggregate.collect_events()]


def replay(events: list[Any]) -> Any:
    """Rebuild an aggregate from its events, as a repository would."""
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate
