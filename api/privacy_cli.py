"""``ledgerline customer ...`` and ``ledgerline privacy ...``: customers' privacy from the
command line (decision 0018, docs/privacy.md).

- ``customer find REFERENCE``: the customer(s) an id or a channel's reference names;
- ``customer link ID CHANNEL REFERENCE``: a channel's reference names customer ID;
- ``customer erase ID --legal-basis TEXT``: erase their personal data everywhere;
- ``customer export ID [-o FILE]``: everything held about them, decrypted, as JSON;
- ``privacy generate-key``: a new master key for ``LEDGERLINE_MASTER_KEY``;
- ``privacy rewrap``: wrap every data key with the current master key (after a rotation,
  with the old key still set as ``LEDGERLINE_MASTER_KEY_PREVIOUS``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from application.bookings import BookingsApp
from application.commands import Request
from application.context import CommandContext
from application.orders import OrdersApp
from application.privacy import PrivacyApp
from application.retention import Retention, RetentionRules
from infrastructure.eventstore import application_env
from infrastructure.privacy.crypto import MASTER_KEY_ENV, PREVIOUS_MASTER_KEY_ENV, generate_key
from infrastructure.privacy.crypto import master_keys as configured_master_keys
from infrastructure.privacy.keystore import KeyStore, create_statements
from infrastructure.servers import running_servers
from infrastructure.settings import get_settings
from projections.order_queries import OrderQueries

CLI = Request(CommandContext(actor="cli"))


@contextmanager
def _privacy() -> Iterator[tuple[str, PrivacyApp]]:
    """The privacy application over the orders and bookings logs, and nothing more: an
    erasure or an export neither reserves stock nor prices anything (no projections run
    here; ``ledgerline up`` or ``project`` apply the erasure events to the read models)."""
    settings = get_settings()
    with running_servers(settings) as urls:
        unused: Any = None
        orders = OrdersApp(application_env(urls.database_url, pool_size=2), unused, unused)
        bookings = BookingsApp(application_env(urls.database_url, pool_size=2), unused)
        privacy = PrivacyApp(application_env(urls.database_url, pool_size=2), orders, bookings)
        try:
            yield urls.database_url, privacy
        finally:
            for app in (privacy, orders, bookings):
                app.close()


def cmd_link(args: argparse.Namespace) -> int:
    with _privacy() as (_, privacy):
        found = privacy.link(args.customer, args.channel, args.reference, CLI)
    print(json.dumps({"customer_id": args.customer, "customer_ids": found.subjects}))
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    with _privacy() as (_, privacy):
        found = privacy.find(args.reference)
    print(json.dumps(found, indent=2))
    return 0 if found else 1


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase; ``--by`` names who asked (defaults to the operator's login)."""
    with _privacy() as (_, privacy):
        erasure = privacy.erase(
            args.customer,
            by=args.by or getpass.getuser(),
            legal_basis=args.legal_basis,
            request=CLI,
        )
    print(
        f"erased {args.customer}: {len(erasure.keys_destroyed)} key(s) destroyed, "
        f"{len(erasure.streams)} order(s)/booking(s) marked erased",
        file=sys.stderr,
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _privacy() as (_, privacy):
        document = privacy.export(args.customer)
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if args.output in (None, "-"):
        print(text)
    else:
        Path(args.output).write_text(text + "\n")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    """One run of the retention rules (schedule it, e.g. daily)."""
    settings = get_settings()
    days = args.ship_to_days if args.ship_to_days is not None else settings.retention_ship_to_days
    queries = OrderQueries()

    with _privacy() as (url, privacy):

        def due(cutoff: datetime, limit: int) -> list[UUID]:
            with psycopg.connect(url, autocommit=True) as conn:
                return queries.due_for_ship_to_erasure(conn, cutoff, limit)

        retention = Retention(privacy.orders, privacy.keys, due, RetentionRules(days))
        erased = retention.run_once(datetime.now(UTC))
    print(f"retention: {erased} ship-to address(es) erased", file=sys.stderr)
    return 0


def cmd_generate_key(args: argparse.Namespace) -> int:
    """A new random master key; keep it secret and safe: without it nothing personal opens."""
    print(generate_key())
    print(
        f"set {MASTER_KEY_ENV} to the line above (rotating: move the old one to "
        f"{PREVIOUS_MASTER_KEY_ENV}, then run 'ledgerline privacy rewrap')",
        file=sys.stderr,
    )
    return 0


def cmd_rewrap(args: argparse.Namespace) -> int:
    with (
        running_servers(get_settings()) as urls,
        psycopg.connect(urls.database_url, autocommit=True) as conn,
    ):
        for statement in create_statements("public"):
            conn.execute(statement)
        done = KeyStore(configured_master_keys()).rewrap(conn)
    print(f"rewrapped {done} data key(s) with the current master key", file=sys.stderr)
    return 0


def add_privacy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    customer = sub.add_parser("customer", help="customers' privacy: link, erase, export")
    customer_sub = customer.add_subparsers(dest="action", required=True)
    link = customer_sub.add_parser("link", help="link a channel's reference to a customer")
    link.add_argument("customer")
    link.add_argument("channel")
    link.add_argument("reference")
    link.set_defaults(func=cmd_link)
    find = customer_sub.add_parser("find", help="customers known by an id or channel reference")
    find.add_argument("reference")
    find.set_defaults(func=cmd_find)
    erase = customer_sub.add_parser("erase", help="erase a customer's personal data")
    erase.add_argument("customer")
    erase.add_argument("--legal-basis", required=True, help="e.g. 'GDPR Art. 17(1)(a)'")
    erase.add_argument("--by", help="who asked for it (default: your login)")
    erase.set_defaults(func=cmd_erase)
    export = customer_sub.add_parser("export", help="everything held about a customer")
    export.add_argument("customer")
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    export.set_defaults(func=cmd_export)

    privacy = sub.add_parser("privacy", help="the master key: generate, rewrap")
    privacy_sub = privacy.add_subparsers(dest="action", required=True)
    privacy_sub.add_parser("generate-key", help="print a new master key").set_defaults(
        func=cmd_generate_key
    )
    privacy_sub.add_parser(
        "rewrap", help="wrap every data key with the current master key"
    ).set_defaults(func=cmd_rewrap)
    retention = privacy_sub.add_parser("retention", help="apply the retention rules once")
    retention.add_argument(
        "--ship-to-days", type=int, help="default: LEDGERLINE_RETENTION_SHIP_TO_DAYS (unset: kept)"
    )
    retention.set_defaults(func=cmd_retention)
