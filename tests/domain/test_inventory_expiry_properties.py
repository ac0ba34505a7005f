"""Holds that lapse: random command sequences against one SKU while the clock moves on.

A Hypothesis state machine drives an Inventory over two locations that both feed one channel,
with a clock that only moves forward. Holds are made with and without an expiry; once a hold's
``expires_at`` is reached it no longer counts against what a new hold may take, even before
anyone releases it. Beside the inventory runs a small independent model (on hand per location,
the holds with their expiries, the buffer) that says which rules a command breaks; a command is
either accepted with exactly the expected events, or refused with one of the broken rules'
errors, recording nothing and changing nothing.

After every step, at the current time:
  * at every location the unexpired holds never add up to more than is on hand;
  * free(location, now) = on hand - the unexpired holds there, and lapsed(location, now) is
    the sum of the expired ones not yet released;
  * the channel's available-to-promise at now is max(0, free over its locations - buffer);
  * reserved still counts every hold not released or committed, lapsed or not.
And throughout: a lapsed hold can be neither secured nor committed.
At the end of every run, replaying the recorded events rebuilds the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import (
    DomainError,
    HoldExpired,
    InsufficientStock,
    InvalidValue,
    ReservationExists,
    ReservationNotFound,
    StockBelowReserved,
)
from domain.inventory import AdjustmentReason, Inventory
from tests.domain.support import NOW, replay

LOCATIONS = ("WH-1", "WH-2")
CHANNEL = "web"
RESERVATION_IDS = tuple(f"R-{n}" for n in range(1, 11))
REFERENCE = "order-1"
# Expiries relative to now, in minutes; 0 and below are refused (a hold must not be born dead).
EXPIRES_IN = (None, 1, 5, 20, 60, 0, -1)

locations = st.sampled_from(LOCATIONS)
reservation_ids = st.sampled_from(RESERVATION_IDS)
picks = st.integers(0, 7)  # mostly a held reservation, sometimes any id at all


@dataclass(frozen=True)
class Held:
    """The model's view of one hold."""

    location: str
    quantity: int
    channel: str | None
    expires_at: datetime | None


