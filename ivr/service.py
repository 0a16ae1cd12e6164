"""The voice component: the FastAGI server (and the AMI monitor when configured).

`run(runtime)` serves until cancelled, then stops accepting calls and lets the
live ones finish for settings.agi.drain_s before handing them to the dialplan.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from gateway.bus import EventBus
from gateway.runtime import Runtime
from gateway.settings import Settings
from ivr import flow
from ivr.agi_wire import AgiChannel, Request
from ivr.ami_monitor import AmiMonitor
from ivr.notify import notification_call
from ivr.server import AgiServer, Route
from ivr.session import CallDeps, InboundCall
from ivr.speech import Speech
from ivr.store import IvrStore
from lookup.port import DossierLookup
from prompts.catalog import Catalog, load_catalog

log = logging.getLogger(__name__)


def build_server(
    settings: Settings,
    lookup: DossierLookup,
    *,
    bus: EventBus | None = None,
    catalog: Catalog | None = None,
    clock: Callable[[], datetime] = datetime.now,
    store: IvrStore | None = None,
) -> AgiServer:
    """The FastAGI server with every route of this gateway ("notify" needs the store)."""
    catalog = catalog or load_catalog()
    missing = catalog.missing(flow.FIXED_PROMPTS)
    if missing:
        raise ValueError(f"prompts missing from the catalog: {sorted(missing)}")
    deps = CallDeps(
        settings=settings.agi,
        lookup=lookup,
        speech=Speech(catalog, settings.office, settings.region),
        zone=settings.zone,
        bus=bus,
        clock=clock,
        store=store,
    )

    async def inbound(channel: AgiChannel, request: Request, env: dict[str, str]) -> None:
        await InboundCall(channel, request, env, deps).run()

    routes: dict[str, Route] = {"ivr": inbound}
    if store is not None:
        notify_store = store

        async def notify(channel: AgiChannel, request: Request, env: dict[str, str]) -> None:
            await notification_call(channel, request, env, deps, notify_store)

        routes["notify"] = notify
    return AgiServer(settings.agi, routes)


async def run(runtime: Runtime, *, started: asyncio.Event | None = None) -> None:
    """FastAGI (and AMI when settings.ami.host is set) until cancelled; then a graceful stop.

    `started` is set once the server listens (for tests and the composition root).
    """
    settings = runtime.settings
    store = await IvrStore.open(settings.sqlite_path) if settings.database_is_sqlite else None
    server = build_server(settings, runtime.lookup, bus=runtime.bus, store=store)
    await server.start()
    if started is not None:
        started.set()
    try:
        async with asyncio.TaskGroup() as tasks:
            if settings.ami.host:
                monitor = AmiMonitor(settings.ami, runtime.bus, store, zone=settings.zone)
                tasks.create_task(monitor.run())
            tasks.create_task(asyncio.Event().wait())  # until cancelled
    finally:
        # Shielded: a second cancel during the drain must not leave calls mid-air.
        await asyncio.shield(server.stop())
        if store is not None:
            await store.close()
