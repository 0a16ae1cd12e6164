"""Runs the configured components in one process (the composition root).

Components: voice (FastAGI server, AMI monitor when configured), SMS (SMPP
link, pump, reminders; a local test SMSC in demo mode), voice prompts
(start-up check, placeholder rendering in a worker thread) and the operator
console. One TaskGroup owns them; SIGINT/SIGTERM cancel them all, and each
cleans up (live calls drain, the SMPP link unbinds). A component that fails
stops the gateway with a non-zero exit, so a supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from gateway.runtime import Runtime
from gateway.settings import Settings, config_origins
from kernel.bus import EventBus
from kernel.db import Database
from kernel.heap import freeze_startup, paced_for_serving
from kernel.histogram import LatencyHistogram
from kernel.looplag import LoopLagMonitor

log = logging.getLogger(__name__)

Component = Callable[[Runtime], Coroutine[Any, Any, None]]
# The components' start-up (listeners, catalogs, the console's first imports) is over
# by then on a loaded machine too.
STARTUP_S = 5.0


class ComponentStopped(Exception):
    """A component returned or was cancelled while the gateway was meant to run."""


def components() -> dict[str, Component]:
    import console.service
    import ivr.service
    import prompts.service
    import sms.service

    return {
        "voice": ivr.service.run,
        "sms": sms.service.run,
        "prompts": prompts.service.run,
        "console": console.service.run,
    }


async def migrate_all(settings: Settings, db: Database | None = None) -> None:
    """Every component's tables, one after another, before any component starts.

    Migrations hold SQLite's write lock across awaits; run while the components
    start, they raced the SMS side's synchronous writes (see kernel/migrate.py).
    """
    from console import board_registry, stats
    from console.accounts import AccountStore
    from ivr.store import IvrStore
    from prompts.database import migrate as migrate_prompts
    from sms.outbox import COMPONENT, STEPS

    owned = db is None
    if db is None:
        db = await Database.open(settings.database)
    try:
        await db.migrate(COMPONENT, STEPS)
        await IvrStore.create(db)
        await AccountStore.on(db)
        await db.migrate(stats.COMPONENT, stats.STEPS)
        await board_registry.migrate(db)
        await migrate_prompts(db)
    finally:
        if owned:
            await db.close()


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    bus: EventBus | None = None,
    loop_lag: LoopLagMonitor | None = None,
) -> None:
    """Run every component until `stop` is set. `loop_lag`: a monitor the caller reads."""
    # The components' modules (aiohttp, cryptography, the catalogs: ~150 ms) are imported
    # before anything listens and before the monitor starts: that one stall delays no
    # call, and counted as one it would stand as the loop's worst lag in /metrics for
    # the life of the process.
    started = components()
    # Every gateway process watches its loop: a blocking step is dead air on every call.
    monitor = loop_lag or LoopLagMonitor()
    monitor.start()
    try:
        await _serve(settings, stop, bus, monitor, started)
    finally:
        monitor.stop()


async def _serve(
    settings: Settings,
    stop: asyncio.Event,
    bus: EventBus | None,
    loop_lag: LoopLagMonitor,
    started: dict[str, Component],
) -> None:
    from lookup.factory import open_database, open_lookup
    from lookup.port import DossierLookup
    from lookup.timed import TimedLookup

    async with contextlib.AsyncExitStack() as stack:
        # One Database for every store of this process and the lookup (kernel/db.py). A
        # mistyped path must not become a new empty database that answers "not found".
        db = await open_database(settings, create=False)
        stack.push_async_callback(db.close)
        lookup = await stack.enter_async_context(open_lookup(settings, create=False, db=db))
        await migrate_all(settings, db)
        # Every component's look-ups are timed for /metrics.
        latency = LatencyHistogram()
        timed = cast(DossierLookup, TimedLookup(lookup, latency))
        origins = config_origins(settings)
        runtime = Runtime(settings, timed, bus or EventBus(), loop_lag, db, latency, origins)
        freeze_startup()  # the modules imported by now; again once the components are up
        stack.enter_context(paced_for_serving())
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(runtime), name=name) for name, run in started.items()]
            stopping = group.create_task(stop.wait(), name="stop")
            settled = group.create_task(_freeze_after(STARTUP_S), name="heap")
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            ended = [task.get_name() for task in tasks if task.done()]
            log.info("tracuu stopping")
            for task in (*tasks, stopping, settled):
                task.cancel()
        if ended and not stop.is_set():
            # A component runs until cancelled: one that ended by itself (even without
            # an exception) leaves the gateway half-working, so stop with a fault and
            # let the supervisor restart the whole process.
            raise ComponentStopped(f"component {', '.join(ended)} stopped by itself")


async def _freeze_after(delay_s: float) -> None:
    """Once the components have started, their long-lived objects leave the garbage
    collector's passes (kernel/heap.py: a full pass stopped calls for 20 ms and more)."""
    await asyncio.sleep(delay_s)
    freeze_startup()


