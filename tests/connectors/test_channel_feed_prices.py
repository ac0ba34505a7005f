"""Channel feeds carry each channel's effective price now, as the price API answers it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from application.pricing import PricingApp
from domain.price_list import PriceChange
from infrastructure.connectors.channel_feed import ChannelFeedConnector
from infrastructure.connectors.start import Start
from infrastructure.eventstore import application_env, events_table
from projections.follower import Follower
from projections.price_queries import PriceQueries
from projections.prices import PricingProjection
from tests.connectors.support import network, relaying, running, wait_for, write


class Clock:
    """The feed's idea of now, moved by the test: price windows open without any event."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def price(database: str, work: Callable[[PricingApp, datetime], None]) -> None:
    def run() -> None:
        app = PricingApp(application_env(database, pool_size=1))
        try:
            work(app, datetime.now(UTC) - timedelta(seconds=1))
        finally:
            app.close()

    await asyncio.to_thread(run)


def _stock(app) -> None:
    network(app)
    app.register_sku("SHIRT", "Shirt")
    app.register_sku("SHOE", "Shoe")
    app.register_sku("HAT", "Hat")
    app.receive("SHIRT", "WH1", 5)
    app.receive("SHOE", "WH1", 3)
    app.receive("HAT", "WH1", 1)


def _lists(app: PricingApp, now: datetime) -> None:
    for channel, currency, shirt, shoe in (
        ("web", "EUR", "20.00", "50.00"),
        ("web", "USD", "22.00", "55.00"),
        ("market", "EUR", "19.00", "49.00"),
    ):
        app.put_price_list(channel, currency, f"{channel} {currency}", "reject", now)
        app.schedule_prices(
            channel,
            currency,
            [PriceChange("SHIRT", Decimal(shirt)), PriceChange("SHOE", Decimal(shoe))],
            now,
        )
        app.set_list_status(channel, currency, "active", now)


def _rows(directory: Path, channel: str) -> list[str]:
    path = directory / f"{channel}.csv"
    return path.read_text().splitlines()[1:] if path.exists() else []


def test_a_feed_shows_effective_prices_and_follows_price_windows_and_changes(
    database: str, nats_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    tomorrow = clock.now + timedelta(days=1)
    feed = ChannelFeedConnector("feed", tmp_path, PriceQueries(), clock=clock)
    prices = Follower(database, events_table("pricing"), PricingProjection(), poll_interval=0.1)
    prices.setup()
    asyncio.run(price(database, lambda app, now: None))  # the pricing log's tables exist
    _, stop_prices = prices.start()

    async def shows(channel: str, rows: list[str]) -> None:
        await wait_for(lambda: _rows(tmp_path, channel) == rows, f"{channel}.csv to be {rows}")

    async def scenario() -> None:
        async with (
            relaying(database, nats_url),
            running(feed, database, nats_url, Start("beginning")),
        ):
            # Given stock on two channels and price lists in two currencies on one of them
            await write(database, _stock)
            await price(database, _lists)
            # Then each SKU has a row per currency its channel lists; HAT has no price
            await shows(
                "web",
                [
                    "HAT,,Hat,1,,,",
                    "SHIRT,,Shirt,5,20.00,20.00,EUR",
                    "SHIRT,,Shirt,5,22.00,22.00,USD",
                    "SHOE,,Shoe,3,50.00,50.00,EUR",
                    "SHOE,,Shoe,3,55.00,55.00,USD",
                ],
            )
            await shows(
                "market",
                ["HAT,,Hat,1,,,", "SHIRT,,Shirt,5,19.00,19.00,EUR", "SHOE,,Shoe,3,49.00,49.00,EUR"],
            )

            # When a promotion for tomorrow is defined, nothing changes today
            def promote(app: PricingApp, now: datetime) -> None:
                app.define_promotion(
                    "shirt-week",
                    name="Shirt week",
                    kind="percent_off",
                    value=Decimal("10"),
                    currency=None,
                    channels=["web"],
                    skus=["SHIRT"],
                    priority=1,
                    stacking="exclusive",
                    stacks_with=[],
                    valid_from=tomorrow,
                    valid_until=tomorrow + timedelta(days=7),
                    now=now,
                )

            await price(database, promote)
            await asyncio.sleep(0.5)
            assert "SHIRT,,Shirt,5,20.00,20.00,EUR" in _rows(tmp_path, "web")
            # ...but when tomorrow comes, with no event at all, the feed shows it
            clock.now = tomorrow + timedelta(seconds=1)
            await shows(
                "web",
                [
                    "HAT,,Hat,1,,,",
                    "SHIRT,,Shirt,5,18.00,20.00,EUR",
                    "SHIRT,,Shirt,5,19.80,22.00,USD",
                    "SHOE,,Shoe,3,50.00,50.00,EUR",
                    "SHOE,,Shoe,3,55.00,55.00,USD",
                ],
            )
            # And a week later it ends the same way
            clock.now = tomorrow + timedelta(days=7, seconds=1)
            await shows(
                "web",
                [
                    "HAT,,Hat,1,,,",
                    "SHIRT,,Shirt,5,20.00,20.00,EUR",
                    "SHIRT,,Shirt,5,22.00,22.00,USD",
                    "SHOE,,Shoe,3,50.00,50.00,EUR",
                    "SHOE,,Shoe,3,55.00,55.00,USD",
                ],
            )

            # When the marketplace's shoe price changes and HAT gets one, the feed follows
            def reprice(app: PricingApp, now: datetime) -> None:
                app.schedule_prices(
                    "market",
                    "EUR",
                    [PriceChange("SHOE", Decimal("45.50")), PriceChange("HAT", Decimal("9.90"))],
                    now,
                )

            await price(database, reprice)
            await shows(
                "market",
                [
                    "HAT,,Hat,1,9.90,9.90,EUR",
                    "SHIRT,,Shirt,5,19.00,19.00,EUR",
                    "SHOE,,Shoe,3,45.50,45.50,EUR",
                ],
            )

    try:
        asyncio.run(scenario())
    finally:
        stop_prices.set()
