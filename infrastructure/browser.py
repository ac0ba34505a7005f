"""A headless Chromium for the console's browser tests, installed without root.

Playwright's own browser download host is not reachable from every machine we run on, but
Debian's package mirror is. So ``ledgerline install-browser`` asks apt which packages Debian's
``chromium`` needs beyond what the machine already has (a simulation, no root), downloads
them with ``apt-get download`` (no root) and unpacks them with ``dpkg-deb -x`` into a folder
of the project's (refreshing package lists of its own first if the machine's are missing
or stale). Nothing is installed system-wide; a second run finds the folder and returns at
once. A system Chromium (``/usr/lib/chromium/chromium``) is used if present.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

# Debian's /usr/bin/chromium is a shell wrapper; Playwright must start the real binary.
BINARY = Path("usr/lib/chromium/chromium")
SYSTEM_ROOT = Path("/")
MARKER = ".complete"
# Without these, Chromium dials Google's hosts at every start, which a closed network refuses.
QUIET_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


class BrowserUnavailable(RuntimeError):
    """No Chromium here, and none could be installed."""


@dataclass(frozen=True)
class Browser:
    """Where Chromium is and the environment it must be started with."""

    executable: Path
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = QUIET_FLAGS


def default_folder() -> Path:
    """``LEDGERLINE_BROWSER_DIR``, else ``.browser`` in the project folder (beside ``api/``)."""
    configured = os.environ.get("LEDGERLINE_BROWSER_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / ".browser"


def _library_path(root: Path) -> str:
    # Chromium's own folder holds libEGL and friends; PulseAudio keeps a private lib folder.
    folders = [
        root / "usr/lib/chromium",
        root / "usr/lib/x86_64-linux-gnu",
        root / "usr/lib/x86_64-linux-gnu/pulseaudio",
        root / "usr/lib/aarch64-linux-gnu",
        root / "usr/lib/aarch64-linux-gnu/pulseaudio",
    ]
    present = [str(folder) for folder in folders if folder.is_dir()]
    inherited = os.environ.get("LD_LIBRARY_PATH")
    return ":".join([*present, *([inherited] if inherited else [])])


def find_browser(folder: Path | None = None) -> Browser | None:
    """The Chromium to use: the system's, else the one unpacked into ``folder``; or None."""
    if (SYSTEM_ROOT / BINARY).is_file():
        return Browser(SYSTEM_ROOT / BINARY, dict(os.environ))
    root = (folder or default_folder()) / "root"
    if (folder or default_folder()).joinpath(MARKER).is_file() and (root / BINARY).is_file():
        return Browser(root / BINARY, {**os.environ, "LD_LIBRARY_PATH": _library_path(root)})
    return None


def _run(*command: str, cwd: Path | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - fixed programs, arguments from apt's own answer
        command, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BrowserUnavailable(f"{' '.join(command[:3])} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def _private_lists(target: Path) -> tuple[str, ...]:
    """apt options for package lists of our own, refreshed now: the machine's may be stale
    (a superseded security update is gone from the mirror) or missing, and refreshing them
    in place needs root."""
    lists, cache = target / "apt" / "lists", target / "apt" / "cache"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    options = (
        "-o",
        f"Dir::State::Lists={lists}",
        "-o",
        f"Dir::Cache={cache}",
        "-o",
        "Debug::NoLocking=1",
    )
    log.info("browser.apt_update")
    _run("apt-get", "-q", *options, "update")
    return options


def needed_packages(options: tuple[str, ...] = ()) -> list[str]:
    """The packages apt would install for ``chromium`` on this machine (a simulation)."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise BrowserUnavailable("apt-get and dpkg-deb are needed to fetch Debian's chromium")
    answer = _run("apt-get", *options, "install", "-s", "--no-install-recommends", "chromium")
    packages = [line.split()[1] for line in answer.splitlines() if line.startswith("Inst ")]
    if not packages:
        raise BrowserUnavailable("apt would install nothing for chromium, yet none was found")
    return packages


def _download(target: Path, scratch: Path) -> list[str]:
    """Fetch the packages into ``scratch``: with the machine's package lists, else with
    fresh lists of our own."""
    try:
        packages = needed_packages()
        _run("apt-get", "download", *packages, cwd=scratch)
        return packages
    except BrowserUnavailable as error:
        log.info("browser.system_lists_failed", error=str(error))
    for stale in scratch.glob("*.deb"):
        stale.unlink()
    options = _private_lists(target)
    packages = needed_packages(options)
    _run("apt-get", *options, "download", *packages, cwd=scratch)
    return packages


def install_browser(folder: Path | None = None) -> Browser:
    """Make sure a Chromium is available; fast (no network) when one already is."""
    found = find_browser(folder)
    if found is not None:
        log.info("browser.present", executable=str(found.executable))
        return found
    target = folder or default_folder()
    target.mkdir(parents=True, exist_ok=True)
    # Unpack beside the target and swap it in, so an interrupted run leaves no half folder.
    with tempfile.TemporaryDirectory(dir=target, prefix="download-") as scratch:
        debs = Path(scratch) / "debs"
        debs.mkdir()
        packages = _download(target, debs)
        log.info("browser.downloaded", packages=len(packages))
        staged = Path(scratch) / "root"
        for deb in sorted(debs.glob("*.deb")):
            _run("dpkg-deb", "-x", str(deb), str(staged))
        if not (staged / BINARY).is_file():
            raise BrowserUnavailable("the chromium package held no browser binary")
        shutil.rmtree(target / "root", ignore_errors=True)
        staged.rename(target / "root")
    (target / MARKER).write_text("\n".join(packages) + "\n")
    found = find_browser(target)
    assert found is not None
    log.info("browser.installed", executable=str(found.executable))
    return found
