"""Runs the operator console on settings.http until cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import date, datetime
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel

from console.app import create_app
from console.board_instances import Instance
from console.board_registry import identity
from console.config_view import Origin
from console.ops import OpsConfig
from console.settings import ConsoleConfig
from console.trycall import TryConfig
from ivr.server import LISTENING_TOPIC
from kernel.bus import EventBus
from kernel.runtime import Runtime
from lookup.factory import open_store
from lookup.port import DossierLookup

log = logging.getLogger(__name__)

ACCOUNTS_FALLBACK = Path("var/console.sqlite3")


async def run(runtime: Runtime[ConsoleConfig, DossierLookup]) -> None:
    settings = runtime.settings

    def today() -> date:
        return datetime.now(settings.zone).date()

    # The composition root's Runtime says where each setting came from (gateway/provenance.py).
    origin_of = getattr(runtime, "config_origins", None) or _unknown
    model = settings if isinstance(settings, BaseModel) else None
    app = create_app(
        runtime.lookup,
        runtime.bus,
        today,
        line_limit=settings.agi.max_calls,
        database=settings.database,
        # The gateway's one Database (kernel/db.py): no second writer thread or pool.
        db=runtime.db,
        zone=settings.zone,
        try_config=TryConfig(settings, runtime.lookup, lambda: agi_address(settings, runtime.bus)),
        sounds=settings.sounds,
        http=settings.http,
        accounts=None,
        dossier_writer=lambda: open_store(settings, db=runtime.db),
        config=None if model is None else (lambda: (model, origin_of)),
        instance=_instance(settings),
        ops_config=OpsConfig(
            smpp_configured=bool(settings.smpp.host)
            or (settings.demo and settings.database_is_sqlite),
            ami_configured=bool(settings.ami.host),
            loop_lag=runtime.loop_lag,
            lookup_latency=runtime.lookup_latency,
        ),
    )
    runner = web.AppRunner(app, access_log=None)
    try:
        # Inside the try: a gateway stopped while the console starts still ends what the
        # start began (the board, the instance heartbeat), instead of leaving it running.
        await runner.setup()
        site = web.TCPSite(runner, settings.http.host, settings.http.port)
        # Not cancelled half-way: asyncio's create_server (3.11) cancelled after it
        # listens loses its server, whose socket then outlives runner.cleanup(). A stop
        # during the start waits for the listening socket, which cleanup() closes.
        starting = asyncio.ensure_future(site.start())
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await starting
            raise
        log.info("console on http://%s:%d/", settings.http.host, settings.http.port)
        await asyncio.Event().wait()  # until cancelled
    finally:
        await runner.cleanup()


def _instance(settings: ConsoleConfig) -> Instance:
    """Who this gateway is on every console's board (console/board_registry.py)."""
    # settings.instance (TRACUU_INSTANCE) is the composition root's; a test's own
    # ConsoleConfig may not have it.
    configured = str(getattr(settings, "instance", "") or "")
    me = identity(configured, settings.http.port, time.time())
    ami = f"{settings.ami.host}:{settings.ami.port}" if settings.ami.host else ""
    return Instance(me, ami=ami)


def agi_address(settings: ConsoleConfig, bus: EventBus) -> tuple[str, int]:
    """Where try-a-call dials: this gateway's own FastAGI server, on the port it bound
    (the voice side says so on the bus; agi.port may be 0, "any free port")."""
    host = settings.agi.host
    listening = bus.latest.get((LISTENING_TOPIC, "agi"))
    port = int(listening.data["port"]) if listening is not None else settings.agi.port
    return ("127.0.0.1" if host in ("0.0.0.0", "::", "") else host), port


def _unknown(path: tuple[str, ...]) -> Origin | None:
    return None
