"""Runs the operator console on settings.http until cancelled."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime

from aiohttp import web

from console.app import create_app
from gateway.runtime import Runtime

log = logging.getLogger(__name__)


async def run(runtime: Runtime) -> None:
    settings = runtime.settings

    def today() -> date:
        return datetime.now(settings.zone).date()

    app = create_app(
        runtime.lookup,
        runtime.bus,
        today,
        line_limit=settings.agi.max_calls,
        database=settings.sqlite_path if settings.database_is_sqlite else None,
        zone=settings.zone,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http.host, settings.http.port)
        await site.start()
        log.info("console on http://%s:%d/", settings.http.host, settings.http.port)
        await asyncio.Event().wait()  # until cancelled
    finally:
        await runner.cleanup()
