"""A reminder scan never stalls the event loop (issue 8).

10,000 calendar reminders are planned, composed and queued while another task on
the same loop counts the reminders planned or composed between two of its turns.
Before, the scan ran in one synchronous stretch (`ReminderJob.calendar` never
awaited, the outbox wrote on the loop): the other task got no turn until the
scan was over, 20,000 steps later.

Counted in steps of work, not in seconds: the same figure on a quiet or a loaded
machine (a ratio of two timings was not: a stall of the whole process, which the
scan did not cause, made one gap look like a quarter of the scan).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import pytest

from gateway.settings import Settings
from kernel.db import Conn, Database
from lookup.model import Dossier, Status
from prompts.catalog import load_catalog
from sms import reminders
from sms.outbox import COMPONENT, STEPS, Outbox
from sms.reminder_job import SLICE, ReminderJob, Summary, _to_json
from sms.replies import ReplyContext

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 11, 30)
COUNT = 10_000
P = ParamSpec("P")
T = TypeVar("T")


def _watch_all(conn: Conn) -> None:
    outbox = Outbox(conn)
    for i in range(COUNT):
        d = Dossier(
            code=f"000.00.18.H26-261120-{i:06d}",
            agency_id="000.00.18.H26",
            procedure_code="1.001193",
            procedure_name="Đăng ký khai sinh",
            status=Status.PROCESSING,
            received_on=date(2026, 11, 20),
            due_on=TODAY + timedelta(days=1),
            applicant_phones=(f"+8491{i:07d}",),
        )
        outbox.watch(d.code, int(d.status), d.due_on.isoformat(), None, _to_json(d))


async def test_a_scan_of_10000_reminders_leaves_the_loop_its_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "t.sqlite3"
    db = await Database.open(database)
    try:
        await db.migrate(COMPONENT, STEPS)
        await db.run(_watch_all)
        settings = Settings(database=str(database))
        catalog = load_catalog()
        job = ReminderJob(settings, None, db, catalog)  # type: ignore[arg-type]
        ctx = ReplyContext(catalog=catalog, office=settings.office, today=TODAY)
        now = datetime(2026, 11, 30, 9, 0, tzinfo=ZONE).timestamp()

        # The loop's work, step by step: a dossier planned (reminders.scheduled) or a
        # reminder's text composed (ReminderJob._text), both on the loop.
        done = 0
        worked = asyncio.Event()  # some work since the other task's last turn

        def counted(step: Callable[P, T]) -> Callable[P, T]:
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                nonlocal done
                done += 1
                worked.set()  # the other task is ready from now on; it runs at the next yield
                return step(*args, **kwargs)

            return wrapper

        monkeypatch.setattr(reminders, "scheduled", counted(reminders.scheduled))
        monkeypatch.setattr(job, "_text", counted(job._text))

        stretches: list[int] = []  # steps done between two turns of the other task
        stop = False

        async def other_task() -> None:
            seen = 0
            while not stop:
                await worked.wait()
                worked.clear()
                stretches.append(done - seen)
                seen = done

        other = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        summary = Summary()
        async with asyncio.timeout(300):
            await job.calendar(TODAY, ctx, now, now, summary)
        stop = True
        worked.set()
        await other
        queued = await db.fetchval("SELECT count(*) FROM sms_message WHERE kind = 'reminder'")
    finally:
        await db.close()

    assert summary.queued == COUNT
    assert queued == COUNT
    assert done == 2 * COUNT  # every dossier planned, every reminder composed
    assert sum(stretches) == done
    # The loop had its turn after every slice of planning or composing: never more than
    # SLICE steps without a yield, so the scan held the loop for 1/40 of its work at most
    # (the storing runs on the database's thread, off the loop), never for all of it.
    print(f"{done} steps in {len(stretches)} turns, at most {max(stretches)} between two")
    assert max(stretches) <= SLICE < COUNT // 4
