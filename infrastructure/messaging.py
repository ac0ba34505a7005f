"""Connecting to NATS: one server or a cluster, and how many copies JetStream keeps.

``LEDGERLINE_NATS_URL`` may list several servers, comma-separated (the members of a NATS
cluster); a client tries them in turn, so losing the node it was connected to only costs a
reconnect. ``LEDGERLINE_NATS_REPLICAS`` (1 by default; 3 on a 3-node cluster) is the number of
copies of each stream the relay and the connectors create: with 3, a message JetStream acked
is on a majority of nodes and survives losing any one of them.
"""

from __future__ import annotations

import os
from typing import Any

import nats
from nats.aio.client import Client


def servers(url: str) -> list[str]:
    """The server URLs in a comma-separated ``LEDGERLINE_NATS_URL``."""
    found = [part.strip() for part in url.split(",") if part.strip()]
    if not found:
        raise ValueError("no NATS server URL given")
    return found


def replicas() -> int:
    """Stream replicas to create (``LEDGERLINE_NATS_REPLICAS``, 1 to 5)."""
    raw = os.environ.get("LEDGERLINE_NATS_REPLICAS") or "1"
    count = int(raw)
    if not 1 <= count <= 5:
        raise ValueError(f"LEDGERLINE_NATS_REPLICAS must be 1 to 5, not {raw}")
    return count


async def connect(url: str, name: str, **options: Any) -> Client:
    """A client of the server, or of any member of the cluster, named in ``url``."""
    options.setdefault("connect_timeout", 2)
    return await nats.connect(servers=servers(url), name=name, **options)
