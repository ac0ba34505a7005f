"""``ledgerline``: the command line, and the composition root for running processes."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import psycopg
import structlog
import uvicorn

from api.app import create_app
from api.audit_cli import add_audit_commands, start_checkpoints
from api.bootstrap import build_services
from api.console.cli import add_console_commands
from api.demo import CHANNELS, load_demo
from api.privacy_cli import add_privacy_commands
from api.server import body_timeout_from_env, limits_from_env, server_config
from api.services import Services
from api.workers import add_serve_command, add_worker_commands, run_worker
from application.access import AccessApp
from application.commands import Request as CommandRequest
from application.context import CommandContext
from application.demand_pricing import DemandPricing
from application.orders import OrderSettings
from domain.errors import DomainError
from infrastructure.connectors.config import ConfigError, load
from infrastructure.connectors.runtime import ConnectorRunner
from infrastructure.connectors.start import Start
from infrastructure.connectors.tail import tail
from infrastructure.eventstore import application_env
from infrastructure.log import configure_logging
from infrastructure.privacy import MasterKeyMissing
from infrastructure.public_events.docs import write as write_event_docs
from infrastructure.relay import Relay, start_in_thread
from infrastructure.servers import ServerUrls, describe, running_servers
from infrastructure.settings import Settings, get_settings
from projections.demand_view import DemandReadModels
from projections.kpis import kpi_followers
from projections.price_queries import PriceQueries
from projections.rebuild import READ_MODELS, differences, rebuild, swap_in

log = structlog.get_logger("ledgerline")


@contextmanager
def _services(settings: Settings) -> Iterator[tuple[ServerUrls, Services]]:
    with running_servers(settings) as urls:
        services = build_services(
            urls.database_url,
            urls.nats_url,
            pool_size=settings.pool_size,
            rate_per_second=settings.rate_per_second,
            burst=settings.rate_burst,
            order_settings=OrderSettings(
                price_tolerance_percent=settings.price_tolerance_percent,
                payment_window=timedelta(seconds=settings.payment_window_seconds),
                location_priority=settings.location_priority,
            ),
        )
        try:
            yield urls, services
        finally:
            services.close()


def cmd_up(args: argparse.Namespace) -> int:
    """API, read models, relay and pricing rules in one process (embedded servers by default)."""
    settings = get_settings()
    with _services(settings) as (urls, services):
        running = [follower.start() for follower in services.followers()]
        running.extend(follower.start() for follower in kpi_followers(urls.database_url))
        running.append(start_in_thread(Relay(urls.database_url, urls.nats_url)))
        running.append(DemandPricing(services.pricing, DemandReadModels(urls.database_url)).start())
        running.extend(process.start() for process in services.saga.processes())
        running.append(services.expiry.start())
        running.append(services.rebooking.process.start())
        running.append(services.booking_expiry.start())
        running.append(start_checkpoints(urls.database_url, urls.nats_url))
        new_keys: list[tuple[str, str]] = []
        if not services.access.has_keys():
            # A new store: the first admin key is made here and shown this once.
            new_keys.append(("admin", _issue(services, "bootstrap admin", ["admin"])))
        if args.demo:
            load_demo(services.inventory, services.pricing)
            for code, *_ in CHANNELS:
                new_keys.append(
                    (f"channel:{code}", _issue(services, f"demo {code}", [f"channel:{code}"]))
                )
        url = f"http://{settings.host}:{args.port or settings.port}"
        print(f"Ledgerline is up at {url}", flush=True)
        print(f"  PostgreSQL: {describe(urls.database_url)}", flush=True)
        print(f"  NATS:       {urls.nats_url}", flush=True)
        print(f"  OpenAPI:    {url}/schema", flush=True)
        if new_keys:
            print("  New API keys (shown this once; only their hashes are stored):")
            for role, token in new_keys:
                print(f"    {role:<22} {token}", flush=True)
        if args.demo:
            example = next((t for r, t in new_keys if r == "channel:web"), "<key>")
            print(
                f"  Try: curl -H 'Authorization: Bearer {example}' "
                f"'{url}/v1/channels/web/availability?sku=DEMO-001&sku=DEMO-002'",
                flush=True,
            )
        try:
            app = create_app(
                services,
                max_body_bytes=settings.max_body_bytes,
                body_timeout=body_timeout_from_env(),
            )
            port = args.port or settings.port
            config = server_config(app, settings.host, port, limits_from_env())
            # Console pages hold server-sent event streams open; don't wait on them.
            config.timeout_graceful_shutdown = 5
            uvicorn.Server(config).run()
        finally:
            for _, stop in running:
                stop.set()
            for thread, _ in running:
                thread.join(timeout=10)
    return 0


def cmd_relay(args: argparse.Namespace) -> int:
    """Only the relay: every published log onto NATS JetStream. Several may run: one
    publishes, the others stand by (api/workers.py)."""
    return run_worker("relay")


def cmd_process(args: argparse.Namespace) -> int:
    """One process manager on its own, until SIGTERM (production topology, crash tests)."""
    settings = get_settings()
    with _services(settings) as (_, services):
        if args.name == "order-saga":
            running = [process.start() for process in services.saga.processes()]
            running.append(services.expiry.start())
        else:
            running = [services.rebooking.process.start(), services.booking_expiry.start()]
        print(f"running {args.name}", flush=True)
        try:
            threading.Event().wait()
        finally:
            for _, stop in running:
                stop.set()
            for thread, _ in running:
                thread.join(timeout=10)
    return 0


def _until_signalled(work: Callable[[asyncio.Event], Awaitable[object]]) -> None:
    """Run ``work(stop)`` on a new event loop; SIGTERM or SIGINT sets ``stop``.

    The handlers replace the KeyboardInterrupt one, so an in-flight handler finishes.
    """

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await work(stop)

    asyncio.run(main())


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("LEDGERLINE_CONNECTORS") or "connectors.toml")


def cmd_connector_run(args: argparse.Namespace) -> int:
    """One connector, until SIGTERM: it finishes the event in hand, then stops."""
    try:
        spec = load(_config_path(args), args.name, PriceQueries())
        start = Start.parse(args.start) if args.start else spec.start
    except (ConfigError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    with running_servers(get_settings()) as urls:
        runner = ConnectorRunner(spec.connector, urls.database_url, urls.nats_url, spec.options)
        _until_signalled(lambda stop: runner.run(stop, start))
    return 0


def cmd_connector_replay(args: argparse.Namespace) -> int:
    """Move a connector's consumer to a new start; the next (or running) worker goes on."""
    try:
        spec = load(_config_path(args), args.name, PriceQueries())
        start = Start.parse(args.start)
    except (ConfigError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    if args.forget_handled and start.kind != "beginning":
        print(
            "--forget-handled rebuilds from scratch: use it with --from beginning", file=sys.stderr
        )
        return 2
    with running_servers(get_settings()) as urls:
        runner = ConnectorRunner(spec.connector, urls.database_url, urls.nats_url, spec.options)
        asyncio.run(runner.reposition(start, forget_handled=args.forget_handled))
    print(f"connector {args.name} will replay from {args.start}")
    return 0


def cmd_events_tail(args: argparse.Namespace) -> int:
    """Events on JetStream as JSON lines, live."""
    try:
        start = Start.parse(args.start)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    with running_servers(get_settings()) as urls:
        _until_signalled(
            lambda stop: tail(
                urls.nats_url, stop, subject=args.subject, start=start, limit=args.limit
            )
        )
    return 0


def cmd_events_schema(args: argparse.Namespace) -> int:
    """Regenerate docs/events.md and docs/schemas/ from the public event types."""
    for path in write_event_docs(Path(args.docs)):
        print(path)
    return 0


def _issue(services: Services, name: str, roles: list[str]) -> str:
    issued = services.access.issue_key(
        name, roles, now=datetime.now(UTC), request=CommandRequest(CommandContext(actor="cli"))
    )
    assert issued.token is not None
    return issued.token


@contextmanager
def _access(settings: Settings) -> Iterator[AccessApp]:
    with running_servers(settings) as urls:
        access = AccessApp(application_env(urls.database_url, pool_size=1))
        try:
            yield access
        finally:
            access.close()


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Issue a key and print its token once."""
    expires = datetime.fromisoformat(args.expires_at) if args.expires_at else None
    if expires is not None and expires.tzinfo is None:
        print("--expires-at needs a time zone, e.g. 2027-01-01T00:00:00Z", file=sys.stderr)
        return 2
    with _access(get_settings()) as access:
        issued = access.issue_key(
            args.name,
            args.role,
            now=datetime.now(UTC),
            expires_at=expires,
            request=CommandRequest(CommandContext(actor="cli")),
        )
    print(json.dumps({**issued.outcome.body, "token": issued.token}, indent=2))
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    with _access(get_settings()) as access:
        print(json.dumps(access.keys(), indent=2))
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    with _access(get_settings()) as access:
        outcome = access.revoke_key(
            args.key_id,
            now=datetime.now(UTC),
            reason=args.reason,
            request=CommandRequest(CommandContext(actor="cli")),
        )
    print(json.dumps(outcome.body, indent=2))
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild a read model from position 0 beside the live one, then swap it in."""
    settings = get_settings()
    model = args.model
    staging = f"{model}_rebuild"
    with running_servers(settings) as urls:
        applied = rebuild(urls.database_url, model, staging)
        print(f"rebuilt {model} from position 0: {applied} events")
        if args.check:
            tables = READ_MODELS[model][2]
            diff = differences(urls.database_url, model, staging, tables)
            print("identical to live" if not diff else f"differs from live: {diff}")
            return 0 if not diff else 1
        swap_in(urls.database_url, model, staging)
        print(f"swapped in as the live {model} read model")
    return 0


def cmd_apply_rules(args: argparse.Namespace) -> int:
    """Evaluate every enabled demand-pricing rule once and print the price changes."""
    settings = get_settings()
    with _services(settings) as (urls, services):
        for follower in services.followers():  # decide on up-to-date read models
            with psycopg.connect(urls.database_url) as conn:
                follower.catch_up(conn)
        process = DemandPricing(services.pricing, DemandReadModels(urls.database_url))
        for change in process.run_once(datetime.now(UTC)):
            print(json.dumps({k: str(v) for k, v in vars(change).items()}))
    return 0


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledgerline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run API and projections (embedded servers by default)")
    up.add_argument("--demo", action="store_true", help="load a sample network first")
    up.add_argument("--port", type=int, default=None)
    up.set_defaults(func=cmd_up)

    demo = sub.add_parser("demo", help="same as 'up --demo'")
    demo.add_argument("--port", type=int, default=None)
    demo.set_defaults(func=cmd_up, demo=True)

    relay = sub.add_parser("relay", help="publish stored events to NATS JetStream")
    relay.set_defaults(func=cmd_relay)

    process = sub.add_parser("process", help="run a process manager on its own")
    process.add_argument("name", choices=["order-saga", "bookings"])
    process.set_defaults(func=cmd_process)

    project = sub.add_parser("project", help="read-model maintenance")
    project_sub = project.add_subparsers(dest="action", required=True)
    rebuild = project_sub.add_parser("rebuild", help="rebuild a read model from position 0")
    rebuild.add_argument("--model", choices=sorted(READ_MODELS), default="atp")
    rebuild.add_argument(
        "--check", action="store_true", help="only compare the rebuild with the live tables"
    )
    rebuild.set_defaults(func=cmd_rebuild)

    pricing = sub.add_parser("pricing", help="pricing processes")
    pricing_sub = pricing.add_subparsers(dest="action", required=True)
    pricing_sub.add_parser(
        "apply-rules", help="evaluate the demand-pricing rules once"
    ).set_defaults(func=cmd_apply_rules)

    connector = sub.add_parser("connector", help="connector workers: run, replay")
    connector_sub = connector.add_subparsers(dest="action", required=True)
    run = connector_sub.add_parser("run", help="run one configured connector until SIGTERM")
    run.add_argument("name")
    run.add_argument("--config", default=None, help="TOML file (default: connectors.toml)")
    run.add_argument(
        "--from",
        dest="start",
        default=None,
        help="new, beginning, seq:N or time:RFC3339; only when the connector first starts",
    )
    run.set_defaults(func=cmd_connector_run)
    replay = connector_sub.add_parser("replay", help="start a connector over from a point")
    replay.add_argument("name")
    replay.add_argument("--config", default=None)
    replay.add_argument("--from", dest="start", required=True, help="beginning, seq:N, time:T")
    replay.add_argument(
        "--forget-handled",
        action="store_true",
        help="also forget which events were handled and the connector's state (rebuild)",
    )
    replay.set_defaults(func=cmd_connector_replay)

    events = sub.add_parser("events", help="the public event stream: tail, schema")
    events_sub = events.add_subparsers(dest="action", required=True)
    tail_parser = events_sub.add_parser("tail", help="print events live as JSON lines")
    tail_parser.add_argument("--subject", default="ledgerline.events.>")
    tail_parser.add_argument("--from", dest="start", default="new")
    tail_parser.add_argument("--limit", type=int, default=None, help="stop after N events")
    tail_parser.set_defaults(func=cmd_events_tail)
    schema = events_sub.add_parser("schema", help="write docs/events.md and docs/schemas/")
    schema.add_argument("--docs", default="docs")
    schema.set_defaults(func=cmd_events_schema)

    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    create = keys_sub.add_parser("create", help="issue a key; its token is printed once")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role",
        action="append",
        required=True,
        help="admin, operator, auditor, channel:<code>, connector:<name>; repeat for several",
    )
    create.add_argument("--expires-at", default=None, help="RFC 3339 time with zone")
    create.set_defaults(func=cmd_keys_create)
    keys_sub.add_parser("list", help="every key, without secrets").set_defaults(func=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.add_argument("--reason", default="")
    revoke.set_defaults(func=cmd_keys_revoke)

    add_audit_commands(sub)
    add_privacy_commands(sub)
    add_worker_commands(sub)
    add_serve_command(sub)
    add_console_commands(sub)

    args = parser.parse_args(argv)
    configure_logging(os.environ.get("LEDGERLINE_LOG_LEVEL", get_settings().log_level))
    _stop_on_sigterm()
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        code = 0
    except DomainError as error:
        print(f"refused: {error.detail}", file=sys.stderr)
        code = 2
    except MasterKeyMissing as error:
        print(f"refusing to start: {error}", file=sys.stderr)
        code = 78  # EX_CONFIG
    return code


if __name__ == "__main__":
    sys.exit(main())
