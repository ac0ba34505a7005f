"""Console commands of the CLI: ``install-browser`` (for the browser tests) and ``onboard``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from application.commands import Request
from application.context import CommandContext
from application.inventory import InventoryApp
from application.onboarding import apply, plan, report
from infrastructure.browser import BrowserUnavailable, default_folder, install_browser
from infrastructure.eventstore import application_env
from infrastructure.servers import running_servers
from infrastructure.settings import get_settings


def cmd_install_browser(args: argparse.Namespace) -> int:
    try:
        browser = install_browser(Path(args.dir) if args.dir else None)
    except BrowserUnavailable as error:
        print(f"no browser: {error}", file=sys.stderr)
        return 1
    print(browser.executable)
    return 0


def cmd_onboard(args: argparse.Namespace) -> int:
    """Check every row of FILE; write it only if no row has a problem (and not --check)."""
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        print(f"cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    with running_servers(get_settings()) as urls:
        inventory = InventoryApp(application_env(urls.database_url, pool_size=1))
        try:
            checked = plan(text, inventory)
            for problem in checked.problems:
                print(json.dumps({"file": problem}))
            for entry in report(checked):
                if entry["problems"] or args.verbose:
                    print(json.dumps(entry))
            if not checked.valid:
                print("nothing written: fix the rows above", file=sys.stderr)
                return 1
            if args.check:
                print(json.dumps({"checked": checked.counts()}))
                return 0
            written = apply(checked, inventory, Request(CommandContext(actor="cli:onboard")))
            print(json.dumps({"written": written}))
            return 0
        finally:
            inventory.close()


def add_console_commands(sub: Any) -> None:
    browser = sub.add_parser(
        "install-browser",
        help="make headless Chromium available for the console's browser tests (no root)",
    )
    browser.add_argument(
        "--dir", default=None, help=f"where to unpack it (default {default_folder()})"
    )
    browser.set_defaults(func=cmd_install_browser)
    onboard = sub.add_parser(
        "onboard", help="load locations, SKUs and stock levels from a CSV, checked row by row"
    )
    onboard.add_argument("file")
    onboard.add_argument("--check", action="store_true", help="check only; write nothing")
    onboard.add_argument("--verbose", action="store_true", help="report every row, not only bad")
    onboard.set_defaults(func=cmd_onboard)
