"""A small HTTP/1.1 keep-alive load generator, run as its own process.

``python -m bench.loadgen HOST PORT PATH CONCURRENCY SECONDS [TOKEN]`` prints one JSON line:
requests, errors, seconds, and latency percentiles. Raw asyncio streams keep the client
cheap, so the server, not the generator, is what gets measured.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bench.stats import summary_ms


async def _worker(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(1)
    finally:
        writer.close()


async def run(
    host: str, port: int, path: str, concurrency: int, seconds: float, token: str | None
) -> dict[str, float]:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n").encode()
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_worker(host, port, request, deadline, latencies, errors) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        **summary_ms(latencies),
    }


if __name__ == "__main__":
    host, port, path, concurrency, seconds = sys.argv[1:6]
    token = sys.argv[6] if len(sys.argv) > 6 else None
    print(
        json.dumps(asyncio.run(run(host, int(port), path, int(concurrency), float(seconds), token)))
    )
