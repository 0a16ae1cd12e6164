"""The SMPP link in a worker process of its own, at a lower CPU priority.

Why: in the gateway process the link thread (about 1,800 parts a second during a
reminder wave: claim, encode, send, read, commit) competed with the event loop
for the GIL and the CPU, and every millisecond it held them was dead air on a call
(bench/mixed_bench.py, docs/benchmarks.md). In a process of its own it has its
own GIL, and os.nice(settings.sms.link_nice) tells the kernel that a call's next
AGI command goes before the next reminder part when both want the CPU. Nothing
is lost by the move: the outbox in the database was already the queue between the
pump and the link (the link thread had its own connection).

LinkProcess stands in for SmppLink inside the pump (start, wake, stop, alive,
state, the counters). Between the two processes, one multiprocessing pipe of small
messages:

  pump -> link  ("wake", {bind: available})  the doorbell, with which binds are up
                                             (routes with several binds need it)
                ("stop", timeout_s)          unbind and end
  link -> pump  ("inbound",)                 new incoming rows are stored
                ("state", state, detail)     the link's state changed
                ("counters", (submitted, throttled, receipts, reconnects))

The worker ends when its link thread ends or the pipe closes (the gateway is gone),
so a killed gateway leaves no orphan bound to the SMSC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from multiprocessing.connection import Connection
from typing import Any, Literal

from kernel.db import Location
from kernel.logs import current_setup
from sms.dispatch import Counters, CountersView
from sms.routes import RouteBind, RouteFilter, Routes
from sms.settings import SmppSettings

log = logging.getLogger(__name__)

COUNTERS_EVERY_S = 1.0  # the console's board reads them; a second is fresh enough
START_TIMEOUT_S = 30.0  # an interpreter start and the imports, on a loaded machine


class LinkProcess(CountersView):
    """SmppLink's interface for the pump; the link itself runs in a spawned process."""

    def __init__(
        self,
        settings: SmppSettings,
        database: Location,
        *,
        on_inbound: Callable[[], None],
        on_state: Callable[[str, str], None],
        available: Callable[[], dict[str, bool]] = dict,
        binds: tuple[RouteBind, ...] = (),
        name: str = "",
        receipt_scope: str = "",
        nice: int = 0,
        log_zone: tzinfo | None = None,
    ) -> None:
        self.name = name
        self.state = "down"
        self.counters = Counters()
        self._on_inbound = on_inbound
        self._on_state = on_state
        self._available = available
        self._loop: asyncio.AbstractEventLoop | None = None
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._conn, child = context.Pipe()
        self._send_lock = threading.Lock()  # stop() comes from a worker thread
        args = WorkerArgs(
            settings, database, binds, name, receipt_scope, nice, current_setup(log_zone)
        )
        self._process = context.Process(
            target=worker_main,
            args=(child, args),
            name=f"smpp-link {name}".rstrip(),
            daemon=True,
        )  # fmt: skip
        self._child = child

    # ------------------------------------------------------------ the pump's side

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        """On the event loop: the worker starts, its messages are read by the loop."""
        self._loop = asyncio.get_running_loop()
        self._process.start()
        self._child.close()  # the worker holds it now: EOF here when the worker ends
        self._loop.add_reader(self._conn.fileno(), self._received)

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def wake(self) -> None:
        """Doorbell: the outbox has new rows (and who is up, for the routes)."""
        self._send(("wake", self._available()))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Unbind and end the worker (from any thread); killed if it does not end."""
        self._send(("stop", timeout_s))
        self._process.join(timeout_s + 2.0)
        if self._process.is_alive():
            log.error("smpp link process did not stop within %.1f s: killed", timeout_s)
            self._process.kill()
            self._process.join(2.0)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                loop.call_soon_threadsafe(self._forget)

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock, contextlib.suppress(OSError, ValueError):  # the worker is gone
            self._conn.send(message)

    def _forget(self) -> None:
        if not self._conn.closed:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._conn.fileno())
            self._conn.close()

    def _received(self) -> None:
        """The loop's reader: every whole message waiting (each is one small write)."""
        try:
            while self._conn.poll():
                self._apply(self._conn.recv())
        except (EOFError, OSError):
            self._forget()  # the worker ended; the pump sees alive == False

    def _apply(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "inbound":
            self._on_inbound()
        elif kind == "state":
            self.state = message[1]
            self._on_state(message[1], message[2])
        elif kind == "counters":
            (
                self.counters.submitted,
                self.counters.throttled,
                self.counters.receipts,
                self.counters.reconnects,
            ) = message[1]


# ---------------------------------------------------------------- the worker process


@dataclass(frozen=True)
class WorkerArgs:
    """What the worker needs to run its link (pickled to the spawned process)."""

    settings: SmppSettings
    database: Location
    binds: tuple[RouteBind, ...]  # several: this bind claims only the numbers it owns
    name: str
    receipt_scope: str
    nice: int
    logs: tuple[str, tzinfo | None, Literal["text", "json"]]  # level, zone, format


def worker_main(conn: Connection, args: WorkerArgs) -> None:
    """The worker: one SmppLink thread, and this thread carrying the pipe."""
    from kernel.logs import setup_logging
    from sms.link import SmppLink

    if args.nice:
        os.nice(args.nice)
    setup_logging(*args.logs)  # the gateway's level, zone and format: one log to read
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock, contextlib.suppress(OSError, ValueError):
            conn.send(message)

    available: dict[str, bool] = {}  # the other binds', as the pump last told
    routes = Routes(list(args.binds)) if len(args.binds) > 1 else None

    def route() -> RouteFilter | None:
        if routes is None:
            return None
        mine = link.state == "up"
        return routes.filter_for(
            args.name, lambda b: mine if b == args.name else available.get(b, False)
        )

    link = SmppLink(
        args.settings,
        args.database,
        on_inbound=lambda: send(("inbound",)),
        on_state=lambda state, detail: send(("state", state, detail)),
        route=route,
        name=args.name,
        receipt_scope=args.receipt_scope,
    )
    link.start()
    last: tuple[int, ...] = ()
    try:
        while link.alive:
            try:
                message = conn.recv() if conn.poll(COUNTERS_EVERY_S) else None
            except (EOFError, OSError):
                # The gateway is gone (a SIGKILLed one can leave ECONNRESET, not EOF):
                # unbind and end.
                break
            if message is not None:
                if message[0] == "wake":
                    available.update(message[1])
                    link.wake()
                elif message[0] == "stop":
                    link.stop(message[1])
                    break
            last = _report(link.counters, last, send)
    finally:
        if link.alive:
            link.stop()
        _report(link.counters, (), send)


def _report(
    c: Counters, last: tuple[int, ...], send: Callable[[tuple[Any, ...]], None]
) -> tuple[int, ...]:
    counters = (c.submitted, c.throttled, c.receipts, c.reconnects)
    if counters != last:
        send(("counters", counters))
    return counters
