"""Input limits that the body types alone do not give (docs/api-limits.md lists them all)."""

from __future__ import annotations

import re

from domain.errors import InvalidValue

MAX_DEPTH = 16  # arrays and objects inside each other; our deepest body needs 4
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class NestingTooDeep(InvalidValue):
    code = "nesting-too-deep"
    title = "The JSON nests too deeply"


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` before any decoder recurses into it.

    msgspec raises RecursionError (not a decode error) on a body like ``[[[[...]]]]`` decoded
    into an untyped value; this check answers such a body with a problem instead.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    depth = deepest = 0
    # Brackets inside strings are text, not structure.
    for bracket in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
        if deepest > limit:
            raise NestingTooDeep(f"JSON may nest arrays and objects {limit} deep at most")
