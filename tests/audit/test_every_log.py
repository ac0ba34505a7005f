"""Every application's log is chained, checkpointed and verified: stock, prices, orders, keys."""

from __future__ import annotations

import time

import psycopg

from api.services import Services
from infrastructure.audit.checkpoints import Checkpointer
from infrastructure.audit.signing import trusted_key
from infrastructure.audit.verify import DATA_ALTERED, Verifier
from tests.conftest import issue_key, settle
from tests.orders.support import CUSTOMER, SHIP_TO, lines, merchant


def _verify(database: str) -> list[str]:
    with psycopg.connect(database, autocommit=True) as conn:
        trusted = trusted_key(conn)
    report = Verifier(database, trusted).run()
    return [finding.line() for finding in report.findings]


def test_a_merchant_with_orders_verifies_clean_on_every_log_and_an_edit_to_any_is_found(
    services: Services, database: str
) -> None:
    # Given stock, prices, a placed and confirmed order (the saga writes into two logs) and a key
    merchant(services, {"TEE": {"NORTH": 5, "SOUTH": 5}})
    services.orders.place(
        channel="web",
        order_number="A-1",
        lines=lines("TEE", 2),
        currency="EUR",
        customer=CUSTOMER,
        ship_to=SHIP_TO,
    )
    settle(services)
    issue_key(services, "auditor")

    # When every log is checkpointed
    made = Checkpointer(database, None).checkpoint()

    # Then each log has a checkpoint and the store verifies clean
    assert {checkpoint.log for checkpoint in made} == {"access", "inventory", "orders", "pricing"}
    assert _verify(database) == []

    # And an edit to an order event is found and named
    with psycopg.connect(database) as conn:
        conn.execute(
            "UPDATE orders_events SET state = state || ' '::bytea WHERE notification_id = 1"
        )
    found = _verify(database)
    assert len(found) == 1
    assert found[0].startswith("orders #1 stream ")
    assert DATA_ALTERED in found[0]


def test_the_checkpoint_thread_signs_as_the_logs_grow_and_stops_when_told(
    services: Services, database: str
) -> None:
    services.inventory.register_sku("A-1", "first")
    thread, stop = Checkpointer(database, None, interval=0.1).start()
    try:

        def positions() -> list[int]:
            with psycopg.connect(database) as conn:
                exists = conn.execute("SELECT to_regclass('audit_checkpoints')").fetchone()
                if exists is None or exists[0] is None:
                    return []
                rows = conn.execute(
                    "SELECT position FROM audit_checkpoints WHERE log = 'inventory'"
                    " ORDER BY position"
                ).fetchall()
            return [row[0] for row in rows]

        deadline = time.monotonic() + 20
        while len(positions()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        services.inventory.register_sku("A-2", "second")
        while len(positions()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert positions() == [1, 2]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
