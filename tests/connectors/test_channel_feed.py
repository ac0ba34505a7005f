"""Channel feeds: a connector started late, or from PostgreSQL history, ends like a live one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import psycopg

from domain.inventory import AdjustmentReason
from domain.network import ChannelKind
from infrastructure.connectors.channel_feed import ChannelFeedConnector
from infrastructure.connectors.start import Start
from infrastructure.connectors.subjects import any_matches
from projections.price_queries import PriceQueries
from tests.connectors.support import (
    envelopes,
    handled_ids,
    network,
    relaying,
    running,
    stream_positions,
    wait_for,
    wait_handled,
    write,
)

SUBJECTS = ChannelFeedConnector.subjects
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _before(app) -> None:
    network(app)
    app.register_sku("OLD-1", "Old shirt", "4006381333931")
    app.receive("OLD-1", "WH1", 10)
    app.receive("OLD-1", "ST1", 4)
    app.reserve("OLD-1", "r-old", "WH1", 3, reference="o-1", now=NOW, channel="web")
    app.set_safety_buffer("OLD-1", "market", 2)


def _after(app) -> None:
    app.put_channel("outlet", "Outlet", ChannelKind.MARKETPLACE, ["ST1"])
    app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])  # locations change
    app.register_sku("NEW-1", "New shoe")
    app.receive("NEW-1", "WH1", 7)
    app.transfer("NEW-1", "WH1", "ST1", 2)
    app.reserve("NEW-1", "r-new", "ST1", 1, reference="o-2", now=NOW, channel="outlet")
    app.commit("NEW-1", "r-new")
    app.receive("OLD-1", "ST1", 5)
    app.release("OLD-1", "r-old")
    app.adjust("OLD-1", "WH1", AdjustmentReason.DAMAGE, -1)
    app.set_safety_buffer("NEW-1", "outlet", 1)
    app.receive("NEW-1", "WH1", 1)


def _state(database: str, connector: str) -> dict[str, list[tuple[object, ...]]]:
    """A connector's rows in every feed table, without the connector's name."""
    state = {}
    with psycopg.connect(database) as conn:
        for table in ("feed_channels", "feed_skus", "feed_stock", "feed_buffers"):
            rows = conn.execute(
                f"SELECT * FROM {table} WHERE connector = %s ORDER BY 2, 3",
                (connector,),
            ).fetchall()
            state[table] = [row[1:] for row in rows]
    return state


def _files(directory: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(directory.iterdir())}


def test_a_feed_started_late_from_the_beginning_or_a_time_ends_like_a_live_one(
    database: str, nats_url: str, tmp_path: Path
) -> None:
    live = ChannelFeedConnector("live", tmp_path / "live", PriceQueries())
    since = ChannelFeedConnector("since", tmp_path / "since", PriceQueries())
    late = ChannelFeedConnector("late", tmp_path / "late", PriceQueries())
    late_since = ChannelFeedConnector("late-since", tmp_path / "late-since", PriceQueries())

    async def scenario() -> datetime:
        async with (
            relaying(database, nats_url),
            running(live, database, nats_url, Start("beginning")),
        ):
            head = await write(database, _before)
            await wait_for(
                lambda: _positions_reach(nats_url, head), "the first events on JetStream"
            )
            cut = datetime.now(UTC)
            # A second live feed that starts now sees only what happens from here on
            async with running(since, database, nats_url, Start("new")):
                await write(database, _after)
                await wait_handled(database, "live", SUBJECTS)
                await wait_handled_after(database, "since", cut)
        # Long after, two feeds start late: one from the beginning, one from the cut
        async with (
            relaying(database, nats_url),
            running(late, database, nats_url, Start("beginning")),
            running(late_since, database, nats_url, Start("time", time=cut)),
        ):
            await wait_handled(database, "late", SUBJECTS)
            await wait_handled_after(database, "late-since", cut)
        return cut

    asyncio.run(scenario())

    assert _state(database, "late") == _state(database, "live")
    assert _files(tmp_path / "late") == _files(tmp_path / "live")
    assert _state(database, "late-since") == _state(database, "since")
    assert _files(tmp_path / "late-since") == _files(tmp_path / "since")
    # The feeds say something, and the cut made a difference
    web = (tmp_path / "live" / "web.csv").read_text().splitlines()
    assert web == [
        "sku,gtin,title,available,price,list_price,currency",
        "NEW-1,,New shoe,6,,,",
        "OLD-1,4006381333931,Old shirt,9,,,",
    ]
    # Started mid-stream, it knows OLD-1 only by the stock it saw arrive
    assert (tmp_path / "since" / "outlet.csv").read_text().splitlines()[1:] == [
        "NEW-1,,New shoe,0,,,",
        "OLD-1,,,5,,,",
    ]
    assert not (tmp_path / "since" / "market.csv").exists()


async def _positions_reach(nats_url: str, head: int) -> bool:
    positions = await stream_positions(nats_url)
    return bool(positions) and positions[-1] == head


async def wait_handled_after(database: str, connector: str, cut: datetime) -> None:
    """Until ``connector`` handled every feed event that occurred after ``cut``."""
    wanted = {
        e.id
        for e in await envelopes(database)
        if e.occurred_at >= cut and any_matches(SUBJECTS, e.subject)
    }

    async def done() -> bool:
        return wanted <= await handled_ids(database, connector)

    await wait_for(done, f"{connector} to handle {len(wanted)} events")


def test_a_feed_gets_history_beyond_jetstream_retention_from_postgresql(
    database: str, nats_url: str, tmp_path: Path
) -> None:
    live = ChannelFeedConnector("live", tmp_path / "live", PriceQueries())
    late = ChannelFeedConnector("late", tmp_path / "late", PriceQueries())
    lost = ChannelFeedConnector("lost", tmp_path / "lost", PriceQueries())

    async def scenario() -> tuple[list[int], list[int]]:
        async with running(live, database, nats_url, Start("beginning")):
            async with relaying(database, nats_url, retention=timedelta(seconds=1)):
                first = await write(database, _before)
                await wait_handled(database, "live", SUBJECTS)
                await wait_for(lambda: _relayed(database) >= first, "the relay to publish them")
                # JetStream drops the first events once they are older than its retention
                await wait_for(
                    lambda: _first_position_after(nats_url, first), "old events to expire"
                )
            # The retention is lifted (a relay without one updates the stream), so what
            # follows stays in JetStream however slowly this test runs
            async with relaying(database, nats_url):
                await write(database, _after)
                await wait_handled(database, "live", SUBJECTS)
                retained = await stream_positions(nats_url)
                # A feed that starts now from the beginning gets the rest from PostgreSQL
                async with running(late, database, nats_url, Start("beginning")) as runner:
                    await wait_handled(database, "late", SUBJECTS)
                    assert runner.pending == {}  # JetStream's first event closed the backfill
        # A stream recreated empty after the events were stored (NATS data lost)
        client = await nats.connect(nats_url)
        await client.jetstream().delete_stream("LEDGERLINE_EVENTS")
        await client.close()
        async with running(lost, database, nats_url, Start("beginning")):
            await wait_handled(database, "lost", SUBJECTS)
        return retained, await stream_positions(nats_url)

    retained, after_loss = asyncio.run(scenario())
    assert retained[0] > 1  # the history really was gone from JetStream
    assert after_loss == []
    assert _state(database, "late") == _state(database, "live")
    assert _files(tmp_path / "late") == _files(tmp_path / "live")
    assert _state(database, "lost") == _state(database, "live")
    assert _files(tmp_path / "lost") == _files(tmp_path / "live")
    with psycopg.connect(database) as conn:
        sources = conn.execute(
            "SELECT count(*) FILTER (WHERE position < %s), count(*) FROM connector_handled "
            "WHERE connector = 'late'",
            (retained[0],),
        ).fetchone()
    assert sources is not None
    assert sources[0] > 0


def _relayed(database: str) -> int:
    with psycopg.connect(database) as conn:
        if conn.execute("SELECT to_regclass('relay_positions')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT max(position) FROM relay_positions").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def _first_position_after(nats_url: str, position: int) -> bool:
    client = await nats.connect(nats_url)
    try:
        info = await client.jetstream().stream_info("LEDGERLINE_EVENTS")
        return info.state.first_seq > position
    finally:
        await client.close()
