"""The fan-out bench's connector, in a process of its own as ``ledgerline connector run`` is.

``python -m bench.fanout_connector DATABASE_URL NATS_URL OUT``: runs a real
``ConnectorRunner`` from new events on, and appends ``<log position> <time.monotonic()>`` to
OUT as its handler sees each event (CLOCK_MONOTONIC, one clock for every process here, so
the writer's process can compare). Writes ``ready`` as its first line once the consumer is
bound; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from infrastructure.connectors.base import FunctionConnector
from infrastructure.connectors.runtime import ConnectorRunner, Options
from infrastructure.connectors.start import Start
from infrastructure.envelope import Envelope


async def main(database: str, nats_url: str, out_path: str) -> None:
    with open(out_path, "w", buffering=1) as out:

        async def record(envelope: Envelope) -> None:
            out.write(f"{envelope.position} {time.monotonic()}\n")

        runner = ConnectorRunner(
            FunctionConnector("bench-fanout", record, ("ledgerline.events.inventory.>",)),
            database,
            nats_url,
            Options(fetch_timeout=0.5, logs=("inventory",)),
        )
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        task = asyncio.ensure_future(runner.run(stop, Start("new")))
        await runner.ready.wait()
        out.write("ready\n")
        await task


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
