"""Commands saved together keep their own identity: metadata, positions, stored answers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from application.commands import Request
from application.context import CommandContext
from application.inventory import InventoryApp
from domain.identity import stream_id
from domain.inventory import Inventory
from domain.network import ChannelKind, LocationKind
from infrastructure.eventstore import application_env, make_mapper


def test_each_command_in_a_shared_save_keeps_its_actor_key_and_position(database: str) -> None:
    # Given a SKU and 24 callers, each acting as someone else with a key of its own
    app = InventoryApp(application_env(database, pool_size=4))
    try:
        app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
        app.put_channel("web", "Web", ChannelKind.WEB_SHOP, ["WH1"])
        app.register_sku("HOT", "Hot")
        app.receive("HOT", "WH1", 1000)
        now = datetime.now(UTC)
        barrier = threading.Barrier(24)

        def reserve(n: int) -> tuple[int, int | None]:
            request = Request(
                CommandContext(actor=f"actor-{n}", correlation_id=f"corr-{n}"),
                idempotency_key=f"key-{n}",
                fingerprint=f"fp-{n}",
            )
            barrier.wait()
            outcome = app.reserve(
                "HOT", f"r{n}", "WH1", 1, reference=f"o{n}", now=now, request=request
            )
            return n, outcome.position

        # When they all reserve at once (so their commands are decided and saved in batches)
        with ThreadPoolExecutor(24) as pool:
            answered = dict(pool.map(reserve, range(24)))

        # Then every stored reservation carries its own caller's metadata,
        mapper = make_mapper()
        seen: dict[int, int] = {}
        for notification in app.recorder.select_notifications(1, 1000):
            event, meta = mapper.decode(notification)
            if type(event).__qualname__ == "Inventory.StockReserved":
                n = int(event.reservation_id[1:])
                assert meta.actor == f"actor-{n}"
                assert meta.correlation_id == f"corr-{n}"
                assert meta.idempotency_key == f"key-{n}"
                seen[n] = notification.id
        # and each caller was told the position of its own event
        assert seen == answered
        # and a retry of any of them replays that same answer
        retry = app.reserve(
            "HOT",
            "r7",
            "WH1",
            1,
            reference="o7",
            now=now,
            request=Request(
                CommandContext(actor="actor-7"), idempotency_key="key-7", fingerprint="fp-7"
            ),
        )
        assert retry.replayed
        assert retry.position == answered[7]
        assert app.stock("HOT").at("WH1").reserved == 24
    finally:
        app.close()


def test_repeats_of_one_key_queued_in_one_batch_write_once(database: str) -> None:
    # Given a SKU whose lane is held by a slow command, so what follows queues up together
    app = InventoryApp(application_env(database, pool_size=4))
    try:
        app.put_location("WH1", "WH1", LocationKind.WAREHOUSE)
        app.register_sku("HOT", "Hot")
        sku = stream_id("sku", "HOT")
        entered, gate = threading.Event(), threading.Event()

        def slow(inventory: Inventory | None) -> tuple[Inventory, dict[str, Any]]:
            assert inventory is not None
            entered.set()
            gate.wait(10)
            inventory.receive("WH1", 1)
            return inventory, {}

        def receive(inventory: Inventory | None) -> tuple[Inventory, dict[str, Any]]:
            assert inventory is not None
            inventory.receive("WH1", 1)
            return inventory, {"on_hand": inventory.at("WH1").on_hand}

        same = Request(CommandContext(actor="shop"), idempotency_key="same", fingerprint="fp")
        with ThreadPoolExecutor(9) as pool:
            first = pool.submit(app.commands.run, sku, slow, Request())
            assert entered.wait(10)
            # When five retries of one request and three other commands queue behind it
            repeats = [pool.submit(app.commands.run, sku, receive, same) for _ in range(5)]
            others = [pool.submit(app.commands.run, sku, receive, Request()) for _ in range(3)]
            time.sleep(0.3)
            gate.set()
            first.result(timeout=30)
            answers = [future.result(timeout=30) for future in repeats]
            for future in others:
                future.result(timeout=30)

        # Then the repeated request was applied once, and every retry got that one answer
        assert len({(a.position, a.version) for a in answers}) == 1
        assert sorted(a.replayed for a in answers) == [False, True, True, True, True]
        assert app.stock("HOT").at("WH1").on_hand == 1 + 1 + 3
    finally:
        app.close()


def test_commands_on_different_aggregates_share_a_save_and_a_failing_one_sinks_none(
    database: str,
) -> None:
    # Given an application whose first save is slow (so the commands after it queue up) and
    # whose event store refuses any save that holds SKU "BAD"
    app = InventoryApp(application_env(database, pool_size=4))
    original = app.save
    sizes: list[int] = []
    first = threading.Event()

    def save(*objs: Any, **kwargs: Any) -> Any:
        sizes.append(len(objs))
        if not first.is_set():
            first.set()
            time.sleep(0.3)
        if any(getattr(obj, "sku", None) == "BAD" for obj in objs):
            raise ValueError("refused by the store")
        return original(*objs, **kwargs)

    app.save = save  # type: ignore[method-assign]
    try:
        codes = ["SLOW", *(f"S{n}" for n in range(10)), "BAD"]

        def register(code: str) -> Any:
            request = Request(
                CommandContext(actor=f"actor-{code}"),
                idempotency_key=f"key-{code}",
                fingerprint=f"fp-{code}",
            )
            try:
                return app.register_sku(code, code, request=request)
            except ValueError as error:
                return error

        # When twelve callers register twelve SKUs at once, one of them refused
        with ThreadPoolExecutor(12) as pool:
            slow = pool.submit(register, "SLOW")
            assert first.wait(10)
            rest = {code: pool.submit(register, code) for code in codes[1:]}
            answers = {code: future.result(timeout=30) for code, future in rest.items()}
            answers["SLOW"] = slow.result(timeout=30)

        # Then the commands queued behind the slow save were saved together,
        assert max(sizes) > 1
        # the refused one's caller alone got the error, and nothing of it was stored,
        assert isinstance(answers.pop("BAD"), ValueError)
        # every other caller got the position of its own event, with its own metadata
        mapper = make_mapper()
        stored: dict[str, tuple[int, str | None, str | None]] = {}
        for notification in app.recorder.select_notifications(1, 1000):
            event, meta = mapper.decode(notification)
            stored[event.sku] = (notification.id, meta.actor, meta.idempotency_key)
        assert set(stored) == set(answers)
        for code, outcome in answers.items():
            assert stored[code] == (outcome.position, f"actor-{code}", f"key-{code}")
        # and a retry replays the answer recorded in the shared save
        retry = app.register_sku(
            "S3",
            "S3",
            request=Request(
                CommandContext(actor="actor-S3"), idempotency_key="key-S3", fingerprint="fp-S3"
            ),
        )
        assert retry.replayed
        assert retry.position == answers["S3"].position
    finally:
        app.close()
