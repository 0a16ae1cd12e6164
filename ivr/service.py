"""The voice component: the FastAGI server (and the AMI monitor when configured).

`run(runtime)` serves until cancelled, then stops accepting calls and lets the
live ones finish for settings.agi.drain_s before handing them to the dialplan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from ivr import flow
from ivr.agi_wire import AgiChannel, Request
from ivr.ami_monitor import AmiMonitor
from ivr.available import LivePrompts
from ivr.notify import notification_call
from ivr.server import LISTENING_TOPIC, AgiServer, Route
from ivr.session import CallDeps, InboundCall
from ivr.settings import VoiceConfig
from ivr.speech import Speech
from ivr.store import IvrStore
from kernel.bus import EventBus
from kernel.runtime import Runtime
from lookup.port import DossierLookup
from messages.parts import dynamic_prompt_id
from prompts.catalog import Catalog, load_catalog
from prompts.wanted import PROMPT_WANTED

log = logging.getLogger(__name__)


def build_server(
    settings: VoiceConfig,
    lookup: DossierLookup,
    *,
    bus: EventBus | None = None,
    catalog: Catalog | None = None,
    clock: Callable[[], datetime] = datetime.now,
    store: IvrStore | None = None,
    available: Callable[[str], bool] | None = None,
) -> AgiServer:
    """The FastAGI server with every route of this gateway ("notify" needs the store).

    `available(prompt_id)` tells whether Asterisk has a prompt's files; by default the
    live files under settings.sounds.dir (ivr/available.py). A free text without them
    is never sent to Asterisk: the caller hears a fallback and the prompts component
    is asked (bus topic "prompt_wanted") to render it.
    """
    catalog = catalog or load_catalog()
    missing = catalog.missing(flow.FIXED_PROMPTS)
    if missing:
        raise ValueError(f"prompts missing from the catalog: {sorted(missing)}")
    speech = Speech(
        catalog,
        settings.office,
        settings.region,
        available=available or LivePrompts(settings.sounds.live_dir),
        wanted=_Wanted(bus),
        agency_names={a.id: a.name for a in settings.agencies},
    )
    deps = CallDeps(
        settings=settings.agi,
        lookup=lookup,
        speech=speech,
        agencies=tuple(a.id for a in settings.agencies),
        zone=settings.zone,
        bus=bus,
        clock=clock,
        store=store,
    )

    def inbound(
        channel: AgiChannel, request: Request, env: dict[str, str]
    ) -> Coroutine[Any, Any, None]:
        # The call's own coroutine, not one wrapped in another: a layer fewer per call.
        return InboundCall(channel, request, env, deps).run()

    routes: dict[str, Route] = {"ivr": inbound}
    if store is not None:
        notify_store = store

        async def notify(channel: AgiChannel, request: Request, env: dict[str, str]) -> None:
            await notification_call(channel, request, env, deps, notify_store)

        routes["notify"] = notify
    return AgiServer(settings.agi, routes)


class _Wanted:
    """Logs a free text a caller should have heard, and asks the prompts component for it.

    Each text once per `quiet_s`: a missing collection place read in every answer
    must not flood the log or the bus.
    """

    def __init__(
        self,
        bus: EventBus | None,
        *,
        quiet_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._quiet_s = quiet_s
        self._clock = clock
        self._asked: dict[str, float] = {}

    def __call__(self, text: str) -> None:
        now = self._clock()
        last = self._asked.get(text)
        if last is not None and now - last < self._quiet_s:
            return
        if len(self._asked) > 10_000:
            self._asked.clear()
        self._asked[text] = now
        log.warning(
            "voice prompt %s (%r) not rendered yet: callers hear a fallback; asked for it",
            dynamic_prompt_id(text),
            text,
        )
        if self._bus is not None:
            self._bus.publish(PROMPT_WANTED, {"text": text})


async def run(
    runtime: Runtime[VoiceConfig, DossierLookup], *, started: asyncio.Event | None = None
) -> None:
    """FastAGI (and AMI when settings.ami.host is set) until cancelled; then a graceful stop.

    `started` is set once the server listens (for tests and the composition root).
    """
    settings = runtime.settings
    store: IvrStore | None = None
    if runtime.db is not None:
        store = await IvrStore.create(runtime.db)
    else:
        store = await IvrStore.open(settings.database)
    server = build_server(settings, runtime.lookup, bus=runtime.bus, store=store)
    await server.start()
    runtime.bus.publish(
        LISTENING_TOPIC, {"host": settings.agi.host, "port": server.port}, key="agi"
    )
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