async def seed_demo(settings: Settings, count: int) -> None:
    """Fill an empty database with the demo dossiers (kept if already there)."""
    from lookup import demo
    from lookup.sqlite import DossierStore, SqliteLookup

    lookup = await SqliteLookup.open(settings.sqlite_path, create=True)
    try:
        present = await lookup.by_code(demo.FIXED_CODE) is not None
    finally:
        await lookup.close()
    if present:
        return
    today = datetime.now(settings.zone).date()
    store = await DossierStore.open(settings.sqlite_path)
    try:
        await store.upsert_procedures(demo.procedures())
        await store.upsert_dossiers(demo.fixed_dossiers(today))
        agencies = [agency.id for agency in settings.agencies]
        await store.upsert_dossiers(demo.generate(count, today=today, agencies=agencies))
    finally:
        await store.close()
    log.info("demo: %d dossiers stored in %s", count + 7, settings.sqlite_path)


DEMO_BANNER = """\
tracuu demo is running on {database}
  voice    FastAGI on agi://{agi_host}:{agi_port}/ivr
           try: {tracuu} call --server {agi_host}:{agi_port} --pace-ms 500 --keys "1 2411290002#"
           (half a second a prompt: watch the call step by step in the console)
  sms      {sms}
           try: {tracuu} sms text --from 0912345678 "HS 000.00.18.H26-241129-0001"
  console  http://{http_host}:{http_port}/
  lookup   {tracuu} lookup 000.00.18.H26-241129-0001
Ctrl-C stops it.
"""

# The SMS component publishes the test SMSC's port once it listens (sms/service.py).
DEMO_SMSC_EVENT = ("sms", "demo_smsc")


def demo_banner(
    settings: Settings, smsc_port: int | None, tracuu: str = "tracuu", agi_port: int | None = None
) -> str:
    """What the demo prints once it runs: where each part listens and a command to try
    (`agi_port`: the port FastAGI bound, when settings.agi.port is 0)."""
    if settings.smpp.configured:
        binds = settings.smpp.resolved_binds()
        at = ", ".join(f"{s.host}:{s.port}" for _, s in binds)
        sms = f"bound to the SMSC{'s' if len(binds) > 1 else ''} at {at}"
    elif smsc_port is None:
        sms = "the test SMSC did not start (see the log above)"
    else:
        sms = (
            f"a test SMSC on SMPP 127.0.0.1:{smsc_port} (system_id tracuu, password demo; "
            "another port: TRACUU_SMS_DEMO_SMSC_PORT)"
        )
    return DEMO_BANNER.format(
        database=settings.database,
        agi_host=settings.agi.host,
        agi_port=agi_port or settings.agi.port,
        sms=sms,
        tracuu=tracuu,
        http_host=settings.http.host,
        http_port=settings.http.port,
    )


def bound_agi_port(bus: EventBus) -> int | None:
    """The port the FastAGI server bound, once it says so on the bus (ivr/server.py)."""
    from ivr.server import LISTENING_TOPIC

    listening = bus.latest.get((LISTENING_TOPIC, "agi"))
    return None if listening is None else int(listening.data["port"])


async def demo_smsc_port(bus: EventBus, timeout_s: float) -> int | None:
    """The port the demo's test SMSC listens on, once it does; None if it does not start."""
    async with bus.subscribe() as events:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while True:
                    latest = bus.latest.get(DEMO_SMSC_EVENT)
                    if latest is not None:
                        return int(latest.data["demo_smsc_port"])
                    await events.get()
    return None


