"""Exactly one active instance per worker name: a PostgreSQL session advisory lock.

Every instance of a worker (the relay, a projection, a process manager, a connector) opens a
connection of its own and tries ``pg_try_advisory_lock`` on a key derived from the worker's
name. The one that gets it works; the others are hot standbys that try again every
``poll_interval``. The lock belongs to the session, so PostgreSQL frees it the moment the
holder's connection ends: a killed process (its socket closes) hands over within one poll.

The holder checks its lock connection between polls. If that connection is lost (a
PostgreSQL restart, a network cut) it may no longer hold the lock, so it stops its work,
waits for the work to finish, and competes again like a standby. Until the work notices,
two instances can overlap for a moment; the relay's dedup by event id, the projections'
locked tracking rows and the process managers' position checks make such an overlap
harmless, and the lock only keeps it rare.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import structlog

from infrastructure.metrics import WORKER_LEADER

log = structlog.get_logger(__name__)

Work = Callable[[asyncio.Event], Awaitable[object]]

# Server-side keepalives on the lock's session: if the holder's machine vanishes without
# closing its socket, PostgreSQL drops the session (and the lock) after about 5 + 3 * 2 s
# instead of the operating system's default of hours.
_KEEPALIVES = (
    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; "
    "SET tcp_keepalives_count = 3; SET tcp_user_timeout = 10000"
)


def lock_key(worker: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``worker``."""
    digest = hashlib.sha256(f"ledgerline-worker:{worker}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def holder_label(worker: str) -> str:
    """The ``application_name`` of a lock session: worker, host and process id."""
    return f"ledgerline {worker} {socket.gethostname()}:{os.getpid()}"[:63]


class Leadership:
    """Run a worker's ``work`` only while this instance holds the worker's lock."""

    def __init__(self, conninfo: str, worker: str, *, poll_interval: float = 0.5) -> None:
        self.conninfo = conninfo
        self.worker = worker
        self.key = lock_key(worker)
        self.poll_interval = poll_interval
        self.leading = False
        self.terms = 0  # how many times this instance became the leader
        self.log = log.bind(worker=worker, pid=os.getpid())

    async def run(self, work: Work, stop: asyncio.Event) -> None:
        """Stand by, lead when the lock is free, until ``stop`` is set."""
        backoff = self.poll_interval
        while not stop.is_set():
            try:
                await self._term(work, stop)
                backoff = self.poll_interval
            except psycopg.OperationalError as error:
                self.log.warning("leadership.connection_lost", error=str(error), retry_in=backoff)
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 5.0)

    async def _term(self, work: Work, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name=holder_label(self.worker),
        ) as conn:
            await conn.execute(_KEEPALIVES)
            self.log.info("leadership.standby")
            while not await self._acquire(conn):
                if await _sleep(stop, self.poll_interval):
                    return
            await self._lead(conn, work, stop)

    async def _acquire(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
        row = await cur.fetchone()
        return bool(row and row[0])

    async def _lead(
        self, conn: psycopg.AsyncConnection[Any], work: Work, stop: asyncio.Event
    ) -> None:
        self.leading = True
        self.terms += 1
        WORKER_LEADER.labels(self.worker).set(1)
        self.log.info("leadership.acquired", term=self.terms)
        resign = asyncio.Event()
        task = asyncio.ensure_future(work(resign))
        try:
            while not stop.is_set() and not task.done():
                await asyncio.wait(
                    {task, asyncio.ensure_future(_sleep(stop, self.poll_interval))},
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not task.done():
                    # Raises OperationalError when the session (and so the lock) is gone.
                    await conn.execute("SELECT 1")
        finally:
            resign.set()
            self.leading = False
            WORKER_LEADER.labels(self.worker).set(0)
            try:
                await task
            except Exception:
                self.log.exception("leadership.work_failed")
            self.log.info("leadership.released", term=self.terms)
        if not stop.is_set():
            # The work ended by itself: give the lock to a standby rather than idle on it.
            with contextlib.suppress(psycopg.Error):
                await conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop``; True if stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def threaded(start: Callable[[], tuple[threading.Thread, threading.Event]]) -> Work:
    """Work for :class:`Leadership` from a thread-based worker's ``start()`` (projections,
    process managers): started on taking the lead, stopped and joined on losing it."""

    async def work(resign: asyncio.Event) -> None:
        thread, stopping = start()
        await resign.wait()
        stopping.set()
        await asyncio.to_thread(thread.join, 30)

    return work


def several(*works: Work) -> Work:
    """One worker made of several parts (e.g. the order saga and its expiry timer)."""

    async def work(resign: asyncio.Event) -> None:
        await asyncio.gather(*(part(resign) for part in works))

    return work
