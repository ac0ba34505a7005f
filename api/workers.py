"""Separately runnable workers, each with one active instance by leader election.

``ledgerline worker NAME`` runs one worker until SIGTERM. Start it on as many machines as
you like: one instance holds the worker's advisory lock and works, the others stand by and
take over within about a second of the holder's death (infrastructure/leadership.py).

Workers: ``relay``; ``projection:atp|pricing|orders|bookings``; ``process:order-saga``
(the saga and the unpaid-order expiry), ``process:bookings`` (rebooking and hold expiry),
``process:demand-pricing``, ``process:checkpoints`` (signed audit checkpoints); and
``connector:NAME`` for each connector in the connector configuration file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import structlog
import uvicorn
from eventsourcing.persistence import PersistenceError

from api.asgi import services_from
from api.audit_cli import start_checkpoints
from api.server import limits_from_env, server_options
from api.services import Services
from application.bookings import BookingsApp
from application.demand_pricing import DemandPricing
from application.inventory import InventoryApp
from application.orders import OrdersApp
from application.pricing import PricingApp
from infrastructure.connectors.config import ConfigError, load
from infrastructure.connectors.runtime import ConnectorRunner
from infrastructure.eventstore import events_table
from infrastructure.leadership import Leadership, Work, several, threaded
from infrastructure.relay import Relay
from infrastructure.servers import ServerUrls, running_servers
from infrastructure.settings import Settings, get_settings
from projections.atp import AtpProjection
from projections.bookings import BookingsProjection
from projections.demand_view import DemandReadModels
from projections.follower import Follower, Projection
from projections.orders import OrdersProjection
from projections.price_queries import PriceQueries
from projections.prices import PricingProjection

PROJECTED: dict[str, tuple[str, Callable[[], Projection]]] = {
    "atp": (InventoryApp.name, AtpProjection),
    "pricing": (PricingApp.name, PricingProjection),
    "orders": (OrdersApp.name, OrdersProjection),
    "bookings": (BookingsApp.name, BookingsProjection),
}
PROJECTIONS = tuple(PROJECTED)
PROCESSES = ("order-saga", "bookings", "demand-pricing", "checkpoints")
NAMES = ("relay", *(f"projection:{p}" for p in PROJECTIONS), *(f"process:{p}" for p in PROCESSES))


log = structlog.get_logger(__name__)
SETUP_ATTEMPTS = 8


class UnknownWorker(ValueError):
    pass


def _services(urls: ServerUrls, settings: Settings) -> Services:
    return services_from(urls.database_url, urls.nats_url, settings, pool_size=2)


@contextlib.contextmanager
def worker_work(
    name: str, urls: ServerUrls, settings: Settings, config: Path | None = None
) -> Iterator[Work]:
    """What the worker ``name`` does while it leads, with what it needs open meanwhile."""
    kind, _, part = name.partition(":")
    if name == "relay":
        relay = Relay(urls.database_url, urls.nats_url)
        yield relay.run
        return
    if kind == "connector" and part:
        path = config or Path(os.environ.get("LEDGERLINE_CONNECTORS") or "connectors.toml")
        spec = load(path, part, PriceQueries())
        runner = ConnectorRunner(spec.connector, urls.database_url, urls.nats_url, spec.options)
        yield lambda resign: runner.run(resign, spec.start)
        return
    if kind == "process" and part == "checkpoints":
        yield threaded(lambda: start_checkpoints(urls.database_url, urls.nats_url))
        return
    if name not in NAMES:
        raise UnknownWorker(f"no worker {name!r}; workers: {', '.join(NAMES)}, connector:NAME")
    if kind == "projection":
        # A projection needs only its log and its tables: no applications, no pools.
        log_name, make = PROJECTED[part]
        follower = Follower(urls.database_url, events_table(log_name), make())
        follower.setup()
        yield threaded(follower.start)
        return
    services = _services(urls, settings)
    try:
        yield _service_work(part, services, urls)
    finally:
        services.close()


def _service_work(part: str, services: Services, urls: ServerUrls) -> Work:
    if part == "order-saga":
        saga = [threaded(process.start) for process in services.saga.processes()]
        return several(*saga, threaded(services.expiry.start))
    if part == "bookings":
        return several(
            threaded(services.rebooking.process.start), threaded(services.booking_expiry.start)
        )
    demand = DemandPricing(services.pricing, DemandReadModels(urls.database_url))
    return threaded(demand.start)


def run_worker(name: str, config: Path | None = None) -> int:
    """Run worker ``name`` (standing by while another instance leads) until SIGTERM."""
    settings = get_settings()
    with running_servers(settings) as urls, contextlib.ExitStack() as stack:
        try:
            work = _set_up(stack, name, urls, settings, config)
        except (UnknownWorker, ConfigError) as error:
            print(error, file=sys.stderr)
            return 2
        leadership = Leadership(urls.database_url, name)
        print(f"worker {name}: standing by for the lead", flush=True)
        asyncio.run(_until_signalled(leadership, work))
    return 0


def _set_up(
    stack: contextlib.ExitStack,
    name: str,
    urls: ServerUrls,
    settings: Settings,
    config: Path | None,
) -> Work:
    # Workers starting together race on the schema's CREATE ... IF NOT EXISTS statements
    # ("tuple concurrently updated"), and the database may still be starting: try again.
    for attempt in range(1, SETUP_ATTEMPTS + 1):
        try:
            return stack.enter_context(worker_work(name, urls, settings, config))
        except (PersistenceError, psycopg.Error) as error:
            if attempt == SETUP_ATTEMPTS:
                raise
            log.warning("worker.setup_retry", worker=name, error=str(error), attempt=attempt)
            time.sleep(min(0.1 * 2**attempt, 5.0))
    raise AssertionError("unreachable")


async def _until_signalled(leadership: Leadership, work: Work) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await leadership.run(work, stop)


def cmd_worker(args: argparse.Namespace) -> int:
    return run_worker(args.name, Path(args.config) if args.config else None)


def add_worker_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser(
        "worker", help="run one worker; extra instances stand by and take over if it dies"
    )
    worker.add_argument("name", help=f"{', '.join(NAMES)} or connector:NAME")
    worker.add_argument("--config", default=None, help="connector TOML (connector:NAME only)")
    worker.set_defaults(func=cmd_worker)


def cmd_serve(args: argparse.Namespace) -> int:
    """The API alone, in ``--workers`` processes (uvicorn), no projections or relay."""
    settings = get_settings()
    with running_servers(settings) as urls:
        # The worker processes build their services from the environment (api/asgi.py).
        os.environ["LEDGERLINE_DATABASE_URL"] = urls.database_url
        os.environ["LEDGERLINE_NATS_URL"] = urls.nats_url
        uvicorn.run(
            "api.asgi:create",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=args.workers,
            timeout_graceful_shutdown=10,
            **server_options(limits_from_env()),
        )
    return 0


def add_serve_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="only the API, in N stateless worker processes")
    serve.add_argument("--workers", type=int, default=1, help="API processes (default 1)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)
