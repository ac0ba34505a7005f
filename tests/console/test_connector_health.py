"""Connector health and sync latency from real connector runs: handled, dead-lettered and lag
on the connectors page; commit -> ack latency per connector on the dashboard."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import psycopg
from litestar import Litestar
from litestar.testing import TestClient

from api.services import Services
from infrastructure.connectors.base import FunctionConnector, PermanentFailure
from infrastructure.connectors.start import Start
from infrastructure.envelope import Envelope
from infrastructure.servers import EmbeddedNats
from projections.kpis import kpi_followers
from tests.conftest import issue_key
from tests.connectors.support import network, relaying, running, wait_for, write
from tests.console.test_console_access import log_in


def _stock(app) -> None:  # type: ignore[no-untyped-def]
    app.register_sku("CUP", "Cup")
    app.receive("CUP", "WH1", 4)
    app.receive("CUP", "ST1", 2)


def test_the_console_shows_each_connectors_progress_dead_letters_and_latency(
    client: TestClient[Litestar], services: Services, database: str, tmp_path: Path
) -> None:
    # Given a nats-server of this test's own (connectors read the whole stream)
    nats = EmbeddedNats(tmp_path)
    handled: list[Envelope] = []

    async def feed(envelope: Envelope) -> None:
        handled.append(envelope)

    async def picky(envelope: Envelope) -> None:
        if envelope.type == "StockReceived" and envelope.data.get("location") == "ST1":
            raise PermanentFailure("the store's system refuses this one")

    async def scenario() -> None:
        # When the network and a SKU's stock are written, relayed, and handled by two
        # connectors, one of which refuses one event
        head = await write(database, lambda app: (network(app), _stock(app)))
        async with (
            relaying(database, nats.url),
            running(FunctionConnector("shop-feed", feed), database, nats.url, Start("beginning")),
            running(FunctionConnector("picky", picky), database, nats.url, Start("beginning")),
        ):
            await wait_for(lambda: handled and handled[-1].position == head, "every event")
            await wait_for(lambda: _outcomes(database, "picky") == head, "the picky one")

    try:
        asyncio.run(scenario())
    finally:
        nats.close()
    with psycopg.connect(database, autocommit=True) as conn:
        for follower in kpi_followers(database):
            follower.catch_up(conn)

    # Then the connectors page shows both, caught up, and the one dead letter
    assert log_in(client, issue_key(services, "auditor")).status_code == 303
    page = re.sub(r"\s+", " ", client.get("/console/connectors").text)
    head = len(handled)
    assert f'<td>shop-feed</td><td>inventory</td><td class="num">{head}</td>' in page
    assert re.search(
        r'<td>picky</td><td>inventory</td><td class="num">\d+</td><td class="num">1<', page
    )
    assert page.count('<td class="num">0</td><td>20') >= 2  # lag 0, then the time handled
    # and the dashboard shows commit -> ack latency for each, and the dead-letter rate
    dashboard = re.sub(r"\s+", " ", client.get("/console/dashboard").text)
    assert re.search(
        rf'<td>shop-feed</td><td class="num">{head}</td><td class="num">\d+</td>', dashboard
    )
    rate = 100 * 1 / (2 * head)
    assert f"{rate:.1f} %" in dashboard


def _outcomes(database: str, connector: str) -> int:
    with psycopg.connect(database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT COALESCE(max(position), 0) FROM connector_handled WHERE connector = %s",
            (connector,),
        ).fetchone()
    return int(row[0]) if row else 0
