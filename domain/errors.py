"""Named domain errors.

Each error carries a stable ``code`` (it becomes the problem ``type`` at the HTTP edge) and
the facts a caller needs to react, so no layer has to parse a message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A command was refused by a business rule or by invalid input."""

    code: ClassVar[str] = "domain-error"
    title: ClassVar[str] = "Domain rule violated"

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.facts = facts


class InvalidValue(DomainError):
    """A value is malformed or out of range (a bad SKU code, GTIN, quantity, ...)."""

    code = "invalid-value"
    title = "Invalid value"


class NotFound(DomainError):
    code = "not-found"
    title = "Not found"


class UnknownSku(NotFound):
    code = "unknown-sku"
    title = "Unknown SKU"


class UnknownLocation(NotFound):
    code = "unknown-location"
    title = "Unknown location"


class UnknownChannel(NotFound):
    code = "unknown-channel"
    title = "Unknown channel"


class ReservationNotFound(NotFound):
    code = "reservation-not-found"
    title = "Reservation not found"


class Conflict(DomainError):
    """The command is valid but contradicts the current state."""

    code = "conflict"
    title = "Conflict with current state"


class AlreadyExists(Conflict):
    code = "already-exists"
    title = "Already exists with different details"


class InsufficientStock(Conflict):
    code = "insufficient-stock"
    title = "Insufficient stock"


class StockBelowReserved(Conflict):
    code = "stock-below-reserved"
    title = "On hand would fall below reserved"


class LocationNotInChannel(Conflict):
    code = "location-not-in-channel"
    title = "Location does not feed the channel"


class ReservationExists(Conflict):
    code = "reservation-exists"
    title = "Reservation id already used with different details"


class HoldExpired(Conflict):
    code = "hold-expired"
    title = "The reservation has expired"


class UnknownPriceList(NotFound):
    code = "unknown-price-list"
    title = "Unknown price list"


class UnknownPromotion(NotFound):
    code = "unknown-promotion"
    title = "Unknown promotion"


class UnknownRule(NotFound):
    code = "unknown-pricing-rule"
    title = "Unknown pricing rule"


class UnknownVersion(NotFound):
    code = "unknown-version"
    title = "No such version"


class BelowMapFloor(Conflict):
    """A price or promotion would take a SKU below its minimum advertised price."""

    code = "below-map-floor"
    title = "Below the minimum advertised price"


class PriceListArchived(Conflict):
    code = "price-list-archived"
    title = "Price list is archived"


class PromotionEnded(Conflict):
    code = "promotion-ended"
    title = "Promotion has ended"
