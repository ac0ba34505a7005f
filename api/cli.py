"""``ledgerline``: the command line, and the composition root for running processes."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import structlog
import uvicorn

from api.app import create_app
from api.bootstrap import build_services
from api.demo import CHANNELS, load_demo
from api.services import Services
from infrastructure.eventstore import events_table
from infrastructure.log import configure_logging
from infrastructure.servers import ServerUrls, describe, running_servers
from infrastructure.settings import Settings, get_settings
from projections.rebuild import differences, rebuild_atp, swap_in

log = structlog.get_logger("ledgerline")


@contextmanager
def _services(settings: Settings) -> Iterator[tuple[ServerUrls, Services]]:
    with running_servers(settings) as urls:
        services = build_services(urls.database_url, urls.nats_url, pool_size=settings.pool_size)
        try:
            yield urls, services
        finally:
            services.inventory.close()


def cmd_up(args: argparse.Namespace) -> int:
    """API + projection in one process, on the embedded servers unless URLs are configured."""
    settings = get_settings()
    with _services(settings) as (urls, services):
        thread, stop = services.follower.start()
        if args.demo:
            load_demo(services.inventory)
        url = f"http://{settings.host}:{args.port or settings.port}"
        print(f"Ledgerline is up at {url}", flush=True)
        print(f"  PostgreSQL: {describe(urls.database_url)}", flush=True)
        print(f"  NATS:       {urls.nats_url}", flush=True)
        print(f"  OpenAPI:    {url}/schema", flush=True)
        if args.demo:
            print("  Demo channels: " + ", ".join(c[0] for c in CHANNELS), flush=True)
            print(
                f"  Try: curl '{url}/v1/channels/web/availability?sku=DEMO-001&sku=DEMO-002'",
                flush=True,
            )
        try:
            uvicorn.run(
                create_app(services, max_body_bytes=settings.max_body_bytes),
                host=settings.host,
                port=args.port or settings.port,
                log_level="warning",
                access_log=False,
            )
        finally:
            stop.set()
            thread.join(timeout=10)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild the ATP read model from position 0 beside the live one, then swap it in."""
    settings = get_settings()
    with running_servers(settings) as urls:
        table = events_table("inventory")
        applied = rebuild_atp(urls.database_url, table, "atp_rebuild")
        print(f"rebuilt atp from position 0: {applied} events")
        if args.check:
            diff = differences(urls.database_url, "atp", "atp_rebuild")
            print("identical to live" if not diff else f"differs from live: {diff}")
            return 0 if not diff else 1
        swap_in(urls.database_url, "atp", "atp_rebuild")
        print("swapped in as the live atp read model")
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

    project = sub.add_parser("project", help="read-model maintenance")
    project_sub = project.add_subparsers(dest="action", required=True)
    rebuild = project_sub.add_parser("rebuild", help="rebuild the ATP read model from 0")
    rebuild.add_argument(
        "--check", action="store_true", help="only compare the rebuild with the live tables"
    )
    rebuild.set_defaults(func=cmd_rebuild)

    args = parser.parse_args(argv)
    configure_logging(os.environ.get("LEDGERLINE_LOG_LEVEL", get_settings().log_level))
    _stop_on_sigterm()
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        code = 0
    return code


if __name__ == "__main__":
    sys.exit(main())
