"""The console served for real: uvicorn on a free port, the relay feeding NATS, and a
headless Chromium driven by Playwright (installed without root by ``install-browser``)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Playwright, sync_playwright

from api.app import create_app
from api.services import Services
from infrastructure.browser import install_browser
from infrastructure.relay import Relay, start_in_thread
from infrastructure.servers import ServerUrls

ARTIFACTS = Path(os.environ.get("LEDGERLINE_TEST_ARTIFACTS", "test-artifacts")) / "console"


# Package scope, not session: Playwright's sync API runs an event loop on this thread while
# it is open, and every later test calling asyncio.run() would fail with "running event loop".
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Installs Debian's Chromium into .browser/ on first use (about 40 s); then instant.
    found = install_browser()
    launched = playwright.chromium.launch(
        executable_path=str(found.executable), env=found.env, args=list(found.args)
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def console_url(services: Services, database: str, servers: ServerUrls) -> Iterator[str]:
    """The whole app on a real socket, with the relay publishing every log to NATS."""
    relay_thread, relay_stop = start_in_thread(
        Relay(database, servers.nats_url, poll_interval=0.05)
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services), log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
    )
    started = threading.Event()

    def serve() -> None:
        async def main() -> None:
            task = asyncio.ensure_future(server.serve(sockets=[sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.02)
            started.set()
            await task

        asyncio.run(main())

    thread = threading.Thread(target=serve, name="console-server", daemon=True)
    thread.start()
    assert started.wait(30), "the console server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        relay_stop.set()
        relay_thread.join(timeout=15)
