"""A process manager's position moves only forward, and a write carrying a position it is
already past is rolled back whole: its events are not stored."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from api.services import Services
from application.processes import ProcessMark
from domain.resource import SlotKind


def test_a_write_for_a_position_already_taken_stores_nothing(services: Services) -> None:
    # Given a process that wrote for position 10
    app = services.bookings
    app.put_resource("R1", "Room", "standard", SlotKind.NIGHT, 5)
    first = app.resource("R1")
    first.set_capacity(6)
    app.save(first, process_mark=ProcessMark("p", "bookings", 10))
    assert app.recorder.process_position("p", "bookings") == 10
    # When another instance writes for the same position
    second = app.resource("R1")
    second.set_capacity(7)
    with pytest.raises(IntegrityError):
        app.save(second, process_mark=ProcessMark("p", "bookings", 10))
    # Then its events were rolled back and the position stands
    assert app.resource("R1").capacity == 6
    assert app.recorder.process_position("p", "bookings") == 10
    # and stepping over events moves only forward
    assert app.recorder.advance_process(ProcessMark("p", "bookings", 9)) is False
    assert app.recorder.advance_process(ProcessMark("p", "bookings", 12)) is True
    assert app.recorder.process_position("p", "bookings") == 12
