"""Console commands of the CLI: ``install-browser`` (for the browser tests)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infrastructure.browser import BrowserUnavailable, default_folder, install_browser


def cmd_install_browser(args: argparse.Namespace) -> int:
    try:
        browser = install_browser(Path(args.dir) if args.dir else None)
    except BrowserUnavailable as error:
        print(f"no browser: {error}", file=sys.stderr)
        return 1
    print(browser.executable)
    return 0


def add_console_commands(sub: Any) -> None:
    browser = sub.add_parser(
        "install-browser",
        help="make headless Chromium available for the console's browser tests (no root)",
    )
    browser.add_argument(
        "--dir", default=None, help=f"where to unpack it (default {default_folder()})"
    )
    browser.set_defaults(func=cmd_install_browser)
