"""Random command sequences against one Order: its rules hold after every step.

A Hypothesis state machine places an order (delivery, click & collect or a store sale; paid
or not; with or without a payment deadline), usually confirms it with shipments split at
random over the locations, then runs a random sequence of commands -- legal and illegal --
while the clock moves on. Beside it runs a small independent model (order status, shipment
statuses, amounts, returns) that only says which rules a command breaks. Each command is then
either accepted -- exactly the expected events are recorded -- or refused with a DomainError
whose class is one of the broken rules; a refused command records nothing and changes nothing.

After every step:
  * the status agrees with the shipments' statuses (e.g. partially shipped: something left,
    something has not; delivered: everything not cancelled arrived);
  * 0 <= refunded <= captured <= authorised <= total;
  * for every line, returned <= shipped;
  * open_quantities() is the model's unshipped, uncancelled units per SKU while the order is
    open, and empty once it is final;
  * the order agrees with the model.
At the end of every run, replaying the recorded events rebuilds the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.allocation import plan_shipments
from domain.errors import DomainError, InvalidValue
from domain.order import (
    FINAL,
    OPEN,
    AmountExceeded,
    Disposition,
    Fulfilment,
    IllegalTransition,
    LineRequest,
    Order,
    OrderStatus,
    PaymentDeadlinePassed,
    PriceEvidence,
    ShipmentStatus,
    UnknownShipment,
)
from domain.routing import Pick, Routing
from tests.domain.support import NOW, replay

LOCATIONS = ("NORTH", "SOUTH", "STORE")
SKUS = ("A", "B", "C")
PRICES = (Decimal("0.01"), Decimal("2.50"), Decimal("9.99"), Decimal("10.00"))
DEADLINE = NOW + timedelta(hours=1)
CENT = Decimal("0.01")
SHIPMENT_NAMES = ("1", "2", "3", "9")  # "9" is never planned

WAITING = (ShipmentStatus.ALLOCATED, ShipmentStatus.PICKED, ShipmentStatus.PACKED)
LEFT = (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED)
SHIPPING = (OrderStatus.CONFIRMED, OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED)
# Each shipment step: the shipment status it needs, the one it leaves, the event it records.
STEPS = {
    "pick": (ShipmentStatus.ALLOCATED, ShipmentStatus.PICKED, "Order.ShipmentPicked"),
    "pack": (ShipmentStatus.PICKED, ShipmentStatus.PACKED, "Order.ShipmentPacked"),
    "ship": (ShipmentStatus.PACKED, ShipmentStatus.SHIPPED, "Order.ShipmentShipped"),
    "deliver": (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED, "Order.ShipmentDelivered"),
}
# How much to ask for, relative to what is left under the limit.
AMOUNTS = ("rest", "rest", "half", "cent", "over", "zero")


@dataclass(frozen=True)
class Placement:
    lines: list[LineRequest]
    fulfilment: Fulfilment
    payment: str | None  # None, "authorised" or "captured"
    deadline: datetime | None
    picks: tuple[Pick, ...]
    outcome: str  # "confirm", "reject" or "wait"
    pay_first: bool  # authorise the total at once (so runs get further) ...
    warmup: list[int]  # ... and take these shipments their next step


@st.composite
def placements(draw: st.DrawFn) -> Placement:
    lines = [
        LineRequest(
            draw(st.sampled_from(SKUS)), draw(st.integers(1, 4)), draw(st.sampled_from(PRICES))
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    fulfilment = draw(
        st.sampled_from([Fulfilment.DELIVERY] * 3 + [Fulfilment.PICKUP] * 2 + [Fulfilment.POS])
    )
    payment = draw(st.sampled_from([None, None, None, "authorised", "captured"]))
    if fulfilment is Fulfilment.POS and payment is None:
        payment = "captured"  # a store sale is paid at the till
    deadline = draw(st.sampled_from([DEADLINE, DEADLINE, None]))
    picks: list[Pick] = []
    for number, line in enumerate(lines, start=1):
        if fulfilment is Fulfilment.DELIVERY:
            # Each unit from a random location: a line may be split over several.
            units = draw(
                st.lists(st.sampled_from(LOCATIONS), min_size=line.quantity, max_size=line.quantity)
            )
            where = list(dict.fromkeys(units))
            picks.extend(Pick(number, line.sku, code, units.count(code)) for code in where)
        else:
            picks.append(Pick(number, line.sku, "STORE", line.quantity))
    outcome = draw(st.sampled_from(["confirm", "confirm", "confirm", "confirm", "reject", "wait"]))
    warmup = draw(st.lists(st.integers(0, 3), max_size=10))
    pay_first = draw(st.booleans())
    return Placement(lines, fulfilment, payment, deadline, tuple(picks), outcome, pay_first, warmup)


class OrderCommands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.history: list[Any] = []

    # -- the model's view ------------------------------------------------------------------

    @property
    def paid(self) -> bool:
        return self.authorised >= self.total or self.captured >= self.total

    def shipped(self, line: int) -> int:
        return sum(
            quantity
            for name, items in self.contents.items()
            if self.shipment_status[name] in LEFT
            for number, _, quantity in items
            if number == line
        )

    def unshipped(self) -> dict[str, int]:
        units: dict[str, int] = {}
        for name, items in self.contents.items():
            if self.shipment_status[name] in WAITING:
                for _, sku, quantity in items:
                    units[sku] = units.get(sku, 0) + quantity
        return units

    def settle(self) -> None:
        """The order's status from its shipments', once something has left."""
        live = [s for s in self.shipment_status.values() if s is not ShipmentStatus.CANCELLED]
        if all(s is ShipmentStatus.DELIVERED for s in live):
            self.status = OrderStatus.DELIVERED
        elif all(s in LEFT for s in live):
            self.status = OrderStatus.SHIPPED
        else:
            self.status = OrderStatus.PARTIALLY_SHIPPED

    def amount(self, kind: str, limit: Decimal, used: Decimal) -> Decimal:
        rest = limit - used
        return {
            "rest": rest,
            "half": (rest / 2).quantize(CENT),
            "cent": CENT,
            "over": rest + CENT,
            "zero": Decimal("0.00"),
        }[kind]

    # -- running one command ---------------------------------------------------------------

    def state(self) -> Any:
        order = self.order
        return deepcopy(
            (
                order.status,
                order.shipments,
                order.authorised,
                order.captured,
                order.refunded,
                order.returned,
                order.closed_reason,
                order.routing_reason,
                order.version,
            )
        )

    def run(
        self, command: Callable[[], Any], *, broken: set[type[DomainError]], recorded: list[str]
    ) -> bool:
        """Run ``command``; True when it was accepted.

        ``broken`` holds the error classes of every rule the model says the command breaks:
        empty means it must be accepted and record exactly ``recorded`` (event class names).
        """
        order = self.order
        pending_before = len(order.pending_events)
        before = self.state()
        try:
            command()
        except DomainError as refusal:
            assert broken, f"refused a valid command: {refusal!r}"  # noqa: PT017 - either outcome may be right
            assert type(refusal) in broken, f"{refusal!r} is none of {broken}"  # noqa: PT017
            assert len(order.pending_events) == pending_before, "refusal recorded events"
            assert self.state() == before, "refusal changed state"
            return False
        assert not broken, f"accepted a command breaking {broken}"
        new = order.collect_events()
        assert [type(event).__qualname__ for event in new] == recorded
        self.history.extend(new)
        return True

    # -- placing and the stock outcome -------------------------------------------------------

    @initialize(placement=placements())
    def place(self, placement: Placement) -> None:
        total = sum((line.unit_price * line.quantity for line in placement.lines), Decimal(0))
        payment = (
            None
            if placement.payment is None
            else {"status": placement.payment, "reference": "PSP-0", "amount": total}
        )
        store = placement.fulfilment is not Fulfilment.DELIVERY
        self.order = Order.place(
            channel="web",
            order_number="P-1",
            lines=placement.lines,
            evidence=[
                PriceEvidence(line.unit_price, line.unit_price, (), 1, 1)
                for line in placement.lines
            ],
            currency="EUR",
            customer=None,
            ship_to=None if store else {"name": "N", "line1": "L", "city": "C", "country": "DE"},
            fulfilment=placement.fulfilment,
            pickup_location="STORE" if store else None,
            split_allowed=True,
            payment_due_by=placement.deadline,
            payment=payment,
            now=NOW,
        )
        self.history.extend(self.order.collect_events())
        # The model.
        self.fulfilment = placement.fulfilment
        self.lines = {n: (line.sku, line.quantity) for n, line in enumerate(placement.lines, 1)}
        self.total = total
        self.authorised = Decimal(0) if payment is None else total
        self.captured = total if placement.payment == "captured" else Decimal(0)
        self.refunded = Decimal(0)
        self.deadline = None if payment is not None else placement.deadline
        self.status = OrderStatus.PLACED
        self.planned = plan_shipments(self.order.id, Routing(placement.picks, (), "test"))
        self.contents: dict[str, list[tuple[int, str, int]]] = {}
        self.shipment_status: dict[str, ShipmentStatus] = {}
        self.returned: dict[int, int] = {}
        if placement.outcome != "wait":
            self.decide(placement.outcome)
        if placement.pay_first:
            self.authorise("rest")
        for pick in placement.warmup:
            self.advance(pick)

    @rule(outcome=st.sampled_from(["confirm", "reject"]))
    def decide(self, outcome: str) -> None:
        """The reservation saga's outcome: acted on only while the order waits for it."""
        waiting = self.status is OrderStatus.PLACED
        recorded: list[str] = []
        if waiting and outcome == "confirm":
            recorded = ["Order.OrderConfirmed"]
            if self.fulfilment is Fulfilment.POS:
                recorded += ["Order.ShipmentShipped", "Order.ShipmentDelivered"] * len(self.planned)
        elif waiting:
            recorded = ["Order.OrderRejected"]
        answers: list[bool] = []
        if outcome == "confirm":
            command = lambda: answers.append(self.order.confirm(self.planned, "test", self.now))  # noqa: E731
        else:
            command = lambda: answers.append(self.order.reject("no stock", [], self.now))  # noqa: E731
        assert self.run(command, broken=set(), recorded=recorded)
        assert answers == [waiting]
        if not waiting:
            return
        if outcome == "reject":
            self.status = OrderStatus.REJECTED
            return
        self.status = OrderStatus.CONFIRMED
        for shipment in self.planned:
            name = shipment["shipment"]
            self.contents[name] = [(i["line"], i["sku"], i["quantity"]) for i in shipment["lines"]]
            self.shipment_status[name] = ShipmentStatus.ALLOCATED
        if self.fulfilment is Fulfilment.POS:
            self.shipment_status = dict.fromkeys(self.shipment_status, ShipmentStatus.DELIVERED)
            self.status = OrderStatus.DELIVERED

    # -- the clock -------------------------------------------------------------------------

    @rule(minutes=st.sampled_from([0, 1, 10, 30, 45]))
    def tick(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    # -- payment ---------------------------------------------------------------------------

    @rule(kind=st.sampled_from(AMOUNTS))
    def authorise(self, kind: str) -> None:
        amount = self.amount(kind, self.total, self.authorised)
        broken: set[type[DomainError]] = set()
        if self.status not in (*SHIPPING, OrderStatus.DELIVERED):
            broken.add(IllegalTransition)
        if self.deadline is not None and self.now >= self.deadline and not self.paid:
            broken.add(PaymentDeadlinePassed)
        if amount <= 0 or self.authorised + amount > self.total:
            broken.add(AmountExceeded)
        if self.run(
            lambda: self.order.authorise_payment(amount, "PSP-1", self.now),
            broken=broken,
            recorded=["Order.PaymentAuthorised"],
        ):
            self.authorised += amount

    @rule(kind=st.sampled_from(AMOUNTS))
    def capture(self, kind: str) -> None:
        amount = self.amount(kind, self.authorised, self.captured)
        broken: set[type[DomainError]] = set()
        if self.status in FINAL:
            broken.add(IllegalTransition)
        if amount <= 0 or self.captured + amount > self.authorised:
            broken.add(AmountExceeded)
        if self.run(
            lambda: self.order.capture_payment(amount, "PSP-1", self.now),
            broken=broken,
            recorded=["Order.PaymentCaptured"],
        ):
            self.captured += amount

    @rule(kind=st.sampled_from(AMOUNTS))
    def refund(self, kind: str) -> None:
        amount = self.amount(kind, self.captured, self.refunded)
        broken: set[type[DomainError]] = set()
        if amount <= 0 or self.refunded + amount > self.captured:
            broken.add(AmountExceeded)
        if self.run(
            lambda: self.order.refund(f"RF-{self.order.version}", amount, "PSP-1", self.now),
            broken=broken,
            recorded=["Order.RefundRecorded"],
        ):
            self.refunded += amount

    # -- shipments -------------------------------------------------------------------------

    @rule(action=st.sampled_from(sorted(STEPS)), shipment=st.sampled_from(SHIPMENT_NAMES))
    def step(self, action: str, shipment: str) -> None:
        needs, leaves, event_name = STEPS[action]
        broken: set[type[DomainError]] = set()
        if action == "ship" and self.fulfilment is not Fulfilment.DELIVERY:
            broken.add(IllegalTransition)
        if self.status not in SHIPPING:
            broken.add(IllegalTransition)
        if shipment not in self.shipment_status:
            broken.add(UnknownShipment)
        elif self.shipment_status[shipment] is not needs:
            broken.add(IllegalTransition)
        if action == "ship" and not self.paid:
            broken.add(IllegalTransition)
        if self.run(
            lambda: getattr(self.order, action)(shipment, self.now),
            broken=broken,
            recorded=[event_name],
        ):
            self.shipment_status[shipment] = leaves
            if leaves in LEFT:
                self.settle()

    @rule(pick=st.integers(0, 3))
    def advance(self, pick: int) -> None:
        """Take the next step a shipment is due for, so orders get shipped and delivered."""
        names = sorted(self.shipment_status) or ["1"]
        shipment = names[pick % len(names)]
        due = {needs: action for action, (needs, _, _) in STEPS.items()}
        action = due.get(self.shipment_status.get(shipment, ShipmentStatus.ALLOCATED), "pick")
        self.step(action, shipment)

    @rule()
    def collect(self) -> None:
        broken: set[type[DomainError]] = set()
        if self.fulfilment is not Fulfilment.PICKUP:
            broken.add(IllegalTransition)
        if self.status is not OrderStatus.CONFIRMED:
            broken.add(IllegalTransition)
        if not self.paid:
            broken.add(IllegalTransition)
        recorded = ["Order.ShipmentShipped", "Order.ShipmentDelivered"] * len(self.shipment_status)
        if self.run(lambda: self.order.collect(self.now), broken=broken, recorded=recorded):
            self.shipment_status = dict.fromkeys(self.shipment_status, ShipmentStatus.DELIVERED)
            self.status = OrderStatus.DELIVERED

    # -- ending early ----------------------------------------------------------------------

    @rule(reason=st.sampled_from(["changed my mind", "changed my mind", " "]))
    def cancel(self, reason: str) -> None:
        broken: set[type[DomainError]] = set()
        if not reason.strip():
            broken.add(InvalidValue)
        if self.status not in (
            OrderStatus.PLACED,
            OrderStatus.CONFIRMED,
            OrderStatus.PARTIALLY_SHIPPED,
        ):
            broken.add(IllegalTransition)
        if self.run(
            lambda: self.order.cancel(reason, self.now),
            broken=broken,
            recorded=["Order.OrderCancelled"],
        ):
            self.cancel_unshipped()
            if any(s in LEFT for s in self.shipment_status.values()):
                self.settle()
            else:
                self.status = OrderStatus.CANCELLED

    @rule()
    def expire(self) -> None:
        broken: set[type[DomainError]] = set()
        if self.status not in (OrderStatus.PLACED, OrderStatus.CONFIRMED):
            broken.add(IllegalTransition)
        if self.deadline is None or self.paid or self.now < self.deadline:
            broken.add(IllegalTransition)
        if self.run(
            lambda: self.order.expire(self.now), broken=broken, recorded=["Order.OrderExpired"]
        ):
            self.cancel_unshipped()
            self.status = OrderStatus.EXPIRED

    def cancel_unshipped(self) -> None:
        for name, status in self.shipment_status.items():
            if status in WAITING:
                self.shipment_status[name] = ShipmentStatus.CANCELLED

    # -- returns ---------------------------------------------------------------------------

    @rule(
        returned=st.dictionaries(st.integers(1, 4), st.integers(1, 2), min_size=1, max_size=2),
        disposition=st.sampled_from(Disposition),
    )
    def record_return(self, returned: dict[int, int], disposition: Disposition) -> None:
        broken: set[type[DomainError]] = set()
        for line, quantity in returned.items():
            if line not in self.lines:
                broken.add(InvalidValue)
            elif quantity > self.shipped(line) - self.returned.get(line, 0):
                broken.add(AmountExceeded)
        if self.run(
            lambda: self.order.record_return(
                f"RT-{self.order.version}", returned, "NORTH", disposition, self.now
            ),
            broken=broken,
            recorded=["Order.ReturnRecorded"],
        ):
            for line, quantity in returned.items():
                self.returned[line] = self.returned.get(line, 0) + quantity

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def the_status_agrees_with_the_shipments(self) -> None:
        status = self.order.status
        shipments = [s["status"] for s in self.order.shipments.values()]
        live = [s for s in shipments if s != ShipmentStatus.CANCELLED]
        left = [s for s in live if s in LEFT]
        waiting = [s for s in live if s in WAITING]
        if status in (OrderStatus.PLACED, OrderStatus.REJECTED):
            assert shipments == []
        elif status is OrderStatus.CONFIRMED:
            assert shipments
            assert all(s in WAITING for s in shipments)
        elif status is OrderStatus.PARTIALLY_SHIPPED:
            assert left
            assert waiting
        elif status is OrderStatus.SHIPPED:
            assert left
            assert not waiting
            assert ShipmentStatus.SHIPPED in left
        elif status is OrderStatus.DELIVERED:
            assert live
            assert all(s == ShipmentStatus.DELIVERED for s in live)
        else:
            assert status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED)
            assert all(s == ShipmentStatus.CANCELLED for s in shipments)

    @invariant()
    def money_never_runs_ahead_of_what_backs_it(self) -> None:
        order = self.order
        assert 0 <= order.refunded <= order.captured <= order.authorised <= order.total
        assert order.paid == self.paid

    @invariant()
    def nothing_comes_back_that_did_not_leave(self) -> None:
        for line in self.lines:
            assert 0 <= self.order.returned.get(line, 0) <= self.order.shipped_quantity(line)

    @invariant()
    def open_quantities_are_the_units_still_to_ship(self) -> None:
        held = self.order.open_quantities()
        if self.order.status in OPEN:
            assert held == self.unshipped()
        else:
            assert held == {}
        if self.order.status in FINAL:
            assert self.unshipped() == {}

    @invariant()
    def the_order_agrees_with_the_model(self) -> None:
        order = self.order
        assert order.status is self.status
        assert {name: s["status"] for name, s in order.shipments.items()} == self.shipment_status
        assert (order.authorised, order.captured, order.refunded) == (
            self.authorised,
            self.captured,
            self.refunded,
        )
        assert {line: n for line, n in order.returned.items() if n} == self.returned

    def teardown(self) -> None:
        if not self.history:
            return
        rebuilt = replay(self.history)
        assert rebuilt.version == self.order.version == len(self.history)
        assert rebuilt.status == self.order.status
        assert rebuilt.shipments == self.order.shipments
        assert (rebuilt.authorised, rebuilt.captured, rebuilt.refunded) == (
            self.order.authorised,
            self.order.captured,
            self.order.refunded,
        )
        assert rebuilt.returned == self.order.returned
        assert rebuilt.open_quantities() == self.order.open_quantities()


OrderCommands.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, database=None
)
TestOrderCommands = OrderCommands.TestCase
