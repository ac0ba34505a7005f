"""The one place that wires the layers together (used by the CLI and by the tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.ratelimit import RateLimiter
from api.services import Services
from application.access import AccessApp
from application.booking_processes import BookingExpiry, Rebooking
from application.bookings import BookingsApp
from application.inventory import InventoryApp
from application.order_saga import OrderExpiry, OrderSaga
from application.orders import OrdersApp, OrderSettings
from application.pricing import PricingApp
from application.privacy import PrivacyApp
from infrastructure.eventstore import application_env, events_table
from projections.atp import AtpProjection
from projections.atp_queries import AtpQueries
from projections.booking_queries import BookingQueries
from projections.bookings import BookingsProjection
from projections.follower import Follower
from projections.order_queries import OrderQueries
from projections.orders import OrdersProjection
from projections.price_queries import PriceQueries, ReadModelPriceBook
from projections.prices import PricingProjection


def build_services(
    database_url: str,
    nats_url: str,
    *,
    pool_size: int = 8,
    rate_per_second: float = 200.0,
    burst: int = 400,
    order_settings: OrderSettings | None = None,
) -> Services:
    inventory = InventoryApp(application_env(database_url, pool_size=pool_size))
    access = AccessApp(application_env(database_url, pool_size=2))
    follower = Follower(database_url, events_table(InventoryApp.name), AtpProjection("atp"))
    follower.setup()
    price_queries = PriceQueries("pricing")
    price_follower = Follower(
        database_url, events_table(PricingApp.name), PricingProjection("pricing")
    )
    price_follower.setup()

    def catalog() -> list[tuple[str, str]]:
        with psycopg.connect(database_url, autocommit=True) as conn:
            return price_queries.catalog(conn)

    pricing = PricingApp(application_env(database_url, pool_size=max(2, pool_size // 2)), catalog)
    price_book = ReadModelPriceBook(database_url, price_queries)
    orders = OrdersApp(
        application_env(database_url, pool_size=max(2, pool_size // 2)),
        inventory,
        price_book,
        order_settings,
    )
    order_follower = Follower(database_url, events_table(OrdersApp.name), OrdersProjection())
    order_follower.setup()
    order_queries = OrderQueries()
    bookings = BookingsApp(
        application_env(database_url, pool_size=max(2, pool_size // 2)), price_book
    )

    def due_for_expiry(now: datetime, limit: int) -> list[UUID]:
        with psycopg.connect(database_url, autocommit=True) as conn:
            return order_queries.due_for_expiry(conn, now, limit)

    booking_follower = Follower(database_url, events_table(BookingsApp.name), BookingsProjection())
    booking_follower.setup()
    read_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=pool_size,
        open=False,
        kwargs={"autocommit": True},
    )
    return Services(
        inventory=inventory,
        access=access,
        rate_limiter=RateLimiter(rate_per_second, burst),
        read_pool=read_pool,
        queries=AtpQueries("atp"),
        follower=follower,
        nats_url=nats_url,
        pricing=pricing,
        price_follower=price_follower,
        price_queries=price_queries,
        orders=orders,
        saga=OrderSaga(orders, inventory),
        price_book=price_book,
        order_follower=order_follower,
        order_queries=order_queries,
        expiry=OrderExpiry(orders, due_for_expiry),
        bookings=bookings,
        rebooking=Rebooking(bookings),
        booking_expiry=BookingExpiry(bookings),
        booking_follower=booking_follower,
        booking_queries=BookingQueries(),
        privacy=PrivacyApp(application_env(database_url, pool_size=2), orders, bookings),
    )
