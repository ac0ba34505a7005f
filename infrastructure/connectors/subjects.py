"""NATS subject filters, matched the way the server matches them.

The PostgreSQL backfill must apply a connector's filter itself, and must agree exactly with
what JetStream would have delivered.
"""

from __future__ import annotations

from collections.abc import Sequence


def matches(pattern: str, subject: str) -> bool:
    """``*`` matches one token, ``>`` (last) one or more."""
    wanted = pattern.split(".")
    tokens = subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(tokens) > index
        if index >= len(tokens) or (part != "*" and part != tokens[index]):
            return False
    return len(tokens) == len(wanted)


def any_matches(patterns: Sequence[str], subject: str) -> bool:
    return any(matches(pattern, subject) for pattern in patterns)
