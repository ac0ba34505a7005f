"""Which location(s) fulfil an order: the routing policy, as a pure function.

The policy, in order of preference (docs/orders.md):

1. only locations that feed the order's channel (or, for click & collect, the pickup store);
2. a location that can ship the whole order, so the customer gets one parcel;
3. among those, the nearest to the ship-to coordinates (great-circle distance), when both
   ends have coordinates;
4. then the configured priority of the location (lower first), then its code, so the
   choice is deterministic;
5. when no single location can ship everything and the channel allows split shipments,
   each line is filled from the locations in that same order, as few as needed.

A line the channel cannot be promised (its ATP, after safety buffers) is a shortage and the
whole order is refused: nothing is reserved for an order that cannot be fulfilled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Site:
    """A candidate location: its code, coordinates (if known) and configured priority."""

    code: str
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    priority: int = 100


@dataclass(frozen=True)
class Want:
    line: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class Pick:
    line: int
    sku: str
    location: str
    quantity: int


@dataclass(frozen=True)
class Shortage:
    line: int
    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class Routing:
    picks: tuple[Pick, ...]
    shortages: tuple[Shortage, ...]
    reason: str

    @property
    def routed(self) -> bool:
        return not self.shortages and bool(self.picks)

    @property
    def locations(self) -> list[str]:
        return sorted({pick.location for pick in self.picks})


def distance_km(
    a: tuple[Decimal, Decimal] | None, b: tuple[Decimal, Decimal] | None
) -> float | None:
    """Great-circle distance (haversine); None when either end has no coordinates."""
    if a is None or b is None:
        return None
    degrees = [float(v) for v in (*a, *b)]
    # Inputs are checked where they enter; a value no map has must still never crash routing.
    if not all(math.isfinite(v) for v in degrees):
        return None
    lat1, lon1, lat2, lon2 = (math.radians(v) for v in degrees)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _coordinates(site: Site) -> tuple[Decimal, Decimal] | None:
    if site.latitude is None or site.longitude is None:
        return None
    return (site.latitude, site.longitude)


def route(
    wants: Sequence[Want],
    sites: Sequence[Site],
    free: Mapping[tuple[str, str], int],
    promisable: Mapping[str, int],
    ship_to: tuple[Decimal, Decimal] | None,
    split_allowed: bool,
) -> Routing:
    """Route ``wants`` over ``sites``.

    ``free[(sku, location)]`` is what a new hold may take there; ``promisable[sku]`` what the
    channel may promise of the SKU in all (its ATP, after its safety buffer).
    """
    if not wants:
        return Routing((), (), "nothing to route")
    needed: dict[str, int] = {}
    for want in wants:
        needed[want.sku] = needed.get(want.sku, 0) + want.quantity
    over_atp = [
        Shortage(want.line, want.sku, want.quantity, promisable.get(want.sku, 0))
        for want in wants
        if needed[want.sku] > promisable.get(want.sku, 0)
    ]
    if over_atp:
        return Routing((), tuple(over_atp), "the channel cannot promise every line")

    def distance(site: Site) -> float:
        found = distance_km(_coordinates(site), ship_to)
        return math.inf if found is None else found

    ordered = sorted(sites, key=lambda site: (distance(site), site.priority, site.code))

    def whole(site: Site) -> bool:
        return all(free.get((sku, site.code), 0) >= quantity for sku, quantity in needed.items())

    for site in ordered:
        if whole(site):
            picks = tuple(Pick(w.line, w.sku, site.code, w.quantity) for w in wants)
            return Routing(picks, (), _why_single(site, distance(site), len(ordered)))
    if not split_allowed:
        shortages = tuple(
            Shortage(
                want.line,
                want.sku,
                want.quantity,
                max((free.get((want.sku, s.code), 0) for s in ordered), default=0),
            )
            for want in wants
        )
        return Routing((), shortages, "no single location can ship the whole order")
    return _split(wants, ordered, free)


def _split(
    wants: Sequence[Want], ordered: Sequence[Site], free: Mapping[tuple[str, str], int]
) -> Routing:
    left = dict(free)
    picks: list[Pick] = []
    shortages: list[Shortage] = []
    for want in wants:
        missing = want.quantity
        taken: list[Pick] = []
        for site in ordered:
            here = left.get((want.sku, site.code), 0)
            if here <= 0 or missing == 0:
                continue
            quantity = min(here, missing)
            taken.append(Pick(want.line, want.sku, site.code, quantity))
            left[(want.sku, site.code)] = here - quantity
            missing -= quantity
        if missing:
            shortages.append(Shortage(want.line, want.sku, want.quantity, want.quantity - missing))
        picks.extend(taken)
    if shortages:
        return Routing((), tuple(shortages), "the locations together cannot ship every line")
    used = sorted({pick.location for pick in picks})
    return Routing(
        tuple(picks),
        (),
        f"split over {len(used)} locations ({', '.join(used)}): no single location could "
        "ship the whole order; lines filled nearest first, then by priority",
    )


def _why_single(site: Site, distance: float, candidates: int) -> str:
    where = "" if math.isinf(distance) else f", {distance:.1f} km from the ship-to address"
    return (
        f"whole order from {site.code}: the first of {candidates} candidate location(s) able to "
        f"ship every line, by distance then priority {site.priority}{where}"
    )
