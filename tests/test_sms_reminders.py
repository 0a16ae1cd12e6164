"""Reminder rules (pure) and the reminder job against a real SQLite dossier store."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.settings import Settings
from kernel.db import Database
from kernel.office import OfficeSettings
from lookup import demo
from lookup.model import Status
from lookup.sqlite import DossierStore, SqliteLookup
from prompts.catalog import load_catalog
from sms import reminders
from sms.outbox import Outbox, migrate_file
from sms.reminder_job import ReminderJob, Summary
from sms.reminders import Kind, Rules
from sms.replies import ReplyContext
from sms.settings import SmsSettings

TODAY = date(2026, 11, 30)
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
FIXED = {d.code: d for d in demo.fixed_dossiers(TODAY)}
READY = FIXED["000.00.18.H26-241129-0001"]
RECEIVED = FIXED["000.00.19.H26-241129-0001"]
DELAYED = FIXED["000.00.18.H26-241129-0003"]
CATALOG = load_catalog()


def ctx(today: date = TODAY, accents: bool = False) -> ReplyContext:
    return ReplyContext(catalog=CATALOG, office=OfficeSettings(), today=today, accents=accents)


def test_on_change_events_of_the_fixed_dossiers() -> None:
    events = {code: reminders.on_change(d, TODAY, Rules()) for code, d in FIXED.items()}
    assert events == {
        "000.00.18.H26-241129-0001": [(Kind.READY, date(2026, 11, 29))],
        "000.00.19.H26-241129-0001": [(Kind.RECEIVED, date(2026, 11, 27))],  # D-1: Friday
        "000.00.18.H26-241129-0002": [],  # overdue, no news
        "000.00.18.H26-241129-0003": [(Kind.DELAYED, date(2026, 12, 3))],
        "000.00.18.H26-241129-0004": [(Kind.SUPPLEMENT, date(2026, 11, 29))],
        "000.00.18.H26-241129-0005": [],
        "000.00.18.H26-241129-0006": [],
    }


def test_old_changes_are_history_not_news() -> None:
    later = TODAY + timedelta(days=10)
    assert reminders.on_change(FIXED["000.00.18.H26-241129-0004"], later, Rules()) == []
    assert reminders.on_change(READY, later, Rules()) == []


def test_calendar_rules() -> None:
    rules = Rules(days_before=1, not_collected_days=7)
    assert reminders.scheduled(RECEIVED, TODAY, rules) == [(Kind.SOON, date(2026, 12, 1))]
    assert reminders.scheduled(RECEIVED, TODAY - timedelta(days=1), rules) == []
    assert reminders.scheduled(RECEIVED, TODAY, Rules(days_before=0)) == []
    day7 = date(2026, 12, 6)
    assert reminders.scheduled(READY, day7, rules) == [(Kind.UNCOLLECTED, date(2026, 11, 29))]
    assert reminders.scheduled(READY, day7 - timedelta(days=1), rules) == []
    assert reminders.scheduled(READY, day7 + timedelta(days=8), rules) == []  # beyond catch-up


def test_plan_one_per_number_with_dedup_key() -> None:
    phones = ("0987654321", "+84987654321", "0912000111")
    two_phones = dataclasses.replace(RECEIVED, applicant_phones=phones)
    planned = reminders.plan([(Kind.RECEIVED, date(2024, 11, 29))], two_phones)
    assert [r.msisdn for r in planned] == ["84987654321", "84912000111"]
    assert planned[0].dedup_key == "received:000.00.19.H26-241129-0001:2024-11-29:84987654321"


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 11, 30, 12, 0), datetime(2026, 11, 30, 12, 0)),
        (datetime(2026, 11, 30, 6, 59), datetime(2026, 11, 30, 7, 0)),
        (datetime(2026, 11, 30, 21, 0), datetime(2026, 12, 1, 7, 0)),
        (datetime(2026, 11, 30, 23, 30), datetime(2026, 12, 1, 7, 0)),
        (datetime(2026, 11, 30, 7, 0), datetime(2026, 11, 30, 7, 0)),
    ],
)
def test_sending_window(local: datetime, expected: datetime) -> None:
    assert reminders.send_at(local, time(7), time(21)) == expected


def _text(kind: Kind, dossier: object, event: date, today: date = TODAY, **kw: object) -> str:
    reminder = reminders.Reminder(kind, dossier.public(), "84912345678", event)  # type: ignore[attr-defined]
    return reminders.text(reminder, today, ctx(today), **kw)  # type: ignore[arg-type]


def test_reminder_texts_exact() -> None:
    assert _text(Kind.RECEIVED, RECEIVED, date(2024, 11, 29)) == (
        "Ho so 000.00.19.H26-241129-0001 da duoc tiep nhan. Hen tra ket qua ngay 01/12/2026."
    )
    assert _text(Kind.DELAYED, DELAYED, date(2026, 12, 3)) == (
        "Ho so 000.00.18.H26-241129-0003 chua duoc giai quyet dung hen."
        " Hen tra ket qua moi ngay 03/12/2026. Thanh that xin loi Ong/Ba."
    )
    assert _text(Kind.READY, READY, date(2026, 11, 29)) == (
        "Ho so 000.00.18.H26-241129-0001 da co ket qua. Moi Ong/Ba den nhan tai Bo phan Mot cua."
    )
    for kind, dossier, event, today in (
        (Kind.SOON, RECEIVED, date(2026, 12, 1), TODAY),
        (Kind.UNCOLLECTED, READY, date(2026, 11, 29), date(2026, 12, 6)),
        (Kind.SUPPLEMENT, FIXED["000.00.18.H26-241129-0004"], TODAY, TODAY),
    ):
        body = _text(kind, dossier, event, today)
        assert body.startswith(f"Ho so {dossier.code} "), body
        assert len(body) <= 160, body
        assert "Nguyen" not in body


def test_template_override_and_check() -> None:
    templates = {"ready": "Ho so {code} da xong tu {date}. Nhan tai {place}."}
    assert _text(Kind.READY, READY, date(2026, 11, 29), templates=templates) == (
        "Ho so 000.00.18.H26-241129-0001 da xong tu 29/11/2026. Nhan tai Bo phan Mot cua."
    )
    assert reminders.check_templates(templates) == []
    assert reminders.check_templates({"reddy": "x"})[0].startswith("unknown reminder kind 'reddy'")
    assert reminders.check_templates({"ready": "{name}"}) == [
        "template 'ready': unknown field(s) name"
    ]


# ---------------------------------------------------------------- the job


async def _job(tmp_path: Path, **sms: object) -> tuple[ReminderJob, Outbox, SqliteLookup, Path]:
    database = tmp_path / "t.sqlite3"
    store = await DossierStore.open(database)
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.upsert_procedures(demo.procedures())
    await store.close()
    await migrate_file(database)
    settings = Settings(database=str(database), sms=SmsSettings(**sms))  # type: ignore[arg-type]
    lookup = await SqliteLookup.open(database)
    outbox = Outbox.open(database)
    db = await Database.open(database)
    try:
        return ReminderJob(settings, lookup, db, CATALOG), outbox, lookup, database
    except ValueError:
        outbox.close()
        await db.close()
        await lookup.close()
        raise


def _queued(outbox: Outbox) -> list[tuple[str, str, float]]:
    rows = outbox._conn.fetchall(
        "SELECT msisdn, dedup_key, not_before FROM sms_message ORDER BY id"
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def test_job_queues_once_then_dedups(tmp_path: Path) -> None:
    job, outbox, lookup, _ = await _job(tmp_path)
    try:
        morning = datetime(2026, 11, 30, 8, 0, tzinfo=ZONE)
        first = await job.run_once(morning)
        again = await job.run_once(morning)
        outbox.set_state("reminders.cursor", "")  # as if the cursor were lost
        outbox.commit()
        replay = await job.run_once(morning)
        rows = _queued(outbox)
    finally:
        outbox.close()
        await lookup.close()
        await job.db.close()
    assert first.by_kind == {"delayed": 1, "ready": 1, "received": 1, "supplement": 1, "soon": 1}
    assert first.queued == 5
    assert first.deferred == 0
    assert again.queued == 0
    assert again.changed == 0
    assert replay.queued == 0
    assert replay.duplicates == 5
    assert sorted(key.split(":")[0] for _, key, _ in rows) == [
        "delayed",
        "ready",
        "received",
        "soon",
        "supplement",
    ]
    assert all(nb == morning.timestamp() for _, _, nb in rows)


async def test_job_defers_outside_window_and_skips_opted_out(tmp_path: Path) -> None:
    job, outbox, lookup, _ = await _job(tmp_path)
    try:
        outbox.set_opt_out("84912345678", True, 0)
        outbox.commit()
        night = datetime(2026, 11, 30, 22, 30, tzinfo=ZONE)
        summary = await job.run_once(night)
        rows = _queued(outbox)
    finally:
        outbox.close()
        await lookup.close()
        await job.db.close()
    # Only the dossier of 0987654321 (received, soon); the three of 0912345678 are skipped.
    assert summary.queued == 2
    assert summary.opted_out == 3
    assert summary.deferred == 2
    assert {m for m, _, _ in rows} == {"84987654321"}
    opening = datetime(2026, 12, 1, 7, 0, tzinfo=ZONE).timestamp()
    assert all(nb == opening for _, _, nb in rows)


async def test_job_sends_a_new_status_once(tmp_path: Path) -> None:
    job, outbox, lookup, database = await _job(tmp_path)
    try:
        morning = datetime(2026, 11, 30, 8, 0, tzinfo=ZONE)
        await job.run_once(morning)
        store = await DossierStore.open(database)
        changed = dataclasses.replace(
            FIXED["000.00.18.H26-241129-0002"], status=Status.READY, ready_on=TODAY,
            status_at=datetime(2026, 11, 30, 9, 0),
        )  # fmt: skip
        await store.upsert_dossiers([changed])
        await store.close()
        later = await job.run_once(morning + timedelta(hours=2))
        latest = await job.run_once(morning + timedelta(hours=3))
    finally:
        outbox.close()
        await lookup.close()
        await job.db.close()
    assert later.by_kind == {"ready": 1}
    assert later.changed == 1
    assert latest.queued == 0


async def test_bad_template_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown field"):
        await _job(tmp_path, templates={"ready": "{nme}"})


def test_summary_says_queued_not_sent() -> None:
    # The job only queues: the SMS link sends later, so nothing is "already sent" here.
    summary = Summary(changed=5, queued=2, duplicates=3, opted_out=1, deferred=1,
                      by_kind={"ready": 2})  # fmt: skip
    assert summary.line() == (
        "5 changed dossiers read; 2 reminders queued (ready 2); 1 deferred to the sending"
        " window; 3 already in the outbox (queued or sent before); 1 to opted-out numbers"
        " skipped"
    )


async def test_a_what_if_run_writes_nothing_and_leaves_the_cursor_alone(tmp_path: Path) -> None:
    """`tracuu reminders run --now <day>` beside a running gateway: it shows what would be
    queued, but queues nothing and does not move the cursor the gateway's own pass reads,
    so no change is taken away from it."""
    job, outbox, lookup, _ = await _job(tmp_path)
    try:
        morning = datetime(2026, 11, 30, 8, 0, tzinfo=ZONE)
        cursor_before = outbox.get_state("reminders.cursor")
        what_if = await job.run_once(morning, what_if=True)
        cursor_after = outbox.get_state("reminders.cursor")
        rows_after_what_if = _queued(outbox)
        real = await job.run_once(morning)
        after = await job.run_once(morning, what_if=True)
    finally:
        outbox.close()
        await lookup.close()
        await job.db.close()
    assert rows_after_what_if == []
    assert cursor_after == cursor_before
    assert what_if.line().startswith("what-if: nothing queued, the reminder cursor")
    # The gateway's own pass still sees every change and queues them.
    assert real.changed == what_if.changed > 0
    assert real.queued == 5
    # Foreseen as the real pass queues them, the calendar's ('soon') too.
    assert what_if.by_kind == real.by_kind
    assert what_if.queued == real.queued
    # Once the real pass queued them, a what-if foresees nothing new.
    assert (after.changed, after.queued) == (0, 0)