def tracuu_command() -> str:
    """How to type tracuu here: bare when PATH finds this very install (bootstrap links
    it), else the path of this install's script."""
    here = Path(sys.executable).parent / "tracuu"
    found = shutil.which("tracuu")
    if found is not None and Path(found).resolve() == here.resolve():
        return "tracuu"
    with contextlib.suppress(ValueError):
        return str(here.relative_to(Path.cwd()))
    return str(here)


def _run(
    settings: Settings,
    before: Callable[[], Awaitable[None]] | None = None,
    beside: Callable[[EventBus], Coroutine[Any, Any, None]] | None = None,
) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if before is not None:
            await before()
        bus = EventBus()
        async with asyncio.TaskGroup() as tasks:
            side = None if beside is None else tasks.create_task(beside(bus), name="beside")
            try:
                await serve(settings, stop, bus)
            finally:
                if side is not None:
                    side.cancel()  # a stop before the banner: nothing left to wait for

    try:
        asyncio.run(main())
    except Exception as fault:
        faults = fault.exceptions if isinstance(fault, ExceptionGroup) else (fault,)
        for exc in faults:
            log.error("tracuu stopped by a fault: %s", exc, exc_info=exc)  # noqa: TRY400
        return 1
    return 0


def run(settings: Settings) -> int:
    return _run(settings)


DEMO_ADMIN = "demo"


async def seed_demo_admin(settings: Settings) -> str:
    """The demo's admin account with a fresh random password, returned to be printed once.

    A new password at every start: the one printed before stops working, so a demo left
    running on an office network is not open with yesterday's printed password.
    """
    import secrets

    from console.accounts import AccountStore
    from console.cli import accounts_path
    from console.passwords import hash_password_blocking
    from console.roles import Role

    password = secrets.token_urlsafe(9)  # 12 characters, ~72 bits
    hashed = await asyncio.to_thread(hash_password_blocking, password)
    path = accounts_path(settings)
    if settings.database_is_sqlite:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    store = await AccountStore.open(path)
    try:
        if await store.by_name(DEMO_ADMIN) is None:
            await store.add_user(DEMO_ADMIN, Role.ADMIN, hashed)
            await store.audit("demo", "user.add", DEMO_ADMIN, {"role": Role.ADMIN.key})
        else:
            await store.set_password(DEMO_ADMIN, hashed)  # ends the old password's sessions
            await store.set_role(DEMO_ADMIN, Role.ADMIN)
            await store.set_disabled(DEMO_ADMIN, False)
            await store.audit("demo", "user.password", DEMO_ADMIN)
    finally:
        await store.close()
    return password


def run_demo(settings: Settings, count: int, traffic_per_min: float = 0.0) -> int:
    """`traffic_per_min`: simulated calls (through the FastAGI server) and SMS (through
    the local test SMSC) a minute, so the console's board moves; 0 = none."""
    settings = settings.model_copy(
        update={"sms": settings.sms.model_copy(update={"demo_traffic_per_min": traffic_per_min})}
    )

    password = ""

    async def before() -> None:
        nonlocal password
        if settings.database_is_sqlite:
            await seed_demo(settings, count)
        password = await seed_demo_admin(settings)

    async def banner(bus: EventBus) -> None:
        local_smsc = not settings.smpp.configured
        port = await demo_smsc_port(bus, timeout_s=30.0) if local_smsc else None
        agi_port = bound_agi_port(bus) or settings.agi.port  # agi.port 0: the one it bound
        print(demo_banner(settings, port, tracuu_command(), agi_port), file=sys.stderr, flush=True)
        print(
            f"  sign in  {DEMO_ADMIN} / {password}  (admin; a new one-time password at every"
            " start of the demo)",
            file=sys.stderr,
            flush=True,
        )
        if traffic_per_min > 0 and agi_port:
            from peers import traffic

            print(
                f"  traffic  about {traffic_per_min:g} simulated calls and SMS a minute, to watch"
                " on the console's board (tracuu demo --traffic-per-min 0: none)",
                file=sys.stderr,
                flush=True,
            )
            host = "127.0.0.1" if settings.agi.host in ("0.0.0.0", "::") else settings.agi.host
            await traffic.calls(host, agi_port, every_s=60 / traffic_per_min)

    return _run(settings, before, banner)
