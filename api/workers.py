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
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg

from api.audit_cli import start_checkpoints
from api.bootstrap import build_services
from api.services import Services
from application.demand_pricing import DemandPricing
from application.orders import OrderSettings
from infrastructure.connectors.config import ConfigError, load
from infrastructure.connectors.runtime import ConnectorRunner
from infrastructure.leadership import Leadership, Work, several, threaded
from infrastructure.relay import Relay
from infrastructure.servers import ServerUrls, running_servers
from infrastructure.settings import Settings, get_settings
from projections.demand_view import DemandReadModels
from projections.price_queries import PriceQueries

PROJECTIONS = ("atp", "pricing", "orders", "bookings")
PROCESSES = ("order-saga", "bookings", "demand-pricing", "checkpoints")
NAMES = ("relay", *(f"projection:{p}" for p in PROJECTIONS), *(f"process:{p}" for p in PROCESSES))


class UnknownWorker(ValueError):
    pass


def _services(urls: ServerUrls, settings: Settings) -> Services:
    return build_services(
        urls.database_url,
        urls.nats_url,
        pool_size=2,
        order_settings=OrderSettings(
            price_tolerance_percent=settings.price_tolerance_percent,
            payment_window=timedelta(seconds=settings.payment_window_seconds),
            location_priority=settings.location_priority,
        ),
    )


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
    services = _services(urls, settings)
    try:
        yield _service_work(kind, part, services, urls)
    finally:
        services.close()


def _service_work(kind: str, part: str, services: Services, urls: ServerUrls) -> Work:
    if kind == "projection":
        follower = services.followers()[PROJECTIONS.index(part)]
        return threaded(follower.start)
    if part == "order-saga":
        saga: list[Callable[[], object]] = [p.start for p in services.saga.processes()]
        return several(*(threaded(start) for start in saga), threaded(services.expiry.start))  # type: ignore[arg-type]
    if part == "bookings":
        return several(
            threaded(services.rebooking.process.start), threaded(services.booking_expiry.start)
        )
    demand = DemandPricing(services.pricing, DemandReadModels(urls.database_url))
    return threaded(demand.start)


def run_worker(name: str, config: Path | None = None) -> int:
    """Run worker ``name`` (standing by while another instance leads) until SIGTERM."""
    settings = get_settings()
    with running_servers(settings) as urls:
        try:
            with worker_work(name, urls, settings, config) as work:
                leadership = Leadership(urls.database_url, name)
                print(f"worker {name}: standing by for the lead", flush=True)
                asyncio.run(_until_signalled(leadership, work))
        except (UnknownWorker, ConfigError) as error:
            print(error, file=sys.stderr)
            return 2
        except psycopg.OperationalError as error:
            print(f"worker {name}: database unavailable: {error}", file=sys.stderr)
            return 1
    return 0


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
