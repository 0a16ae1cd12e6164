"""The reminder job: poll lookup.changed_since, apply sms/reminders.py, queue SMS.

State lives in the database: the changed_since cursor (sms_state), a small
projection of dossiers still in progress (sms_watch, for calendar reminders),
and the dedup keys of queued reminders (sms_message.dedup_key, UNIQUE). One
page of changes is applied and its cursor saved in one transaction, so a crash
re-reads at most that page and the dedup key absorbs the repeat.
Opted-out numbers are skipped. Reminders outside the sending window are queued
with not_before = next opening (deferred, not dropped).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import operator
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gateway.settings import Settings
from lookup.model import Dossier, PublicView, Status
from lookup.port import DossierLookup, LookupUnavailable
from prompts.catalog import Catalog
from sms import reminders
from sms.address import to_msisdn
from sms.outbox import Outbox
from sms.replies import ReplyContext

log = logging.getLogger(__name__)

CURSOR_KEY = "reminders.cursor"
PAGE = 1000
BATCH = 2000  # reminders stored per executemany
# Dossiers in these statuses need no calendar reminder any more.
_DONE = frozenset({Status.REFUSED, Status.WITHDRAWN, Status.STOPPED, Status.RETURNED})


@dataclass
class Summary:
    changed: int = 0
    queued: int = 0
    duplicates: int = 0
    opted_out: int = 0
    deferred: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items())) or "none"
        return (
            f"{self.changed} changed dossiers read; {self.queued} reminders queued ({kinds});"
            f" {self.deferred} deferred to the sending window;"
            f" {self.duplicates} already in the outbox (queued or sent before);"
            f" {self.opted_out} to opted-out numbers skipped"
        )


def rules_from(settings: Settings) -> reminders.Rules:
    return reminders.Rules(
        days_before=settings.sms.reminder_days_before,
        not_collected_days=settings.sms.not_collected_days,
    )


def _to_json(d: Dossier) -> str:
    """The watch row: public fields and the numbers (normalised) as a compact JSON array."""
    return json.dumps(
        [
            d.code, d.agency_id, d.agency_name, d.procedure_code, d.procedure_name,
            int(d.status), d.received_on.isoformat(), d.due_on.isoformat(),
            d.rescheduled_on.isoformat() if d.rescheduled_on else None,
            d.ready_on.isoformat() if d.ready_on else None,
            d.status_at.isoformat() if d.status_at else None,
            d.collection_place, [to_msisdn(p) for p in d.applicant_phones if p.strip()],
        ],
        ensure_ascii=False,
    )  # fmt: skip


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _view_from_json(text: str) -> tuple[PublicView, tuple[str, ...]]:
    """A watch row back to the public view and the numbers (already normalised)."""
    (code, agency_id, agency_name, procedure_code, procedure_name, status, received_on, due_on,
     rescheduled_on, ready_on, status_at, collection_place, phones) = json.loads(text)  # fmt: skip
    view = PublicView(
        code=code,
        agency_id=agency_id,
        agency_name=agency_name,
        procedure_code=procedure_code,
        procedure_name=procedure_name,
        status=Status(status),
        status_at=datetime.fromisoformat(status_at) if status_at else None,
        received_on=date.fromisoformat(received_on),
        due_on=date.fromisoformat(due_on),
        rescheduled_on=_day(rescheduled_on),
        ready_on=_day(ready_on),
        collection_place=collection_place,
    )
    return view, tuple(phones)


# Every field of a PublicView but its code: what makes two reminder texts differ.
_SHAPE = operator.attrgetter(*(f.name for f in dataclasses.fields(PublicView) if f.name != "code"))


class ReminderJob:
    def __init__(
        self, settings: Settings, lookup: DossierLookup, outbox: Outbox, catalog: Catalog
    ) -> None:
        self.settings = settings
        self.lookup = lookup
        self.outbox = outbox
        self.catalog = catalog
        self.rules = rules_from(settings)
        problems = reminders.check_templates(settings.sms.templates)
        if problems:
            raise ValueError("; ".join(problems))
        self._fees: dict[str, str] = {}
        self._shapes: dict[tuple[object, ...], str] = {}

    async def run_once(self, now: datetime) -> Summary:
        """Read all changes since the saved cursor, then the calendar; queue what is due."""
        local = now.astimezone(self.settings.zone)
        today = local.date()
        summary = Summary()
        sms = self.settings.sms
        send_at = reminders.send_at(local, sms.window_start, sms.window_end)
        not_before = send_at.timestamp()
        ctx = ReplyContext(
            catalog=self.catalog,
            office=self.settings.office,
            today=today,
            accents=self.settings.sms.accents,
            short_code=self.settings.smpp.source_addr,
            max_parts=self.settings.sms.max_parts,
        )
        cursor = self.outbox.get_state(CURSOR_KEY)
        while True:
            changes = await self.lookup.changed_since(cursor, PAGE)
            due: list[reminders.Reminder] = []
            for dossier in changes.dossiers:
                due += reminders.plan(reminders.on_change(dossier, today, self.rules), dossier)
            fees = await self._fees_for(due)
            with self.outbox.transaction():
                for dossier in changes.dossiers:
                    self._watch(dossier)
                self._queue(
                    due, today=today, ctx=ctx, now=now.timestamp(), not_before=not_before,
                    summary=summary, fees=fees,
                )  # fmt: skip
                self.outbox.set_state(CURSOR_KEY, changes.cursor)
            summary.changed += len(changes.dossiers)
            cursor = changes.cursor
            if not changes.more:
                break
        await self.calendar(today, ctx, now.timestamp(), not_before, summary)
        if send_at > local:  # outside the window: everything queued now waits for the opening
            summary.deferred = summary.queued
        return summary

    async def calendar(
        self, today: date, ctx: ReplyContext, now: float, not_before: float, summary: Summary
    ) -> None:
        """Appointment-soon and not-collected reminders from the watch table."""
        due: list[reminders.Reminder] = []
        for row in self.outbox.watch_candidates(
            today,
            days_before=self.rules.days_before,
            not_collected_days=self.rules.not_collected_days,
            catch_up_days=self.rules.catch_up_days,
        ):
            view, numbers = _view_from_json(row)
            events = reminders.scheduled(view, today, self.rules)
            if events:
                due += reminders.plan_view(events, view, numbers)
        with self.outbox.transaction():
            self._queue(
                due, today=today, ctx=ctx, now=now, not_before=not_before, summary=summary, fees={}
            )

    def _watch(self, dossier: Dossier) -> None:
        if dossier.status in _DONE:
            self.outbox.unwatch(dossier.code)
            return
        ready = dossier.ready_on or (dossier.status_at.date() if dossier.status_at else None)
        self.outbox.watch(
            dossier.code,
            int(dossier.status),
            (dossier.rescheduled_on or dossier.due_on).isoformat(),
            ready.isoformat() if ready else None,
            _to_json(dossier),
        )

    async def _fees_for(self, due: list[reminders.Reminder]) -> dict[str, str]:
        for reminder in due:
            code = reminder.view.procedure_code
            if reminder.kind is reminders.Kind.FEE and code not in self._fees:
                try:
                    procedure = await self.lookup.procedure(code)
                except LookupUnavailable:
                    procedure = None
                self._fees[code] = procedure.fee if procedure else ""
        return self._fees

    def _text(self, reminder: reminders.Reminder, today: date, ctx: ReplyContext, fee: str) -> str:
        """Compose once per message shape: dossiers that differ only in their code share
        a text (a placeholder of the code's length stands in, so cutting is the same)."""
        view = reminder.view
        placeholder = "Z" * len(view.code)
        key = (reminder.kind, _SHAPE(view), len(view.code), reminder.event_date, fee, today)
        shape = self._shapes.get(key)
        if shape is None:
            stand_in = dataclasses.replace(
                reminder, view=dataclasses.replace(view, code=placeholder)
            )
            shape = reminders.text(
                stand_in, today, ctx, templates=self.settings.sms.templates, fee=fee
            )
            if len(self._shapes) > 10_000:
                self._shapes.clear()
            self._shapes[key] = shape
        if shape.count(placeholder) == 1:
            return shape.replace(placeholder, view.code)
        return reminders.text(reminder, today, ctx, templates=self.settings.sms.templates, fee=fee)

    def _queue(
        self,
        due: list[reminders.Reminder],
        *,
        today: date,
        ctx: ReplyContext,
        now: float,
        not_before: float,
        summary: Summary,
        fees: dict[str, str],
    ) -> None:
        opted_out = self.outbox.opted_out_among({r.msisdn for r in due})
        wanted = [r for r in due if r.msisdn not in opted_out]
        summary.opted_out += len(due) - len(wanted)
        new_keys: set[str] = set()
        for start in range(0, len(wanted), BATCH):  # bounded memory per statement batch
            items = [
                (r.msisdn, self._text(r, today, ctx, fees.get(r.view.procedure_code, "")),
                 r.dedup_key)
                for r in wanted[start : start + BATCH]
            ]  # fmt: skip
            new_keys |= self.outbox.enqueue_many(
                items, kind="reminder", accents=ctx.accents, now=now, not_before=not_before
            )
        summary.duplicates += len(wanted) - len(new_keys)
        summary.queued += len(new_keys)
        for reminder in wanted:
            if reminder.dedup_key in new_keys:
                kind = reminder.kind.value
                summary.by_kind[kind] = summary.by_kind.get(kind, 0) + 1


async def run(job: ReminderJob, wake: Any, poll_s: float) -> None:
    """Run the job every poll_s seconds until cancelled; a lookup outage is waited out."""
    while True:
        try:
            summary = await job.run_once(datetime.now(job.settings.zone))
            if summary.queued:
                log.info("reminders: %s", summary.line())
                wake()
        except LookupUnavailable:
            log.warning("reminders: dossier store unavailable; retrying in %.0f s", poll_s)
        except sqlite3.Error:
            log.exception("reminders: database error; retrying in %.0f s", poll_s)
        await asyncio.sleep(poll_s)
