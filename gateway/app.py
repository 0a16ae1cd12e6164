"""Runs the configured components in one process (composition root).

Filled in as components land: lookup, FastAGI server, AMI monitor, SMPP link,
reminders, web console. Every task is owned by one TaskGroup; SIGINT/SIGTERM
stop them all.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from gateway.settings import Settings

log = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    log.info("tracuu running (database %s); Ctrl-C stops it", settings.database)
    await stop.wait()


def _run(settings: Settings) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
    return 0


def run(settings: Settings) -> int:
    return _run(settings)


def run_demo(settings: Settings, count: int) -> int:
    return _run(settings)
