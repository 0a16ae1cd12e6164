"""The reminder job: poll lookup.changed_since, apply sms/reminders.py, queue SMS.

State lives in the database: the changed_since cursor (sms_state), a small
projection of dossiers still in progress (sms_watch, for calendar reminders),
and the dedup keys of queued reminders (sms_message.dedup_key, UNIQUE). One
page of changes is applied and its cursor saved in one transaction, so a crash
re-reads at most that page and the dedup key absorbs the repeat.
Opted-out numbers are skipped. Reminders outside the sending window are queued
with not_before = next opening (deferred, not dropped).

Never a stall of the event loop: every read and write is a kernel.db job (off
the loop), and the pure work between them (planning, composing texts) runs in
slices of SLICE reminders with a yield between, so a calendar of 100,000
reminders leaves calls and SMS their turn. The calendar commits per batch of
BATCH reminders; a crash in between is absorbed by the dedup keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from kernel.db import Conn, Database, DatabaseError
from lookup.model import Dossier, PublicView, Status
from lookup.port import DossierLookup, LookupUnavailable
from prompts.catalog import Catalog
from sms import reminders
from sms.address import to_msisdn
from sms.outbox import Outbox
from sms.replies import ReplyContext
from sms.settings import SmsConfig
from sms.watch import candidate_queries

log = logging.getLogger(__name__)
T = TypeVar("T")

CURSOR_KEY = "reminders.cursor"
# One reminder scan at a time across gateway instances (Database.try_lock: a
# PostgreSQL advisory lock, free again when its holder dies).
SCAN_LOCK = 0x7472_6163_0001
PAGE = 1000
BATCH = 500  # reminders stored per write job: short holds of the writer (and of the GIL)
SLICE = 250  # reminders planned or composed between two yields to the event loop
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
    busy: bool = False  # another instance was scanning: this one did nothing
    what_if: bool = False  # run_once(what_if=True): counted, nothing written

    def line(self) -> str:
        if self.busy:
            return "another gateway instance is running the reminder scan: nothing done here"
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items())) or "none"
        if self.what_if:
            return (
                "what-if: nothing queued, the reminder cursor and dossier watch unchanged; "
                f"{self.changed} changed dossiers read; {self.queued} reminders would be queued "
                f"({kinds}); {self.duplicates} already in the outbox;"
                f" {self.opted_out} to opted-out numbers skipped"
            )
        return (
            f"{self.changed} changed dossiers read; {self.queued} reminders queued ({kinds});"
            f" {self.deferred} deferred to the sending window;"
            f" {self.duplicates} already in the outbox (queued or sent before);"
            f" {self.opted_out} to opted-out numbers skipped"
        )


def rules_from(settings: SmsConfig) -> reminders.Rules:
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
        self, settings: SmsConfig, lookup: DossierLookup, db: Database, catalog: Catalog
    ) -> None:
        self.settings = settings
        self.lookup = lookup
        self.db = db
        self.catalog = catalog
        self.rules = rules_from(settings)
        problems = reminders.check_templates(settings.sms.templates)
        if problems:
            raise ValueError("; ".join(problems))
        self._fees: dict[str, str] = {}
        self._shapes: dict[tuple[object, ...], str] = {}

    async def run_once(self, now: datetime, *, what_if: bool = False) -> Summary:
        """Read all changes since the saved cursor, then the calendar; queue what is due.
        While another instance scans, nothing (Summary.busy): its scan covers the same.

        what_if: count what would be queued and write nothing (no reminder, no cursor
        move, no watch row), so trying a rule or another day (`tracuu reminders run
        --now`) never takes changes away from the running gateway's own pass."""
        if what_if:
            return await self._scan(now, what_if=True)  # writes nothing: no lock needed
        async with self.db.try_lock(SCAN_LOCK) as mine:
            if not mine:
                return Summary(busy=True)
            return await self._scan(now)

    async def _scan(self, now: datetime, *, what_if: bool = False) -> Summary:
        local = now.astimezone(self.settings.zone)
        today = local.date()
        summary = Summary(what_if=what_if)
        self._planned: set[str] = set()  # what-if: the keys it would have stored so far
        changed_codes: set[str] = set()
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
        cursor = await self.db.read(lambda c: Outbox(c).get_state(CURSOR_KEY))
        while True:
            changes = await self.lookup.changed_since(cursor, PAGE)
            due: list[reminders.Reminder] = []
            for dossiers in _slices(changes.dossiers):
                for dossier in dossiers:
                    due += reminders.plan(reminders.on_change(dossier, today, self.rules), dossier)
                    if what_if:  # the calendar's, as the watch row stored now would give them
                        due += _scheduled(dossier, today, self.rules)
                        changed_codes.add(dossier.code)
                await asyncio.sleep(0)
            fees = await self._fees_for(due)
            batches = await self._compose(due, today=today, ctx=ctx, summary=summary, fees=fees)
            # The page's sms_watch rows (a JSON each) are made inside the write job, off the loop.
            kept = await self._would_store(batches) if what_if else await self.db.run(
                functools.partial(
                    _store_page, dossiers=changes.dossiers, batches=batches, cursor=changes.cursor,
                    accents=ctx.accents, now=now.timestamp(), not_before=not_before,
                )
            )  # fmt: skip
            _count(kept, due, batches, summary)
            summary.changed += len(changes.dossiers)
            cursor = changes.cursor
            if not changes.more:
                break
        await self.calendar(
            today, ctx, now.timestamp(), not_before, summary, what_if=what_if, skip=changed_codes
        )
        if send_at > local:  # outside the window: everything queued now waits for the opening
            summary.deferred = summary.queued
        return summary

    async def calendar(
        self,
        today: date,
        ctx: ReplyContext,
        now: float,
        not_before: float,
        summary: Summary,
        *,
        what_if: bool = False,
        skip: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Appointment-soon and not-collected reminders from the watch table."""
        queries = candidate_queries(
            today,
            days_before=self.rules.days_before,
            not_collected_days=self.rules.not_collected_days,
            catch_up_days=self.rules.catch_up_days,
        )
        for sql, params in queries:
            after = ""
            # Page by page (keyset): a short read on a reader thread, the page's planning
            # and texts on the loop in slices, its reminders stored in short write jobs.
            # Memory stays one page whatever the size of the watch table.
            while page := await self.db.read(
                functools.partial(_candidates, sql=sql, params=params, after=after)
            ):
                after = page[-1][0]
                due: list[reminders.Reminder] = []
                for chunk in _slices(page):
                    for code, row in chunk:
                        if code in skip:  # a what-if planned it from the change already
                            continue
                        view, numbers = _view_from_json(row)
                        events = reminders.scheduled(view, today, self.rules)
                        if events:
                            due += reminders.plan_view(events, view, numbers)
                    await asyncio.sleep(0)
                batches = await self._compose(due, today=today, ctx=ctx, summary=summary, fees={})
                kept: set[str] = await self._would_store(batches) if what_if else set()
                for batch in [] if what_if else batches:  # one short write transaction each
                    kept |= await self.db.run(
                        functools.partial(
                            _store, items=batch, accents=ctx.accents, now=now, not_before=not_before
                        )
                    )
                _count(kept, due, batches, summary)

    async def _would_store(self, batches: list[list[tuple[str, str, str]]]) -> set[str]:
        """What-if: the keys a real pass would store (not in the outbox, not planned yet),
        so its counts (queued, duplicates) are the real pass's."""
        keys = _keys(batches) - self._planned
        if keys:
            keys -= await self.db.read(functools.partial(_existing_keys, keys=sorted(keys)))
        self._planned |= keys
        return keys

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

    async def _compose(
        self,
        due: list[reminders.Reminder],
        *,
        today: date,
        ctx: ReplyContext,
        summary: Summary,
        fees: dict[str, str],
    ) -> list[list[tuple[str, str, str]]]:
        """(msisdn, text, dedup_key) batches of the reminders to numbers not opted out."""
        numbers = {r.msisdn for r in due}
        opted_out = await self.db.read(lambda c: Outbox(c).opted_out_among(numbers))
        wanted = [r for r in due if r.msisdn not in opted_out]
        summary.opted_out += len(due) - len(wanted)
        batches: list[list[tuple[str, str, str]]] = []
        for start in range(0, len(wanted), BATCH):  # bounded memory per statement batch
            batch: list[tuple[str, str, str]] = []
            for chunk in _slices(wanted[start : start + BATCH]):
                batch += [
                    (r.msisdn, self._text(r, today, ctx, fees.get(r.view.procedure_code, "")),
                     r.dedup_key)
                    for r in chunk
                ]  # fmt: skip
                await asyncio.sleep(0)
            batches.append(batch)
        return batches


def _keys(batches: list[list[tuple[str, str, str]]]) -> set[str]:
    return {key for batch in batches for _, _, key in batch}


def _existing_keys(conn: Conn, *, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):  # bounded statement size
        chunk = keys[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = conn.fetchall(
            f"SELECT dedup_key FROM sms_message WHERE dedup_key IN ({marks})", tuple(chunk)
        )
        found |= {str(row[0]) for row in rows}
    return found


def _scheduled(dossier: Dossier, today: date, rules: reminders.Rules) -> list[reminders.Reminder]:
    """A changed dossier's calendar reminders, as its sms_watch row would give them."""
    row = _watch_row(dossier)
    if isinstance(row, str):  # done: no calendar reminder any more
        return []
    view, numbers = _view_from_json(row[-1])
    events = reminders.scheduled(view, today, rules)
    return reminders.plan_view(events, view, numbers) if events else []


def _slices(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), SLICE):
        yield items[start : start + SLICE]


def _watch_row(dossier: Dossier) -> tuple[str, int, str, str | None, str] | str:
    """The sms_watch row of a changed dossier, or its code alone when it is done."""
    if dossier.status in _DONE:
        return dossier.code
    ready = dossier.ready_on or (dossier.status_at.date() if dossier.status_at else None)
    return (
        dossier.code,
        int(dossier.status),
        (dossier.rescheduled_on or dossier.due_on).isoformat(),
        ready.isoformat() if ready else None,
        _to_json(dossier),
    )


def _candidates(
    conn: Conn, *, sql: str, params: tuple[str, ...], after: str
) -> list[tuple[str, str]]:
    return Outbox(conn).candidates_after(sql, params, after)


def _store(
    conn: Conn, *, items: list[tuple[str, str, str]], accents: bool, now: float, not_before: float
) -> set[str]:
    return Outbox(conn).enqueue_many(
        items, kind="reminder", accents=accents, now=now, not_before=not_before
    )


def _store_page(
    conn: Conn,
    *,
    dossiers: Iterable[Dossier],
    batches: list[list[tuple[str, str, str]]],
    cursor: str,
    accents: bool,
    now: float,
    not_before: float,
) -> set[str]:
    """One page of changes in one transaction: projection, reminders, cursor."""
    outbox = Outbox(conn)
    for row in map(_watch_row, dossiers):
        if isinstance(row, str):
            outbox.unwatch(row)
        else:
            outbox.watch(*row)
    kept: set[str] = set()
    for batch in batches:
        kept |= _store(conn, items=batch, accents=accents, now=now, not_before=not_before)
    outbox.set_state(CURSOR_KEY, cursor)
    return kept


def _count(
    kept: set[str],
    due: list[reminders.Reminder],
    batches: list[list[tuple[str, str, str]]],
    summary: Summary,
) -> None:
    """Queued: newly stored; duplicates: composed (not opted out) but already there."""
    summary.duplicates += sum(len(b) for b in batches) - len(kept)
    summary.queued += len(kept)
    for reminder in due:
        if reminder.dedup_key in kept:
            kind = reminder.kind.value
            summary.by_kind[kind] = summary.by_kind.get(kind, 0) + 1


async def run(
    job: ReminderJob, wake: Any, poll_s: float, nudge: asyncio.Event | None = None
) -> None:
    """Run the job every poll_s seconds until cancelled; a lookup outage is waited out.

    `nudge`: set when dossiers changed (a one-stop system's push, console/events_api.py):
    the job runs at once instead of at its next poll.
    """
    nudge = nudge or asyncio.Event()
    while True:
        nudge.clear()
        try:
            summary = await job.run_once(datetime.now(job.settings.zone))
            if summary.queued:
                log.info("reminders: %s", summary.line())
                wake()
        except LookupUnavailable:
            log.warning("reminders: dossier store unavailable; retrying in %.0f s", poll_s)
        except DatabaseError:
            log.exception("reminders: database error; retrying in %.0f s", poll_s)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_s):
                await nudge.wait()


async def nudge_on_changes(bus: Any, nudge: asyncio.Event, topic: str = "dossiers_changed") -> None:
    """Set `nudge` whenever the bus says dossiers changed (until cancelled)."""
    async with bus.subscribe() as events:
        async for event in events:
            if event.topic == topic:
                nudge.set()
