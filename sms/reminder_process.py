"""The reminder job in a worker process of its own, at a lower CPU priority
(settings.sms.reminder_mode = "process", the default).

Why: on the gateway's loop, the job's scan of a million changed dossiers at start-up
(about 50 s: its slices on the loop, the database's reader and writer threads
converting rows) shared the GIL with the calls, whose reply -> next AGI command p99
rose to 13-34 ms (goal 10 ms). In a process of its own the job has its own GIL, and
os.nice(settings.sms.reminder_nice) tells the kernel that a call's next command goes
before the next page of the scan; the same run kept the calls' p99 at 7.8 ms and the
scan itself ended sooner (bench/mixed_bench.py, docs/benchmarks.md).

Nothing is lost by the move, nor by a worker killed at any point: the job is crash-safe
already (a page of changes, its reminders and the cursor in one transaction; dedup
keys; one scan at a time across instances by Database.try_lock), so the worker opens
its own Database and lookup (as `tracuu reminders run` does) and the gateway only
keeps one running. The queued reminders reach the link through the outbox; the link's
outbox watch notices another process's writes as well (sms/outbox_watch.py), and the
worker rings the gateway anyway so the link sends at once.

One multiprocessing pipe of small messages:

  gateway -> worker  ("nudge",)   dossiers changed (a one-stop system's push): run now
                     ("stop",)    end (a scan in progress is abandoned: crash-safe)
  worker -> gateway  ("queued",)  reminders were queued: ring the link

The worker ends when the pipe closes (the gateway is gone), so a killed gateway leaves
no orphan; ReminderWorker restarts a worker that died, with a backoff, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from multiprocessing.connection import Connection
from typing import Any, Literal

from kernel.db import Location
from kernel.logs import current_setup
from sms import reminders
from sms.settings import SmsConfig

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0  # the page in progress is abandoned; its database job ends first
RESTART_MIN_S = 1.0
RESTART_MAX_S = 60.0
STABLE_S = 60.0  # a worker that ran this long died of something new: restart quickly


class ReminderProcess:
    """One worker process running the reminder job until stopped or the pipe closes."""

    def __init__(
        self,
        settings: SmsConfig,
        database: Location,
        *,
        on_queued: Callable[[], None],
        nice: int = 0,
        log_zone: tzinfo | None = None,
    ) -> None:
        self._on_queued = on_queued
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ended = asyncio.Event()  # the process exited (set on the loop)
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._conn, self._child = context.Pipe()
        self._send_lock = threading.Lock()  # stop() comes from a worker thread
        args = WorkerArgs(settings, database, nice, current_setup(log_zone))
        self._process = context.Process(
            target=worker_main, args=(self._child, args), name="reminders", daemon=True
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    def start(self) -> None:
        """On the event loop: the worker starts; its messages and its end reach the loop."""
        loop = self._loop = asyncio.get_running_loop()
        self._process.start()
        self._child.close()  # the worker holds it now
        loop.add_reader(self._conn.fileno(), self._received)
        loop.add_reader(self._process.sentinel, self._exited)

    def nudge(self) -> None:
        """Dossiers changed: the worker runs the job now (after its scan in progress)."""
        self._send(("nudge",))

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """End the worker (from any thread): asked, then killed."""
        self._send(("stop",))
        self._process.join(timeout_s)
        if self._process.is_alive():
            log.error("reminders: the worker did not stop within %.1f s: killed", timeout_s)
            self._process.kill()  # crash-safe: the next worker resumes from the cursor
            self._process.join(2.0)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                loop.call_soon_threadsafe(self._exited)

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock, contextlib.suppress(OSError, ValueError):  # the worker is gone
            self._conn.send(message)

    def _received(self) -> None:
        """The loop's reader: every whole message waiting (each is one small write)."""
        try:
            while self._conn.poll():
                if self._conn.recv()[0] == "queued":
                    self._on_queued()
        except (EOFError, OSError):
            self._forget_pipe()  # the worker ended; the sentinel says so too

    def _forget_pipe(self) -> None:
        if not self._conn.closed:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._conn.fileno())

    def _exited(self) -> None:
        """On the loop: the worker's process ended (its sentinel is readable)."""
        if self.ended.is_set():
            return
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._process.sentinel)
        self._received()  # what it said before it ended
        self._forget_pipe()
        with self._send_lock:  # not under a stop() sending from its thread
            self._conn.close()
        self.ended.set()


