"""What the HTTP layer needs from the rest of the system, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.ratelimit import RateLimiter
from application.access import AccessApp
from application.booking_processes import BookingExpiry, Rebooking
from application.bookings import BookingsApp
from application.inventory import InventoryApp
from application.order_saga import OrderExpiry, OrderSaga
from application.orders import OrdersApp
from application.pricing import PricingApp
from application.privacy import PrivacyApp
from projections.atp_queries import AtpQueries
from projections.booking_queries import BookingQueries
from projections.follower import Follower
from projections.order_queries import OrderQueries
from projections.price_queries import PriceQueries, ReadModelPriceBook


@dataclass
class Services:
    inventory: InventoryApp
    access: AccessApp
    rate_limiter: RateLimiter
    read_pool: AsyncConnectionPool[Any]
    queries: AtpQueries
    follower: Follower
    nats_url: str
    pricing: PricingApp
    price_follower: Follower
    price_queries: PriceQueries
    orders: OrdersApp
    saga: OrderSaga
    price_book: ReadModelPriceBook
    order_follower: Follower
    order_queries: OrderQueries
    expiry: OrderExpiry
    bookings: BookingsApp
    rebooking: Rebooking
    booking_expiry: BookingExpiry
    booking_follower: Follower
    booking_queries: BookingQueries
    privacy: PrivacyApp | None = None  # customers: links, erasure, export (decision 0018)
    nats: Any = None  # a connected nats.aio.client.Client, set by the app's lifespan

    def followers(self) -> list[Follower]:
        return [self.follower, self.price_follower, self.order_follower, self.booking_follower]

    def close(self) -> None:
        self.inventory.close()
        self.access.close()
        self.pricing.close()
        self.orders.close()
        self.bookings.close()
        if self.privacy is not None:
            self.privacy.close()
        self.price_book.close()
