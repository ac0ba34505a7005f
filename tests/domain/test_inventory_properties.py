"""Random command sequences against one SKU: the stock rules hold after every step.

A Hypothesis state machine drives an Inventory over three locations and two channels with
fixed location sets. Beside it runs a tiny independent model (on hand per location, held
reservations, buffers) that only says which rules a command breaks. Each command is then
either accepted -- exactly the expected events are recorded -- or refused with a DomainError
whose class is one of the broken rules, and a refused command records nothing and changes
nothing. Without the model a domain that refused everything would satisfy every invariant.

After every step:
  * for every location 0 <= reserved <= on hand, and reserved is the sum of the
    reservations held there;
  * each channel's available-to-promise is >= 0 and equals
    max(0, sum of available over its locations - its buffer);
  * total units (the sum of on hand) moved only by receipts, adjustments and commits:
    transfers conserve it.
At the end of every run, replaying the recorded events rebuilds the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import (
    DomainError,
    InsufficientStock,
    InvalidValue,
    LocationNotInChannel,
    ReservationExists,
    ReservationNotFound,
    StockBelowReserved,
)
from domain.inventory import AdjustmentReason, Inventory
from tests.domain.support import NOW, replay

LOCATIONS = ("WH-1", "WH-2", "STORE-1")
CHANNELS = {"web": ["WH-1", "WH-2"], "pos": ["STORE-1", "WH-2"]}
RESERVATION_IDS = ("R-1", "R-2", "R-3", "R-4", "R-5")
REFERENCES = ("order-1", "order-2")
# Some expiries are not after NOW, so the refusal path is exercised too.
EXPIRIES = (None, None, NOW + timedelta(hours=1), NOW, NOW - timedelta(minutes=1))

locations = st.sampled_from(LOCATIONS)
channels = st.sampled_from(sorted(CHANNELS))
reservation_ids = st.sampled_from(RESERVATION_IDS)
# Release and commit mostly pick a held reservation (pick < 6), sometimes any id at all.
picks = st.integers(0, 7)


@dataclass(frozen=True)
class Held:
    """The model's view of one reservation."""

    location: str
    quantity: int
    channel: str | None
    reference: str
    expires_at: datetime | None


