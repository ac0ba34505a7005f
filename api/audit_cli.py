"""``ledgerline audit ...``: verify the hash chains, make and export signed checkpoints.

Kept out of ``api/cli.py`` so the audit commands grow without touching the rest; the CLI
adds them with :func:`add_audit_commands`, and ``ledgerline up`` starts
:func:`start_checkpoints`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from domain.booking import booking_id
from domain.order import order_id
from infrastructure.audit.bundle_check import check_bundle
from infrastructure.audit.checkpoints import Checkpointer, export, read_checkpoints
from infrastructure.audit.signing import (
    KEY_VARIABLE,
    Checkpoint,
    Signer,
    key_id,
    load_signer,
    parse_key,
    public_key,
    trusted_key,
)
from infrastructure.audit.verify import Report, Verifier
from infrastructure.servers import running_servers
from infrastructure.settings import get_settings
from projections.bundle import booking_bundle, order_bundle
from projections.bundle_html import render_html

INTERVAL_VARIABLE = "LEDGERLINE_AUDIT_CHECKPOINT_SECONDS"


def checkpoint_interval() -> float:
    """Seconds between checkpoints in ``ledgerline up`` (default 60)."""
    return float(os.environ.get(INTERVAL_VARIABLE) or 60)


def start_checkpoints(database_url: str, nats_url: str) -> tuple[threading.Thread, threading.Event]:
    """The periodic checkpoint thread ``ledgerline up`` runs."""
    return Checkpointer(database_url, nats_url, checkpoint_interval()).start()


def cmd_verify(args: argparse.Namespace) -> int:
    """Recompute every chain and check every checkpoint; exit 1 if anything is wrong."""
    external: list[Checkpoint] = []
    for path in args.checkpoints or []:
        with Path(path).open() as lines:
            external.extend(read_checkpoints(lines))
    with running_servers(get_settings()) as urls:
        if args.public_key:
            trusted: bytes | None = parse_key(args.public_key)
        else:
            with psycopg.connect(urls.database_url, autocommit=True) as conn:
                trusted = trusted_key(conn)
        report = Verifier(urls.database_url, trusted, external).run()
    if args.json:
        print(json.dumps(_as_json(report), indent=2))
    else:
        _print(report, len(external))
    return 0 if report.clean else 1


def _print(report: Report, external: int) -> None:
    for finding in report.findings:
        print(finding.line())
    for result in report.logs:
        rate = result.events / result.seconds if result.seconds else 0.0
        print(
            f"{result.log}: {result.events:,} events, {result.checkpoints} checkpoints checked "
            f"in {result.seconds:.2f}s ({rate:,.0f} events/s)"
        )
    source = f" (with {external} external checkpoints)" if external else ""
    verdict = "clean" if report.clean else f"{len(report.findings)} findings"
    print(
        f"verified {report.events:,} events in {report.seconds:.2f}s "
        f"({report.rate:,.0f} events/s){source}: {verdict}"
    )


def _as_json(report: Report) -> dict[str, object]:
    return {
        "clean": report.clean,
        "events": report.events,
        "seconds": round(report.seconds, 3),
        "events_per_second": round(report.rate, 1),
        "findings": [
            {
                "log": f.log,
                "problem": f.problem,
                "notification_id": f.notification_id,
                "stream_id": str(f.stream_id) if f.stream_id else None,
                "version": f.version,
                "detail": f.detail,
            }
            for f in report.findings
        ],
        "logs": [vars(result) for result in report.logs],
    }


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """Sign a checkpoint for every log that grew, store it, publish what is unpublished."""
    with running_servers(get_settings()) as urls:
        made = Checkpointer(urls.database_url, urls.nats_url).run_once()
    for checkpoint in made:
        print(f"{checkpoint.log}: checkpoint at position {checkpoint.position}")
    if not made:
        print("no log grew since its last checkpoint")
    return 0


def cmd_public_key(args: argparse.Namespace) -> int:
    """The public key checkpoints are signed with (hex), made on first use if none is set."""
    with (
        running_servers(get_settings()) as urls,
        psycopg.connect(urls.database_url, autocommit=True) as conn,
    ):
        signer = load_signer(conn)
    print(signer.public_key.hex())
    print(f"key id {key_id(signer.public_key)}", file=sys.stderr)
    return 0


def cmd_generate_key(args: argparse.Namespace) -> int:
    """A new random signing seed (hex) for LEDGERLINE_AUDIT_SIGNING_KEY; keep it secret."""
    seed = os.urandom(32)
    print(seed.hex())
    print(
        f"public key {Signer(seed).public_key.hex()}: set {KEY_VARIABLE} to the line above",
        file=sys.stderr,
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Every checkpoint published on NATS JetStream, as JSON lines (keep it off the database)."""
    with running_servers(get_settings()) as urls:
        if args.output in (None, "-"):
            written = asyncio.run(export(urls.nats_url, sys.stdout))
        else:
            with Path(args.output).open("w") as out:
                written = asyncio.run(export(urls.nats_url, out))
    print(f"exported {written} checkpoints", file=sys.stderr)
    return 0


