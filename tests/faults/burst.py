"""A burst of commands over HTTP with a fault in the middle, and the checks that follow.

Each command carries an idempotency key (an order its order number). A command is
*acknowledged* when the API answered it (2xx, or 409 for a business refusal); one that got
no answer (a connection error, a 5xx while a server was down) is retried with the same key
after the fault until it is answered, as a client would. The checks then prove that every
acknowledged command is in the store exactly once and that everything downstream agrees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg.sql import SQL, Identifier

from api.services import Services
from domain.order import OrderStatus
from infrastructure.log_reader import LOGS
from projections.rebuild import READ_MODELS, differences, rebuild
from tests.faults.support import read_stream, report, wait_until
from tests.faults.system import System, wait_settled

ADDRESS = {
    "name": "Erika Mustermann",
    "line1": "Marienplatz 1",
    "city": "München",
    "country": "DE",
    "latitude": "48.137",
    "longitude": "11.575",
}


@dataclass
class Command:
    kind: str  # receipt | reservation | order
    key: str
    path: str
    body: dict[str, Any]
    status: int | None = None  # None: never answered

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and (self.status < 400 or self.status == 409)


@dataclass
class Burst:
    tag: str
    commands: list[Command] = field(default_factory=list)
    unanswered_during_fault: int = 0

    def of(self, kind: str, status: int | None = None) -> list[Command]:
        return [
            c for c in self.commands if c.kind == kind and (status is None or c.status == status)
        ]


def commands(tag: str, count: int) -> list[Command]:
    sku = f"F-{tag}"
    made: list[Command] = []
    for n in range(count):
        if n % 3 == 0:
            made.append(
                Command(
                    "receipt",
                    f"{tag}-r{n}",
                    f"/v1/skus/{sku}/receipts",
                    {"location": "NORTH", "quantity": 1},
                )
            )
        elif n % 3 == 1:
            made.append(
                Command(
                    "reservation",
                    f"{tag}-s{n}",
                    f"/v1/skus/{sku}/reservations",
                    {
                        "reservation_id": f"{tag}-s{n}",
                        "location": "NORTH",
                        "quantity": 1,
                        "reference": f"{tag}-{n}",
                    },
                )
            )
        else:
            made.append(
                Command(
                    "order",
                    f"{tag}-o{n}",
                    "/v1/channels/web/orders",
                    {
                        "order_number": f"{tag}-o{n}",
                        "lines": [
                            {
                                "sku": "TEE",
                                "quantity": 1,
                                "unit_price": {"amount": "19.90", "currency": "EUR"},
                            }
                        ],
                        "customer": {"name": "Erika Mustermann", "email": "erika@example.com"},
                        "ship_to": ADDRESS,
                    },
                )
            )
    return made


def _send(client: httpx.Client, command: Command) -> None:
    try:
        answer = client.post(
            command.path, json=command.body, headers={"Idempotency-Key": command.key}
        )
    except httpx.HTTPError:
        command.status = None
        return
    if answer.status_code >= 500 or answer.status_code == 429:
        command.status = None
        return
    assert answer.status_code in (200, 201, 409), (command.key, answer.status_code, answer.text)
    command.status = answer.status_code


def run_burst(system: System, token: str, tag: str, count: int, fault: Callable[[], None]) -> Burst:
    """Send ``count`` commands; inject ``fault`` once a third of them were answered."""
    burst = Burst(tag, commands(tag, count))
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=system.url, headers=headers, timeout=5) as client:
        answer = client.put(f"/v1/skus/F-{tag}", json={"name": f"fault {tag}"})
        assert answer.status_code in (200, 201), answer.text
        sent = threading.Event()
        progress = [0]

        def send_all() -> None:
            for command in burst.commands:
                _send(client, command)
                progress[0] += 1
            sent.set()

        sender = threading.Thread(target=send_all)
        sender.start()
        wait_until(lambda: progress[0] >= count // 3, "a third of the burst")
        fault()
        sender.join()
        burst.unanswered_during_fault = sum(1 for c in burst.commands if c.status is None)
        # The client retries what got no answer, with the same keys, until answered.
        deadline = time.monotonic() + 90
        while unanswered := [c for c in burst.commands if c.status is None]:
            assert time.monotonic() < deadline, f"{len(unanswered)} commands never answered"
            for command in unanswered:
                _send(client, command)
            time.sleep(0.1 if any(c.status is None for c in unanswered) else 0)
    return burst


def check(fault: str, system: System, services: Services, burst: Burst) -> str:
    """Everything that must hold after a fault; returns the report line with the counts."""
    wait_settled(services, system.database)
    database = system.database
    sku = f"F-{burst.tag}"
    with psycopg.connect(database, autocommit=True) as conn:
        stock = conn.execute(
            "SELECT on_hand, reserved FROM atp.stock WHERE sku = %s AND location = 'NORTH'",
            (sku,),
        ).fetchone()
        keys = {
            str(row[0]).rsplit(":", 1)[-1]
            for row in conn.execute(
                "SELECT key FROM inventory_idempotency WHERE key LIKE %s", (f"%:{burst.tag}-%",)
            ).fetchall()
        }
        violations = conn.execute(
            "SELECT count(*) FROM atp.stock WHERE reserved > on_hand OR reserved < 0"
        ).fetchone()
        negative_atp = conn.execute(
            "SELECT count(*) FROM atp.availability WHERE atp < 0"
        ).fetchone()
    receipts = burst.of("receipt")
    reserved = burst.of("reservation", 201)

    # No acknowledged command lost, none applied twice
    assert all(c.acknowledged for c in burst.commands)
    written = {c.key for c in receipts + reserved}
    assert written <= keys, f"acknowledged but not stored: {sorted(written - keys)}"
    assert stock is not None
    assert stock[0] == len(receipts), "each receipt stored exactly once"
    assert stock[1] == len(reserved), "each reservation stored exactly once"
    orders = [services.orders.order("web", c.key) for c in burst.of("order")]
    assert all(order.status != OrderStatus.PLACED for order in orders), "the saga decided all"
    confirmed = sum(1 for order in orders if order.status == OrderStatus.CONFIRMED)

    # Stock invariants
    assert violations == (0,)
    assert negative_atp == (0,)

    # Every stored event on the stream once, in log order
    stored = _stored(database)
    stream = read_stream(system.nats.url)
    assert stream.duplicates == 0
    for log, ids in stored.items():
        assert stream.positions.get(log, []) == ids, f"{log} log differs from the stream"
    events = sum(len(ids) for ids in stored.values())
    assert stream.messages == events

    # The connector handled every event once; its downstream saw each at least once
    def connector_done() -> bool:
        return _handled(database) == events

    wait_until(connector_done, "the connector to handle every event", 90)
    assert len(system.receiver.distinct()) == events

    # Read models equal a rebuild from position 0
    for model in ("atp", "pricing", "orders"):
        staging = f"{model}_faultcheck"
        rebuild(database, model, staging)
        assert differences(database, model, staging, READ_MODELS[model][2]) == {}, model
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(staging)))

    return report(
        fault,
        commands_sent=len(burst.commands),
        unanswered_during_fault=burst.unanswered_during_fault,
        acknowledged=sum(1 for c in burst.commands if c.acknowledged),
        receipts=len(receipts),
        reservations_made=len(reserved),
        orders_placed=len(orders),
        orders_confirmed=confirmed,
        events_stored=events,
        events_in_stream=stream.messages,
        events_handled_by_connector=events,
        webhook_deliveries=system.receiver.total(),
        read_models_equal_rebuild=3,
    )


def _stored(database: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    with psycopg.connect(database, autocommit=True) as conn:
        for log in LOGS:
            table = f"{log}_events"
            exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if exists is None or exists[0] is None:
                continue
            rows = conn.execute(
                SQL("SELECT notification_id FROM {} ORDER BY 1").format(Identifier(table))
            ).fetchall()
            if rows:
                found[log] = [int(row[0]) for row in rows]
    return found


def _handled(database: str) -> int:
    with psycopg.connect(database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM connector_handled WHERE connector = 'hooks'"
        ).fetchone()
    return int(row[0]) if row else 0
