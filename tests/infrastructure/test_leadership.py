"""One active instance per worker name: the lock, the standby, and losing the lock."""

from __future__ import annotations

import asyncio

import psycopg

from infrastructure.leadership import Leadership, holder_label
from tests.connectors.support import wait_for


def test_one_instance_works_the_standby_takes_over_and_a_lost_lock_connection_stops_work(
    database: str,
) -> None:
    working: dict[str, int] = {"a": 0, "b": 0}  # instances now inside their work
    terms: dict[str, int] = {"a": 0, "b": 0}

    def work_of(name: str):
        async def work(resign: asyncio.Event) -> None:
            working[name] += 1
            terms[name] += 1
            try:
                await resign.wait()
            finally:
                working[name] -= 1

        return work

    async def scenario() -> None:
        # Given two instances of one worker
        a = Leadership(database, "test-worker", poll_interval=0.05)
        b = Leadership(database, "test-worker", poll_interval=0.05)
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        run_a = asyncio.ensure_future(a.run(work_of("a"), stop_a))
        await wait_for(lambda: a.leading, "a to lead")
        run_b = asyncio.ensure_future(b.run(work_of("b"), stop_b))
        await asyncio.sleep(0.3)  # b polls several times meanwhile
        # Then only one works
        assert (working, b.leading) == ({"a": 1, "b": 0}, False)

        # When PostgreSQL ends the leader's lock session (as a restart or a cut would)
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (holder_label("test-worker"),),
            )
        # Then its work is stopped, and one instance (never both) works again
        await wait_for(
            lambda: terms["a"] + terms["b"] == 2 and sum(working.values()) == 1, "a new term"
        )
        assert sum(working.values()) == 1

        # When the leader stops, the other takes over
        leader, stop_leader = (a, stop_a) if a.leading else (b, stop_b)
        other = b if leader is a else a
        stop_leader.set()
        await wait_for(lambda: other.leading, "the standby to lead")
        assert sum(working.values()) == 1
        stop_a.set()
        stop_b.set()
        await asyncio.gather(run_a, run_b)
        assert working == {"a": 0, "b": 0}

    asyncio.run(scenario())