def subject_id(kind: str, text: str) -> UUID:
    """An order or booking id: its UUID, or ``CHANNEL/NUMBER`` (the channel's own number)."""
    channel, slash, number = text.partition("/")
    if not slash:
        return UUID(text)
    return order_id(channel, number) if kind == "order" else booking_id(channel, number)


async def _make_bundle(database_url: str, kind: str, subject: UUID) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        key = await public_key(conn)
        make = order_bundle if kind == "order" else booking_bundle
        return await make(conn, subject, key, datetime.now(UTC))


def cmd_bundle(args: argparse.Namespace) -> int:
    """Write the dispute bundle of an order or a booking (JSON; ``--html`` for reading)."""
    try:
        subject = subject_id(args.kind, args.id)
    except ValueError:
        print(f"not an id or CHANNEL/NUMBER: {args.id!r}", file=sys.stderr)
        return 2
    with running_servers(get_settings()) as urls:
        if args.checkpoint:  # sign the log up to now first, so the bundle is anchored
            Checkpointer(urls.database_url, urls.nats_url).run_once()
        bundle = asyncio.run(_make_bundle(urls.database_url, args.kind, subject))
    Path(args.output).write_text(json.dumps(bundle, indent=2, sort_keys=True) + "\n")
    if args.html:
        Path(args.html).write_text(render_html(bundle))
    unanchored = [log for log, proof in bundle["proofs"].items() if proof["checkpoint"] is None]
    print(f"{args.kind} {subject}: {len(bundle['events'])} events, digest {bundle['digest']}")
    if unanchored:
        print(
            f"no signed checkpoint covers it yet in {', '.join(unanchored)}: run "
            "'ledgerline audit checkpoint' (or pass --checkpoint) and make it again",
            file=sys.stderr,
        )
    return 0


def cmd_verify_bundle(args: argparse.Namespace) -> int:
    """Verify a bundle file offline (no database): exit 0 if it holds, 1 naming what fails."""
    try:
        bundle = json.loads(Path(args.file).read_text())
    except (OSError, ValueError) as error:
        print(f"cannot read {args.file}: {error}")
        return 1
    try:
        trusted = parse_key(args.public_key) if args.public_key else None
    except ValueError as error:
        print(f"--public-key: {error}")
        return 1
    problems = check_bundle(bundle, trusted)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.file}: {len(problems)} problems: NOT verified")
        return 1
    events = len(bundle["events"])
    logs = ", ".join(
        f"{log} to checkpoint {proof['checkpoint']['position']}"
        for log, proof in sorted(bundle["proofs"].items())
    )
    whose = "the given key" if trusted else "the key the bundle names (pass --public-key)"
    print(f"{args.file}: verified: {events} events; {logs}; signed by {whose}")
    return 0


def add_audit_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="tamper evidence: verify, checkpoints, keys")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    verify = audit_sub.add_parser("verify", help="check every hash chain and checkpoint")
    verify.add_argument(
        "--checkpoints",
        action="append",
        metavar="FILE",
        help="JSON-lines checkpoints kept outside the database (export-checkpoints); repeatable",
    )
    verify.add_argument(
        "--public-key", default=None, help="trust this key (hex) instead of the configured one"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_verify)
    audit_sub.add_parser(
        "checkpoint", help="sign, store and publish a checkpoint of every log that grew"
    ).set_defaults(func=cmd_checkpoint)
    audit_sub.add_parser("public-key", help="print the checkpoint signing public key").set_defaults(
        func=cmd_public_key
    )
    audit_sub.add_parser(
        "generate-key", help="print a new signing seed for " + KEY_VARIABLE
    ).set_defaults(func=cmd_generate_key)
    exporter = audit_sub.add_parser(
        "export-checkpoints", help="write the checkpoints published on NATS as JSON lines"
    )
    exporter.add_argument("--output", "-o", default=None, help="file (default: stdout)")
    exporter.set_defaults(func=cmd_export)
    bundle = audit_sub.add_parser("bundle", help="write the dispute bundle of an order or booking")
    bundle.add_argument("kind", choices=["order", "booking"])
    bundle.add_argument("id", help="its UUID, or CHANNEL/NUMBER (order number, booking reference)")
    bundle.add_argument("--output", "-o", required=True, help="the JSON file to write")
    bundle.add_argument("--html", default=None, metavar="FILE", help="also a readable page")
    bundle.add_argument(
        "--checkpoint", action="store_true", help="sign a checkpoint of every log first"
    )
    bundle.set_defaults(func=cmd_bundle)
    check = audit_sub.add_parser(
        "verify-bundle", help="verify a bundle file offline (no database needed)"
    )
    check.add_argument("file")
    check.add_argument(
        "--public-key", default=None, help="the key checkpoints must be signed with (hex)"
    )
    check.set_defaults(func=cmd_verify_bundle)