class ExpiringHolds(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.inventory = Inventory.register("SKU-X", "Expiring widget")
        self.history: list[Any] = list(self.inventory.collect_events())
        self.now = NOW
        # The model.
        self.on_hand = dict.fromkeys(LOCATIONS, 0)
        self.held: dict[str, Held] = {}
        self.made: dict[str, Held] = {}  # every hold ever made, as made
        self.buffer = 0

    # -- the model's view ------------------------------------------------------------------

    def lapsed_at(self, held: Held) -> bool:
        return held.expires_at is not None and held.expires_at <= self.now

    def unexpired(self, location: str) -> int:
        return sum(
            h.quantity
            for h in self.held.values()
            if h.location == location and not self.lapsed_at(h)
        )

    def reserved(self, location: str) -> int:
        return sum(h.quantity for h in self.held.values() if h.location == location)

    def free(self, location: str) -> int:
        return self.on_hand[location] - self.unexpired(location)

    def atp(self) -> int:
        return max(0, sum(self.free(code) for code in LOCATIONS) - self.buffer)

    def pick_reservation(self, pick: int) -> str:
        held = sorted(self.held)
        if held and pick < 6:
            return held[pick % len(held)]
        return RESERVATION_IDS[pick % len(RESERVATION_IDS)]

    # -- running one command ---------------------------------------------------------------

    def state(self) -> Any:
        inventory = self.inventory
        return deepcopy(
            (
                inventory.stock,
                inventory.reservations,
                inventory.reservations_made,
                inventory.expiring,
                inventory.safety_buffers,
                inventory.version,
            )
        )

    def run(
        self, command: Callable[[], Any], *, broken: set[type[DomainError]], recorded: list[str]
    ) -> bool:
        """Run ``command``; True when accepted (and then it recorded exactly ``recorded``)."""
        inventory = self.inventory
        pending_before = len(inventory.pending_events)
        before = self.state()
        try:
            command()
        except DomainError as refusal:
            assert broken, f"refused a valid command: {refusal!r}"  # noqa: PT017 - either outcome may be right
            assert type(refusal) in broken, f"{refusal!r} is none of {broken}"  # noqa: PT017
            assert len(inventory.pending_events) == pending_before, "refusal recorded events"
            assert self.state() == before, "refusal changed state"
            return False
        assert not broken, f"accepted a command breaking {broken}"
        new = inventory.collect_events()
        assert [type(event).__qualname__ for event in new] == recorded
        self.history.extend(new)
        return True

    # -- rules -----------------------------------------------------------------------------

    @initialize(opening=st.lists(st.integers(0, 20), min_size=2, max_size=2))
    def opening_stock(self, opening: list[int]) -> None:
        for location, quantity in zip(LOCATIONS, opening, strict=True):
            if quantity:
                self.receive(location, quantity)

    @rule(minutes=st.sampled_from([0, 1, 5, 20, 60]))
    def tick(self, minutes: int) -> None:
        """Time moves on, never back."""
        self.now += timedelta(minutes=minutes)

    @rule(location=locations, quantity=st.integers(1, 20))
    def receive(self, location: str, quantity: int) -> None:
        if self.run(
            lambda: self.inventory.receive(location, quantity),
            broken=set(),
            recorded=["Inventory.StockReceived"],
        ):
            self.on_hand[location] += quantity

    @rule(location=locations, quantity=st.integers(1, 10))
    def restock(self, location: str, quantity: int) -> None:
        """A customer return puts sellable units back on hand."""
        if self.run(
            lambda: self.inventory.restock(location, quantity, "return RT-1"),
            broken=set(),
            recorded=["Inventory.StockReturned"],
        ):
            self.on_hand[location] += quantity

    @rule(location=locations, delta=st.integers(-12, 6).filter(bool))
    def adjust(self, location: str, delta: int) -> None:
        broken: set[type[DomainError]] = set()
        new_on_hand = self.on_hand[location] + delta
        if new_on_hand < 0:
            broken.add(InsufficientStock)
        elif new_on_hand < self.reserved(location):
            # Lapsed holds still count here: they are promises until someone releases them.
            broken.add(StockBelowReserved)
        if self.run(
            lambda: self.inventory.adjust(location, AdjustmentReason.CORRECTION, delta),
            broken=broken,
            recorded=["Inventory.StockAdjusted"],
        ):
            self.on_hand[location] = new_on_hand

    @rule(
        reservation_id=reservation_ids,
        location=locations,
        quantity=st.integers(1, 15),
        expires_in=st.sampled_from(EXPIRES_IN),
        for_channel=st.booleans(),
    )
    def reserve(
        self,
        reservation_id: str,
        location: str,
        quantity: int,
        expires_in: int | None,
        for_channel: bool,
    ) -> None:
        expires_at = None if expires_in is None else self.now + timedelta(minutes=expires_in)
        channel = CHANNEL if for_channel else None
        wanted = Held(location, quantity, channel, expires_at)
        existing = self.made.get(reservation_id)
        broken: set[type[DomainError]] = set()
        if existing is not None:
            if existing != wanted:
                broken.add(ReservationExists)
        else:
            if expires_at is not None and expires_at <= self.now:
                broken.add(InvalidValue)
            if quantity > self.free(location):
                broken.add(InsufficientStock)
            if channel is not None and quantity > self.atp():
                broken.add(InsufficientStock)
        repeat = existing is not None and existing == wanted
        made: list[bool] = []

        def command() -> None:
            made.append(
                self.inventory.reserve(
                    reservation_id,
                    location,
                    quantity,
                    reference=REFERENCE,
                    now=self.now,
                    channel=channel,
                    channel_locations=list(LOCATIONS) if channel else None,
                    expires_at=expires_at,
                )
            )

        if self.run(command, broken=broken, recorded=[] if repeat else ["Inventory.StockReserved"]):
            assert made == [not repeat]
            if not repeat:
                self.held[reservation_id] = self.made[reservation_id] = wanted

    @rule(
        reservation_id=reservation_ids,
        location=locations,
        extra=st.sampled_from([0, 0, 1]),
        expires_in=st.sampled_from(EXPIRES_IN[:5]),
        for_channel=st.booleans(),
    )
    def reserve_everything_free(
        self,
        reservation_id: str,
        location: str,
        extra: int,
        expires_in: int | None,
        for_channel: bool,
    ) -> None:
        """Aim at the edge: all a new hold may take now (lapsed holds included), or one more."""
        quantity = max(1, self.free(location) + extra)
        self.reserve(reservation_id, location, quantity, expires_in, for_channel)

    @rule(pick=picks)
    def repeat_a_reservation(self, pick: int) -> None:
        """A retry with the very same details -- even of a hold since lapsed -- holds nothing."""
        reservation_id = self.pick_reservation(pick)
        made = self.made.get(reservation_id)
        if made is None:
            return
        result: list[bool] = []
        assert self.run(
            lambda: result.append(
                self.inventory.reserve(
                    reservation_id,
                    made.location,
                    made.quantity,
                    reference=REFERENCE,
                    now=self.now,
                    channel=made.channel,
                    channel_locations=list(LOCATIONS) if made.channel else None,
                    expires_at=made.expires_at,
                )
            ),
            broken=set(),
            recorded=[],
        )
        assert result == [False]

    @rule(pick=picks)
    def secure(self, pick: int) -> None:
        reservation_id = self.pick_reservation(pick)
        held = self.held.get(reservation_id)
        broken: set[type[DomainError]] = set()
        if held is None:
            broken.add(ReservationNotFound)
        elif self.lapsed_at(held):
            broken.add(HoldExpired)
        expiring = held is not None and held.expires_at is not None
        result: list[bool] = []
        if self.run(
            lambda: result.append(self.inventory.secure(reservation_id, self.now)),
            broken=broken,
            recorded=["Inventory.ReservationSecured"] if expiring else [],
        ):
            assert held is not None
            assert result == [expiring]
            self.held[reservation_id] = replace(held, expires_at=None)

    @rule(pick=picks, quantity=st.one_of(st.none(), st.integers(1, 10)))
    def commit(self, pick: int, quantity: int | None) -> None:
        reservation_id = self.pick_reservation(pick)
        held = self.held.get(reservation_id)
        broken: set[type[DomainError]] = set()
        if held is None:
            broken.add(ReservationNotFound)
        elif self.lapsed_at(held):
            broken.add(HoldExpired)
        elif quantity is not None and quantity > held.quantity:
            broken.add(InvalidValue)
        if self.run(
            lambda: self.inventory.commit(reservation_id, quantity, now=self.now),
            broken=broken,
            recorded=["Inventory.ReservationCommitted"],
        ):
            assert held is not None
            units = held.quantity if quantity is None else quantity
            self.on_hand[held.location] -= units
            if units == held.quantity:
                del self.held[reservation_id]
            else:
                self.held[reservation_id] = replace(held, quantity=held.quantity - units)

    @rule(pick=picks)
    def release(self, pick: int) -> None:
        reservation_id = self.pick_reservation(pick)
        broken: set[type[DomainError]] = set()
        if reservation_id not in self.held:
            broken.add(ReservationNotFound)
        if self.run(
            lambda: self.inventory.release(reservation_id),
            broken=broken,
            recorded=["Inventory.ReservationReleased"],
        ):
            del self.held[reservation_id]

    @rule(pick=picks)
    def a_lapsed_hold_can_be_neither_secured_nor_committed(self, pick: int) -> None:
        lapsed = sorted(rid for rid, held in self.held.items() if self.lapsed_at(held))
        if not lapsed:
            return
        reservation_id = lapsed[pick % len(lapsed)]
        for command in (
            lambda: self.inventory.secure(reservation_id, self.now),
            lambda: self.inventory.commit(reservation_id, now=self.now),
            lambda: self.inventory.commit(reservation_id, 1, now=self.now),
        ):
            self.run(command, broken={HoldExpired}, recorded=[])

    @rule(quantity=st.integers(0, 8))
    def set_safety_buffer(self, quantity: int) -> None:
        unchanged = self.buffer == quantity
        if self.run(
            lambda: self.inventory.set_safety_buffer(CHANNEL, quantity),
            broken=set(),
            recorded=[] if unchanged else ["Inventory.SafetyBufferSet"],
        ):
            self.buffer = quantity

    # -- invariants ------------------------------------------------------------------------

    def holds_at(self, location: str) -> tuple[int, int]:
        """(unexpired, lapsed) units held at ``location`` now, from the inventory's own holds."""
        unexpired = lapsed = 0
        for held in self.inventory.reservations.values():
            if held.location != location:
                continue
            if held.expires_at is not None and held.expires_at <= self.now:
                lapsed += held.quantity
            else:
                unexpired += held.quantity
        return unexpired, lapsed

    @invariant()
    def unexpired_holds_never_exceed_what_is_on_hand(self) -> None:
        for location in LOCATIONS:
            unexpired, _ = self.holds_at(location)
            assert 0 <= unexpired <= self.inventory.at(location).on_hand

    @invariant()
    def free_is_on_hand_less_the_unexpired_holds(self) -> None:
        for location in LOCATIONS:
            unexpired, lapsed = self.holds_at(location)
            stock = self.inventory.at(location)
            assert self.inventory.free(location, self.now) == stock.on_hand - unexpired
            assert self.inventory.free(location, self.now) == self.free(location)
            assert self.inventory.lapsed(location, self.now) == lapsed
            assert stock.reserved == unexpired + lapsed == self.reserved(location)

    @invariant()
    def the_channel_promises_what_is_free_less_its_buffer(self) -> None:
        found = self.inventory.available_to_promise(CHANNEL, list(LOCATIONS), self.now)
        assert found == self.atp()

    @invariant()
    def the_inventory_agrees_with_the_model(self) -> None:
        inventory = self.inventory
        assert {code: inventory.at(code).on_hand for code in LOCATIONS} == self.on_hand
        assert {
            rid: Held(r.location, r.quantity, r.channel, r.expires_at)
            for rid, r in inventory.reservations.items()
        } == self.held
        assert set(inventory.expiring) == {
            rid for rid, held in self.held.items() if held.expires_at is not None
        }

    def teardown(self) -> None:
        rebuilt = replay(self.history)
        assert rebuilt.version == self.inventory.version == len(self.history)
        assert rebuilt.stock == self.inventory.stock
        assert rebuilt.reservations == self.inventory.reservations
        assert rebuilt.expiring == self.inventory.expiring
        assert rebuilt.safety_buffers == self.inventory.safety_buffers


ExpiringHolds.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, database=None
)
TestExpiringHolds = ExpiringHolds.TestCase
