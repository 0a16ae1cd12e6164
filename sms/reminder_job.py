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
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gateway.settings import Settings
from lookup.model import Dossier, Status
from lookup.port import DossierLookup, LookupUnavailable
from prompts.catalog import Catalog
from sms import reminders
from sms.outbox import Outbox
from sms.replies import ReplyContext

log = logging.getLogger(__name__)

CURSOR_KEY = "reminders.cursor"
PAGE = 1000
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
            f" {self.deferred} deferred to the sending window; {self.duplicates} already sent;"
            f" {self.opted_out} to opted-out numbers skipped"
        )


def rules_from(settings: Settings) -> reminders.Rules:
    return reminders.Rules(
        days_before=settings.sms.reminder_days_before,
        not_collected_days=settings.sms.not_collected_days,
    )


def _to_json(d: Dossier) -> str:
    return json.dumps(
        {
            "code": d.code,
            "agency_id": d.agency_id,
            "agency_name": d.agency_name,
            "procedure_code": d.procedure_code,
            "procedure_name": d.procedure_name,
            "status": int(d.status),
            "received_on": d.received_on.isoformat(),
            "due_on": d.due_on.isoformat(),
            "rescheduled_on": d.rescheduled_on.isoformat() if d.rescheduled_on else None,
            "ready_on": d.ready_on.isoformat() if d.ready_on else None,
            "status_at": d.status_at.isoformat() if d.status_at else None,
            "collection_place": d.collection_place,
            "phones": list(d.applicant_phones),
        },
        ensure_ascii=False,
    )


def _from_json(text: str) -> Dossier:
    v: dict[str, Any] = json.loads(text)

    def day(key: str) -> date | None:
        return date.fromisoformat(v[key]) if v.get(key) else None

    return Dossier(
        code=v["code"],
        agency_id=v["agency_id"],
        agency_name=v["agency_name"],
        procedure_code=v["procedure_code"],
        procedure_name=v["procedure_name"],
        status=Status(v["status"]),
        received_on=date.fromisoformat(v["received_on"]),
        due_on=date.fromisoformat(v["due_on"]),
        rescheduled_on=day("rescheduled_on"),
        ready_on=day("ready_on"),
        status_at=datetime.fromisoformat(v["status_at"]) if v.get("status_at") else None,
        collection_place=v["collection_place"],
        applicant_phones=tuple(v["phones"]),
    )


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
            dossier = _from_json(row)
            due += reminders.plan(reminders.scheduled(dossier, today, self.rules), dossier)
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
        for reminder in due:
            if reminder.msisdn in opted_out:
                summary.opted_out += 1
                continue
            if self.outbox.has_dedup(reminder.dedup_key):
                summary.duplicates += 1
                continue
            body = reminders.text(
                reminder,
                today,
                ctx,
                templates=self.settings.sms.templates,
                fee=fees.get(reminder.view.procedure_code, ""),
            )
            queued = self.outbox.enqueue(
                reminder.msisdn,
                body,
                kind="reminder",
                accents=ctx.accents,
                now=now,
                not_before=not_before,
                dedup_key=reminder.dedup_key,
            )
            if queued is None:
                summary.duplicates += 1
            else:
                summary.queued += 1
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
        await asyncio.sleep(poll_s)
