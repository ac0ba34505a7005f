"""Slow and idle clients, over real sockets against uvicorn: each is cut off, others are served.

The server runs with the production configuration (api.server) but deadlines of one second,
so that the attacks below, which would take tens of seconds to finish, are cut off long
before; nothing here measures how long anything took.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from api.server import ServerLimits
from api.services import Services
from tests.api.serving import served
from tests.conftest import issue_key

LIMITS = ServerLimits(header_timeout=1.0, keep_alive_timeout=1, max_connections=512)
WAIT = 30.0  # only a server that never acts runs into this


@pytest.fixture
def api(services: Services) -> Iterator[str]:
    with served(create_app(services, body_timeout=1.0), LIMITS) as base:
        yield base


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=WAIT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_client_that_never_finishes_its_head_is_disconnected(api: str) -> None:
    # given a connection whose request head stops short of its blank line
    with connect(api) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: ledgerline\r\n")
        # when it sends nothing more, then the server closes it without an answer
        assert read_until_closed(sock) == b""


def test_a_head_trickled_byte_by_byte_is_cut_off_before_it_ends(api: str) -> None:
    # given a client sending a head of 400 bytes, one byte every 0.1 s (40 s in all)
    head = b"GET /health/live HTTP/1.1\r\nHost: ledgerline\r\nX-Pad: " + b"a" * 340 + b"\r\n\r\n"
    sent = 0
    with connect(api) as sock:
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break  # the server hung up
            sent += 1
            time.sleep(0.1)
    # then the server hung up long before the head was complete
    assert sent < len(head)


def test_a_body_that_never_arrives_is_answered_408_and_the_connection_closed(
    api: str, services: Services
) -> None:
    # given a request announcing 100 bytes of body and sending 10
    key = issue_key(services, "admin")
    with connect(api) as sock:
        sock.sendall(
            b"POST /v1/skus/SKU-1/receipts HTTP/1.1\r\nHost: ledgerline\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"locatio'
        )
        # when the rest never comes
        answer = read_until_closed(sock)
    # then the answer is a 408 problem, and the server closed the connection after it
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in answer
    assert b"urn:ledgerline:problem:request-timeout" in answer


def test_an_idle_keep_alive_connection_is_closed(api: str) -> None:
    # given a keep-alive connection that has had its answer
    with connect(api) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: ledgerline\r\n\r\n")
        # when the client sends nothing more
        answer = read_until_closed(sock)
    # then the server closes it after the answer
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b'{"status":"ok"}')


def test_a_head_growing_past_16_kib_is_refused(api: str) -> None:
    # given a head that has sent more than the 16 KiB allowed and is not finished
    with connect(api) as sock:
        sock.sendall(
            b"GET /health/live HTTP/1.1\r\nHost: ledgerline\r\nX-Pad: "
            + b"a" * (LIMITS.max_header_bytes + 1024)
        )
        # then it is refused and the connection closed, whatever follows
        assert read_until_closed(sock).startswith(b"HTTP/1.1 400 ")


def test_many_stalled_clients_do_not_keep_others_from_being_served(api: str) -> None:
    # given 200 connections, each stalled halfway through its request head
    stalled = [connect(api) for _ in range(200)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: ledgerline\r\n")
        # when another client asks, on new connections
        with httpx.Client(base_url=api, timeout=WAIT) as http:
            answers = [http.get("/health/live").status_code for _ in range(5)]
        # then it is served, and every stalled connection is closed by the server
        assert answers == [200] * 5
        assert all(read_until_closed(sock) == b"" for sock in stalled)
    finally:
        for sock in stalled:
            sock.close()
