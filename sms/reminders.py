"""Reminder rules: which SMS a dossier's state calls for, today, and when to send it.

Two families:
- on change (the dossier just changed): received (with the appointment date),
  supplement needed, fee to pay, result ready, delayed with the one new date;
- scheduled (from the calendar): the appointment is within `days_before` days,
  the result has waited `not_collected_days` days uncollected.

Every reminder carries a dedup key (kind, dossier, event date, number): the
outbox stores it under a UNIQUE constraint, so the same event for the same
dossier and date is never sent twice, whatever reruns or restarts happen.
Sending times: outside the local window (07:00-21:00 by default) a reminder
is deferred to the next opening, never dropped.

Pure: dossiers, `today` and `now` in; reminders and texts out.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from lookup.model import IN_PROGRESS, Dossier, PublicView, Status
from messages import compose
from messages.parts import Message
from sms.address import to_msisdn
from sms.replies import ReplyContext, fit, render_text


class Kind(StrEnum):
    RECEIVED = "received"
    SUPPLEMENT = "supplement"
    FEE = "fee"
    READY = "ready"
    DELAYED = "delayed"
    SOON = "soon"
    UNCOLLECTED = "uncollected"


@dataclass(frozen=True, slots=True)
class Rules:
    days_before: int = 1  # 0 = no "appointment soon" reminders
    not_collected_days: int = 7  # 0 = no "not collected" reminders
    # A change older than this is history (e.g. the first poll of an old database): no SMS.
    max_age_days: int = 3
    # A scheduled reminder missed by up to this many days (gateway down) is still sent.
    catch_up_days: int = 7


@dataclass(frozen=True, slots=True)
class Reminder:
    kind: Kind
    view: PublicView
    msisdn: str
    event_date: date

    @property
    def dedup_key(self) -> str:
        return f"{self.kind}:{self.view.code}:{self.event_date.isoformat()}:{self.msisdn}"


def _status_day(dossier: Dossier | PublicView) -> date | None:
    return dossier.status_at.date() if dossier.status_at else None


def on_change(dossier: Dossier, today: date, rules: Rules) -> list[tuple[Kind, date]]:
    """Events a freshly changed dossier announces (none when the change is old news)."""
    events: list[tuple[Kind, date]] = []
    changed = _status_day(dossier)
    fresh = changed is not None and (today - changed).days <= rules.max_age_days
    match dossier.status:
        case Status.RECEIVED if fresh or (today - dossier.received_on).days <= rules.max_age_days:
            events.append((Kind.RECEIVED, dossier.received_on))
        case Status.SUPPLEMENT if fresh and changed:
            events.append((Kind.SUPPLEMENT, changed))
        case Status.PAYMENT if fresh and changed:
            events.append((Kind.FEE, changed))
        case Status.READY:
            ready = dossier.ready_on or changed
            if ready is not None and (today - ready).days <= rules.max_age_days:
                events.append((Kind.READY, ready))
    if (
        dossier.rescheduled_on is not None
        and dossier.status in IN_PROGRESS
        and dossier.rescheduled_on >= today
    ):
        # Keyed by the new date: the apology goes out once per reschedule (Decree 61 art. 19.9).
        events.append((Kind.DELAYED, dossier.rescheduled_on))
    return events


def scheduled(dossier: Dossier | PublicView, today: date, rules: Rules) -> list[tuple[Kind, date]]:
    """Calendar reminders due today (or missed within catch_up_days)."""
    events: list[tuple[Kind, date]] = []
    due = _due(dossier)
    if rules.days_before and dossier.status in IN_PROGRESS:
        left = (due - today).days
        if 0 < left <= rules.days_before:
            events.append((Kind.SOON, due))
    ready = dossier.ready_on or _status_day(dossier)
    if rules.not_collected_days and dossier.status is Status.READY and ready is not None:
        waited = (today - ready).days
        if rules.not_collected_days <= waited <= rules.not_collected_days + rules.catch_up_days:
            events.append((Kind.UNCOLLECTED, ready))
    return events


def _due(dossier: Dossier | PublicView) -> date:
    return dossier.rescheduled_on or dossier.due_on


def plan(events: list[tuple[Kind, date]], dossier: Dossier) -> list[Reminder]:
    """One reminder per event and registered number."""
    if not events:
        return []
    numbers = tuple(to_msisdn(p) for p in dossier.applicant_phones if p.strip())
    return plan_view(events, dossier.public(), numbers)


def plan_view(
    events: list[tuple[Kind, date]], view: PublicView, numbers: tuple[str, ...]
) -> list[Reminder]:
    """plan() for a public view and numbers already in our form (the watch table's)."""
    unique = dict.fromkeys(numbers)
    return [Reminder(kind, view, n, day) for kind, day in events for n in unique]


def message(reminder: Reminder, today: date, ctx: ReplyContext, *, fee: str = "") -> Message:
    view = reminder.view
    match reminder.kind:
        case Kind.RECEIVED:
            return compose.reminder_received(view, today)
        case Kind.SUPPLEMENT:
            return compose.reminder_supplement(view)
        case Kind.FEE:
            return compose.reminder_payment(view, fee=fee)
        case Kind.READY:
            return compose.reminder_ready(view, office=ctx.office, compact=not ctx.accents)
        case Kind.DELAYED:
            return compose.reminder_delayed(view, today)
        case Kind.SOON:
            return compose.reminder_due_soon(view, today)
        case Kind.UNCOLLECTED:
            return compose.reminder_not_collected(view, today, office=ctx.office)
    raise ValueError(reminder.kind)  # pragma: no cover - the match is exhaustive


def text(
    reminder: Reminder,
    today: date,
    ctx: ReplyContext,
    *,
    templates: dict[str, str] | None = None,
    fee: str = "",
) -> str:
    """The SMS text: a configured template for this kind if any, else the composed one.

    Template fields: {code} {date} (the event date, dd/mm/yyyy) {due} {place}
    {hours} {office} {fee}. An unknown field in a template is an error at
    start-up (check_templates), never a message with a hole in it.
    """
    template = (templates or {}).get(reminder.kind.value)
    if template:
        view = reminder.view
        body = template.format(
            code=view.code,
            date=f"{reminder.event_date:%d/%m/%Y}",
            due=f"{view.effective_due:%d/%m/%Y}",
            place=view.collection_place or ctx.office.collection_place,
            hours=ctx.office.hours,
            office=ctx.office.name,
            fee=fee,
        )
        return fit(body, accents=ctx.accents, max_parts=ctx.max_parts)
    return render_text(message(reminder, today, ctx, fee=fee), ctx)


TEMPLATE_FIELDS = frozenset({"code", "date", "due", "place", "hours", "office", "fee"})


def check_templates(templates: dict[str, str]) -> list[str]:
    """Problems in configured templates: unknown kinds or fields (empty list = fine)."""
    problems = []
    kinds = {k.value for k in Kind}
    for kind, template in templates.items():
        if kind not in kinds:
            problems.append(f"unknown reminder kind {kind!r} (known: {', '.join(sorted(kinds))})")
            continue
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            problems.append(f"template {kind!r}: {exc}")
            continue
        unknown = fields - TEMPLATE_FIELDS
        if unknown:
            problems.append(f"template {kind!r}: unknown field(s) {', '.join(sorted(unknown))}")
    return problems


def send_at(now: datetime, start: time, end: time) -> datetime:
    """`now` if inside the local sending window [start, end), else the next opening."""
    local = now.time()
    if start <= local < end:
        return now
    opening = now.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    return opening if local < start else opening + timedelta(days=1)
