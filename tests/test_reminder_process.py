"""The reminder job in its worker process (settings.sms.reminder_mode = "process", the
default): the SMS component as the gateway runs it, bound to a test SMSC on loopback.
A wave reaches the SMSC exactly once; a push runs the worker at once; a worker killed
in the middle of its scan is restarted and nothing is lost or sent twice; stopping the
component leaves no worker process. Bounded waits only, no timing asserts."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from gateway.runtime import Runtime
from gateway.settings import Settings
from kernel.bus import EventBus
from lookup import demo
from lookup.model import Dossier, Status
from lookup.sqlite import DossierStore, SqliteLookup
from peers.smsc import TestSmsc
from sms import service
from sms.reminder_process import ReminderWorker
from sms.settings import SmsSettings
from tests import stores
from tests.peers.smsc import smpp_settings, sms_world

AGENCY = "000.00.18.H26"


def ready_dossiers(today: date, first: int, count: int) -> list[Dossier]:
    """`count` dossiers whose result is ready today: one "ready" reminder each, to a
    number of its own (84 91 0000001 ...)."""
    return [
        Dossier(
            code=f"{AGENCY}-{today:%y%m%d}-{i:04d}",
            agency_id=AGENCY,
            procedure_code="1.001193",
            procedure_name="Đăng ký khai sinh",
            status=Status.READY,
            received_on=today,
            due_on=today,
            ready_on=today,
            applicant_phones=(f"+8491{i:07d}",),
        )
        for i in range(first, first + count)
    ]


async def store(database: Path, dossiers: list[Dossier]) -> None:
    writer = await DossierStore.open(database)
    try:
        await writer.upsert_dossiers(dossiers)
        await writer.upsert_procedures(demo.procedures())
    finally:
        await writer.close()


@dataclass
class Gateway:
    smsc: TestSmsc
    bus: EventBus
    database: Path
    task: asyncio.Task[None]

    def numbers(self) -> dict[str, int]:
        """Texts received at the SMSC per number (every reminder here is one part)."""
        counts: dict[str, int] = {}
        for submit in self.smsc.record.submits:
            counts[submit.destination] = counts.get(submit.destination, 0) + 1
        return counts

    def queued(self) -> int:
        rows = stores.rows(self.database, "SELECT count(*) FROM sms_message WHERE kind = ?",
                           ("reminder",))  # fmt: skip
        return int(rows[0][0])


def workers() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "reminders"]


async def until(predicate: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    """Bounded poll (a worker process starts in about a second, more on a loaded machine)."""
    async with asyncio.timeout(timeout_s):
        while not (value := predicate()):
            await asyncio.sleep(0.01)
        return value


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path, *, poll_s: float = 3600.0) -> AsyncIterator[Gateway]:
    """The SMS component (sms.service.run) with its defaults, on a test SMSC; every
    reminder may go out at any hour."""
    database = tmp_path / "tracuu.sqlite3"
    sms = SmsSettings(window_start=time(0, 0), window_end=time(23, 59, 59), reminder_poll_s=poll_s)
    lookup = await SqliteLookup.open(database)
    try:
        async with TestSmsc() as smsc:
            settings = Settings(database=str(database), smpp=smpp_settings(smsc.port), sms=sms)
            assert settings.sms.reminder_mode == "process"  # the default
            bus = EventBus()
            task = asyncio.create_task(service.run(Runtime(settings, lookup, bus)))
            try:
                yield Gateway(smsc, bus, database, task)
            finally:
                running = workers()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    async with asyncio.timeout(30):
                        await task
                # Stopping the component leaves no worker process behind.
                assert workers() == []
                assert all(p.pid is None or gone(p.pid) for p in running)
    finally:
        await lookup.close()


async def test_a_wave_reaches_the_smsc_exactly_once_from_the_worker(tmp_path: Path) -> None:
    today = datetime.now(Settings().zone).date()
    await store(tmp_path / "tracuu.sqlite3", ready_dossiers(today, 1, 300))
    async with gateway(tmp_path) as gw:
        (worker,) = await until(workers)
        assert worker.pid != os.getpid()
        await until(lambda: len(gw.smsc.record.submits) >= 300)
        await asyncio.sleep(0.5)  # anything sent twice would arrive by now
    numbers = gw.numbers()
    assert len(numbers) == 300
    assert set(numbers.values()) == {1}
    assert gw.smsc.record.texts_to("84910000001") == [
        f"Ho so {AGENCY}-{today:%y%m%d}-0001 da co ket qua. Moi Ong/Ba den nhan tai Bo phan"
        " Mot cua."
    ]


async def test_a_push_runs_the_worker_at_once(tmp_path: Path) -> None:
    """An hour to the next poll: the bus's dossiers_changed (what POST /api/dossier-events
    publishes) makes the worker scan at once."""
    today = datetime.now(Settings().zone).date()
    database = tmp_path / "tracuu.sqlite3"
    await store(database, ready_dossiers(today, 1, 1))
    async with gateway(tmp_path, poll_s=3600.0) as gw:
        await until(lambda: gw.numbers().get("84910000001"))  # the first scan is over
        await store(database, ready_dossiers(today, 2, 1))
        gw.bus.publish("dossiers_changed", {"count": 1})
        await until(lambda: gw.numbers().get("84910000002"))
        await asyncio.sleep(0.5)
    assert gw.numbers() == {"84910000001": 1, "84910000002": 1}


async def test_a_worker_killed_mid_scan_is_restarted_and_each_reminder_goes_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    count = 4000  # four pages of changes (reminder_job.PAGE): the kill comes after the first
    today = datetime.now(Settings().zone).date()
    await store(tmp_path / "tracuu.sqlite3", ready_dossiers(today, 1, count))
    async with gateway(tmp_path, poll_s=2.0) as gw:
        (first,) = await until(workers)
        await until(gw.queued)  # the first page is committed
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        killed_at = gw.queued()
        assert killed_at < count  # in the middle of its scan
        (second,) = await until(lambda: [w for w in workers() if w.pid != first.pid])
        await until(lambda: len(gw.smsc.record.submits) >= count, timeout_s=120)
        await asyncio.sleep(0.5)  # anything sent twice would arrive by now
        assert second.is_alive()
    numbers = gw.numbers()
    assert len(numbers) == count
    assert set(numbers.values()) == {1}
    print(f"killed with {killed_at} of {count} reminders queued")
    said = [r.getMessage() for r in caplog.records if r.name == "sms.reminder_process"]
    assert f"reminders: the worker process {first.pid} ended (exit code -9)" in " ".join(said)


@pytest.mark.no_store
async def test_bad_templates_stop_the_component_at_start(tmp_path: Path) -> None:
    settings = Settings(
        database=str(tmp_path / "tracuu.sqlite3"), sms=SmsSettings(templates={"ready": "{nope}"})
    )
    with pytest.raises(ValueError, match="nope"):
        ReminderWorker(settings, settings.database, lambda: None)
    assert workers() == []


@pytest.mark.no_store
def test_the_settings_refuse_a_mode_or_priority_they_do_not_know() -> None:
    assert SmsSettings().reminder_mode == "process"
    assert SmsSettings().reminder_nice == 10
    assert SmsSettings(reminder_mode="inline").reminder_mode == "inline"
    for bad in ({"reminder_mode": "thread"}, {"reminder_nice": 20}, {"reminder_nice": -1}):
        with pytest.raises(ValueError):
            SmsSettings(**bad)


async def test_the_link_sends_what_the_worker_queued_without_its_ring(tmp_path: Path) -> None:
    """The worker's ("queued",) only hurries the link: an idle link's outbox watch sees
    another process's writes on its own (SQLite data_version, PostgreSQL LISTEN)."""
    today = datetime.now(Settings().zone).date()
    window = {"window_start": time(0, 0), "window_end": time(23, 59, 59)}
    async with sms_world(tmp_path, sms=window) as world:
        await world.smsc.wait_bound()
        await store(world.database, ready_dossiers(today, 1, 5))
        assert world.pump.db is not None
        worker = ReminderWorker(world.settings, world.pump.db.location, lambda: None)
        running = asyncio.create_task(worker.run(asyncio.Event()))
        try:
            await until(
                lambda: all(world.smsc.record.texts_to(f"8491{i:07d}") for i in range(1, 6))
            )
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                async with asyncio.timeout(30):
                    await running
        assert workers() == []


def children(pid: int) -> set[int]:
    """The processes `pid` started (Linux: /proc/<pid>/task/<pid>/children)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for a reaper (an orphan's new parent may not reap)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status


def worker_pids(pid: int) -> set[int]:
    """`pid`'s spawned multiprocessing children (the reminder worker among them)."""
    found = set()
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"multiprocessing" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
    return found


@pytest.mark.postgres
@pytest.mark.slow
async def test_a_killed_gateway_leaves_no_worker_behind(tmp_path: Path, pg_server: str) -> None:
    """`tracuu serve` SIGKILLed: its reminder worker sees the pipe close and ends."""
    from tests.peers.fleet import fleet, fresh_schema

    url = await fresh_schema(pg_server, "reminderorphan")
    async with fleet(tmp_path, url, count=1) as f:
        await f.ready()
        (gw,) = f.gateways
        assert gw.process is not None
        pid = gw.process.pid
        spawned = await until(lambda: worker_pids(pid))
        gw.kill()
        await until(lambda: all(ended(child) for child in spawned))