class ReminderWorker:
    """Keeps one reminder worker running while the gateway runs: started at once,
    restarted after RESTART_MIN_S (doubling to RESTART_MAX_S) when it dies, stopped
    with the gateway. `wake`: rings the link (the worker queued reminders)."""

    def __init__(self, settings: SmsConfig, database: Location, wake: Callable[[], None]) -> None:
        problems = reminders.check_templates(settings.sms.templates)
        if problems:  # here, at start: not a worker dying of it over and over
            raise ValueError("; ".join(problems))
        self.settings = settings
        self.database = database
        self.wake = wake
        self.process: ReminderProcess | None = None
        self.restarts = 0

    async def run(self, nudge: asyncio.Event) -> None:
        """Until cancelled; `nudge` set (a push) makes the worker run the job at once."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._forward(nudge))
                tasks.create_task(self._keep_running())
        finally:
            if self.process is not None:
                await asyncio.to_thread(self.process.stop, STOP_TIMEOUT_S)

    def _start(self) -> ReminderProcess:
        sms = self.settings.sms
        process = ReminderProcess(
            self.settings,
            self.database,
            on_queued=self.wake,
            nice=sms.reminder_nice,
            log_zone=self.settings.zone,
        )
        process.start()
        self.process = process
        log.info("reminders: the reminder job runs in worker process %s", process.pid)
        return process

    async def _keep_running(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = RESTART_MIN_S
        while True:
            started = loop.time()
            process = self._start()
            await process.ended.wait()
            # Reaps it (its exit code): at once, the process has ended; its sentinel
            # closes a moment before the kernel lets it be waited for.
            await asyncio.to_thread(process.stop, STOP_TIMEOUT_S)
            if loop.time() - started >= STABLE_S:
                backoff = RESTART_MIN_S
            log.error(
                "reminders: the worker process %s ended (exit code %s); a new one in %.0f s"
                " (nothing is lost: the job resumes from its saved cursor)",
                process.pid,
                process.exitcode,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESTART_MAX_S)
            self.restarts += 1

    async def _forward(self, nudge: asyncio.Event) -> None:
        while True:
            await nudge.wait()
            nudge.clear()
            if self.process is not None:
                self.process.nudge()  # a worker starting meanwhile scans anyway


# ---------------------------------------------------------------- the worker process


@dataclass(frozen=True)
class WorkerArgs:
    """What the worker needs to run the job (pickled to the spawned process)."""

    settings: SmsConfig  # the gateway's settings (pydantic: pickled whole)
    database: Location  # the gateway's own Database's location (a test may have moved it)
    nice: int
    logs: tuple[str, tzinfo | None, Literal["text", "json"]]  # level, zone, format


def worker_main(conn: Connection, args: WorkerArgs) -> None:
    """The worker: the reminder job on an event loop of its own, until told or orphaned."""
    from kernel.logs import setup_logging

    # Ctrl-C in the gateway's terminal reaches this process too: the gateway ends it
    # (a "stop", or its pipe closing). SIGTERM (systemd stopping the service's group,
    # multiprocessing's exit handler) ends it cleanly, as "stop" does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if args.nice:
        os.nice(args.nice)
    setup_logging(*args.logs)  # the gateway's level, zone and format: one log to read
    try:
        asyncio.run(_work(conn, args))
    except Exception:
        log.exception("reminders: the worker failed")  # the gateway starts another
        raise SystemExit(1) from None


async def _work(conn: Connection, args: WorkerArgs) -> None:
    from kernel.db import Database
    from lookup.factory import open_lookup
    from prompts.catalog import load_catalog
    from sms import reminder_job
    from sms.outbox import COMPONENT, STEPS

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    nudge = asyncio.Event()

    def received() -> None:
        try:
            while conn.poll():
                message = conn.recv()
                if message[0] == "nudge":
                    nudge.set()
                elif message[0] == "stop":
                    main.cancel()
        except (EOFError, OSError):  # the gateway is gone: end, leave no orphan
            loop.remove_reader(conn.fileno())
            main.cancel()

    def queued() -> None:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("queued",))

    loop.add_reader(conn.fileno(), received)
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    settings = args.settings
    with contextlib.suppress(asyncio.CancelledError):
        db = await Database.open(args.database)
        try:
            await db.migrate(COMPONENT, STEPS)
            async with open_lookup(settings, db=db) as lookup:  # one Database for both
                job = reminder_job.ReminderJob(settings, lookup, db, load_catalog())
                await reminder_job.run(job, queued, settings.sms.reminder_poll_s, nudge)
        finally:
            await db.close()