class InventoryCommands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.inventory = Inventory.register("SKU-P", "Property widget")
        self.history: list[Any] = list(self.inventory.collect_events())
        # The model.
        self.on_hand = dict.fromkeys(LOCATIONS, 0)
        self.held: dict[str, Held] = {}
        self.made: dict[str, Held] = {}  # every reservation ever made, as made
        self.buffers: dict[str, int] = {}
        self.net_units = 0  # receipts + adjustment deltas - commits

    # -- the model's view ------------------------------------------------------------------

    def reserved(self, location: str) -> int:
        return sum(held.quantity for held in self.held.values() if held.location == location)

    def available(self, location: str) -> int:
        return self.on_hand[location] - self.reserved(location)

    def atp(self, channel: str) -> int:
        pooled = sum(self.available(code) for code in CHANNELS[channel])
        return max(0, pooled - self.buffers.get(channel, 0))

    def pick_reservation(self, pick: int) -> str:
        held = sorted(self.held)
        if held and pick < 6:
            return held[pick % len(held)]
        return RESERVATION_IDS[pick % len(RESERVATION_IDS)]

    # -- running one command ---------------------------------------------------------------

    def run(
        self,
        command: Callable[[], Any],
        *,
        broken: set[type[DomainError]],
        recorded: list[str],
    ) -> bool:
        """Run ``command``; True when it was accepted.

        ``broken`` holds the error classes of every rule the model says the command breaks:
        empty means it must be accepted and record exactly ``recorded`` (event class names).
        """
        inventory = self.inventory
        pending_before = len(inventory.pending_events)
        version_before = inventory.version
        state_before = deepcopy((inventory.stock, inventory.reservations, inventory.safety_buffers))
        try:
            command()
        except DomainError as refusal:
            assert broken, f"refused a valid command: {refusal!r}"  # noqa: PT017 - either outcome may be right
            assert type(refusal) in broken, f"{refusal!r} is none of {broken}"  # noqa: PT017
            assert len(inventory.pending_events) == pending_before, "refusal recorded events"
            assert inventory.version == version_before
            assert (
                inventory.stock,
                inventory.reservations,
                inventory.safety_buffers,
            ) == state_before, "refusal changed state"
            return False
        assert not broken, f"accepted a command breaking {broken}"
        new = inventory.collect_events()
        assert [type(event).__qualname__ for event in new] == recorded
        self.history.extend(new)
        return True

    # -- rules -----------------------------------------------------------------------------

    @initialize(opening=st.lists(st.integers(0, 40), min_size=3, max_size=3))
    def opening_stock(self, opening: list[int]) -> None:
        """Start most runs with some stock, so reservations and commits get going."""
        for location, quantity in zip(LOCATIONS, opening, strict=True):
            if quantity:
                self.receive(location, quantity)

    @rule(location=locations, quantity=st.integers(-2, 60))
    def receive(self, location: str, quantity: int) -> None:
        broken = {InvalidValue} if quantity <= 0 else set()
        if self.run(
            lambda: self.inventory.receive(location, quantity),
            broken=broken,
            recorded=["Inventory.StockReceived"],
        ):
            self.on_hand[location] += quantity
            self.net_units += quantity

    @rule(
        location=locations, reason=st.sampled_from(AdjustmentReason), quantity=st.integers(-40, 60)
    )
    def adjust(self, location: str, reason: AdjustmentReason, quantity: int) -> None:
        broken: set[type[DomainError]] = set()
        if reason is AdjustmentReason.CYCLE_COUNT:
            if quantity < 0:
                broken.add(InvalidValue)
            new_on_hand = quantity
        else:
            if quantity == 0 or (quantity > 0 and reason is not AdjustmentReason.CORRECTION):
                broken.add(InvalidValue)
            new_on_hand = self.on_hand[location] + quantity
        if not broken and new_on_hand < 0:
            broken.add(InsufficientStock)
        elif not broken and new_on_hand < self.reserved(location):
            broken.add(StockBelowReserved)
        if self.run(
            lambda: self.inventory.adjust(location, reason, quantity),
            broken=broken,
            recorded=["Inventory.StockAdjusted"],
        ):
            self.net_units += new_on_hand - self.on_hand[location]
            self.on_hand[location] = new_on_hand

    @rule(source=locations, destination=locations, quantity=st.integers(-1, 40))
    def transfer(self, source: str, destination: str, quantity: int) -> None:
        broken: set[type[DomainError]] = set()
        if quantity <= 0 or source == destination:
            broken.add(InvalidValue)
        if quantity > self.available(source):
            broken.add(InsufficientStock)
        if self.run(
            lambda: self.inventory.transfer(source, destination, quantity),
            broken=broken,
            recorded=["Inventory.StockTransferred"],
        ):
            self.on_hand[source] -= quantity
            self.on_hand[destination] += quantity

    @rule(
        reservation_id=reservation_ids,
        location=locations,
        quantity=st.integers(-1, 15),
        channel=st.one_of(st.none(), channels),
        reference=st.sampled_from(REFERENCES),
        expires_at=st.sampled_from(EXPIRIES),
    )
    def reserve(
        self,
        reservation_id: str,
        location: str,
        quantity: int,
        channel: str | None,
        reference: str,
        expires_at: datetime | None,
    ) -> None:
        wanted = Held(location, quantity, channel, reference, expires_at)
        # A reservation id names one hold forever, also after its release or shipment.
        existing = self.made.get(reservation_id)
        broken: set[type[DomainError]] = set()
        if quantity <= 0:
            broken.add(InvalidValue)
        elif existing is not None:
            if existing != wanted:
                broken.add(ReservationExists)
        else:
            if expires_at is not None and expires_at <= NOW:
                broken.add(InvalidValue)
            if quantity > self.available(location):
                broken.add(InsufficientStock)
            if channel is not None:
                if location not in CHANNELS[channel]:
                    broken.add(LocationNotInChannel)
                if quantity > self.atp(channel):
                    broken.add(InsufficientStock)
        repeat = existing is not None and existing == wanted
        made: list[bool] = []

        def command() -> None:
            made.append(
                self.inventory.reserve(
                    reservation_id,
                    location,
                    quantity,
                    reference=reference,
                    now=NOW,
                    channel=channel,
                    channel_locations=list(CHANNELS[channel]) if channel else None,
                    expires_at=expires_at,
                )
            )

        if self.run(command, broken=broken, recorded=[] if repeat else ["Inventory.StockReserved"]):
            assert made == [not repeat]
            if not repeat:
                self.held[reservation_id] = self.made[reservation_id] = wanted

    @rule(
        reservation_id=reservation_ids,
        channel=channels,
        which=st.integers(0, 1),
        extra=st.sampled_from([0, 1]),
    )
    def reserve_at_the_channel_limit(
        self, reservation_id: str, channel: str, which: int, extra: int
    ) -> None:
        """Aim at the boundary: exactly what the channel may promise, or one more."""
        location = CHANNELS[channel][which]
        quantity = max(1, self.atp(channel) + extra)
        self.reserve(reservation_id, location, quantity, channel, REFERENCES[0], None)

    @rule(pick=picks)
    def release(self, pick: int) -> None:
        reservation_id = self.pick_reservation(pick)
        broken = set() if reservation_id in self.held else {ReservationNotFound}
        if self.run(
            lambda: self.inventory.release(reservation_id),
            broken=broken,
            recorded=["Inventory.ReservationReleased"],
        ):
            del self.held[reservation_id]

    @rule(pick=picks, quantity=st.one_of(st.none(), st.integers(-1, 12)))
    def commit(self, pick: int, quantity: int | None) -> None:
        reservation_id = self.pick_reservation(pick)
        held = self.held.get(reservation_id)
        broken: set[type[DomainError]] = set()
        if held is None:
            broken.add(ReservationNotFound)
        elif quantity is not None and not 0 < quantity <= held.quantity:
            broken.add(InvalidValue)
        if self.run(
            lambda: self.inventory.commit(reservation_id, quantity),
            broken=broken,
            recorded=["Inventory.ReservationCommitted"],
        ):
            assert held is not None
            units = held.quantity if quantity is None else quantity
            self.on_hand[held.location] -= units
            self.net_units -= units
            if units == held.quantity:
                del self.held[reservation_id]
            else:
                self.held[reservation_id] = Held(
                    held.location,
                    held.quantity - units,
                    held.channel,
                    held.reference,
                    held.expires_at,
                )

    @rule(channel=channels, quantity=st.integers(-1, 12))
    def set_safety_buffer(self, channel: str, quantity: int) -> None:
        broken = {InvalidValue} if quantity < 0 else set()
        unchanged = self.buffers.get(channel, 0) == quantity
        if self.run(
            lambda: self.inventory.set_safety_buffer(channel, quantity),
            broken=broken,
            recorded=[] if unchanged else ["Inventory.SafetyBufferSet"],
        ):
            if quantity:
                self.buffers[channel] = quantity
            else:
                self.buffers.pop(channel, None)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def reserved_is_covered_by_on_hand_and_backed_by_reservations(self) -> None:
        assert set(self.inventory.stock) <= set(LOCATIONS)
        for location in LOCATIONS:
            stock = self.inventory.at(location)
            assert 0 <= stock.reserved <= stock.on_hand
            assert stock.reserved == sum(
                held.quantity
                for held in self.inventory.reservations.values()
                if held.location == location
            )
        assert all(held.quantity > 0 for held in self.inventory.reservations.values())

    @invariant()
    def channel_atp_is_pooled_availability_less_the_buffer(self) -> None:
        for channel, feeding in CHANNELS.items():
            atp = self.inventory.available_to_promise(channel, list(feeding))
            pooled = sum(self.inventory.at(code).available for code in feeding)
            assert atp >= 0
            assert atp == max(0, pooled - self.inventory.safety_buffers.get(channel, 0))
            assert atp == self.atp(channel)

    @invariant()
    def units_move_only_by_receipts_adjustments_and_commits(self) -> None:
        assert sum(self.inventory.at(code).on_hand for code in LOCATIONS) == self.net_units

    @invariant()
    def the_inventory_agrees_with_the_model(self) -> None:
        assert {code: self.inventory.at(code).on_hand for code in LOCATIONS} == self.on_hand
        assert {
            rid: Held(r.location, r.quantity, r.channel, r.reference, r.expires_at)
            for rid, r in self.inventory.reservations.items()
        } == self.held
        assert self.inventory.safety_buffers == self.buffers

    def teardown(self) -> None:
        rebuilt = replay(self.history)
        assert rebuilt.version == self.inventory.version == len(self.history)
        assert rebuilt.stock == self.inventory.stock
        assert rebuilt.reservations == self.inventory.reservations
        assert rebuilt.safety_buffers == self.inventory.safety_buffers


InventoryCommands.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, database=None
)
TestInventoryCommands = InventoryCommands.TestCase
