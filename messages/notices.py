"""Messages the office sends first: SMS reminders and outbound-call notices.

Templates only: sms/reminders.py decides who gets which and when. Every notice
is built from the PublicView alone: a text or a call may reach someone other
than the applicant, so none names them. Days are counted from `today`.
Refuses: deciding, sending, and any I/O or clock.
"""

from __future__ import annotations

from datetime import date

from lookup.model import PublicView
from messages.parts import FreeText, Message, Number, Phrase, Punct, clean_text
from messages.pieces import Office, Parts, amount, collect, exempt, head, sentence, when


def _code(view: PublicView) -> Parts:
    return head(view, compact=True)


def reminder_received(view: PublicView, today: date) -> Message:
    """Hồ sơ <code> đã được tiếp nhận. Hẹn trả kết quả ngày <date>."""
    return (
        *_code(view),
        Phrase("status_received"),
        *sentence("due_date", when(view.effective_due, today)),
    )


def reminder_supplement(view: PublicView) -> Message:
    """Hồ sơ <code> cần bổ sung giấy tờ. Liên hệ Bộ phận Một cửa."""
    return (*_code(view), Phrase("status_supplement"), Phrase("contact_supplement"))


def reminder_payment(view: PublicView, *, fee: str = "") -> Message:
    """Hồ sơ <code> cần nộp phí, lệ phí[. Số tiền: <fee>]. Liên hệ Bộ phận Một cửa."""
    parts: Parts = (*_code(view), Phrase("status_payment"))
    if clean_text(fee) and not exempt(fee):
        parts += sentence("fee_amount", *amount(fee))
    return (*parts, Phrase("contact_payment"))


def reminder_ready(view: PublicView, *, office: Office, compact: bool = False) -> Message:
    """Hồ sơ <code> đã có kết quả. Mời Ông/Bà đến nhận tại <place>. [Giờ làm việc: …]"""
    return (*_code(view), Phrase("status_ready"), *collect(view, office, compact=compact))


def reminder_delayed(view: PublicView, today: date) -> Message:
    """The apology of Decree 61 art. 19.9, with the one new appointment date."""
    return (
        *_code(view),
        Phrase("status_delayed"),
        *sentence("new_due_date", when(view.effective_due, today)),
        Phrase("apology"),
    )


def _days_until(due: date, today: date) -> Parts:
    days = (due - today).days
    if days < 0:
        raise ValueError(f"appointment {due} is already past on {today}")
    if days == 0:
        return (Phrase("due_today"),)
    if days == 1:
        return (Phrase("due_tomorrow"),)
    return (Phrase("due_in"), Number(days), Phrase("due_in_tail"))


def reminder_due_soon(view: PublicView, today: date) -> Message:
    """Hồ sơ <code> có hẹn trả kết quả sau N ngày nữa (hôm nay, ngày mai), ngày <date>."""
    due = view.effective_due
    return (
        *_code(view),
        Phrase("appointment"),
        *_days_until(due, today),
        Punct(","),
        when(due, today),
        Punct("."),
    )


def reminder_not_collected(view: PublicView, today: date, *, office: Office) -> Message:
    """Hồ sơ <code> đã có kết quả từ ngày <date> nhưng chưa được nhận. Mời … nhận tại …

    The date says how long it has waited; a count of days was one clause too many
    for a single SMS segment.
    """
    ready = view.ready_on or (view.status_at.date() if view.status_at else None)
    place = collect(view, office, compact=True)
    if ready is None:
        return (*_code(view), Phrase("status_ready"), Phrase("not_collected"), *place)
    if ready >= today:
        raise ValueError(f"a result ready on {ready} is not yet uncollected on {today}")
    return (
        *_code(view),
        Phrase("ready_since"),
        when(ready, today),
        Phrase("not_collected_since"),
        *place,
    )


def _call_intro(office: Office) -> Parts:
    name = clean_text(office.name)
    if not name:
        return (Phrase("call_intro_generic"),)
    return sentence("call_intro", FreeText(name))


def call_result_ready(view: PublicView, *, office: Office) -> Message:
    """Outbound call: the result is ready; where and when to collect it."""
    return (
        *_call_intro(office),
        *head(view, compact=False),
        Phrase("status_ready"),
        *collect(view, office, compact=False),
        Phrase("call_thanks"),
    )


def call_appointment_tomorrow(view: PublicView, today: date, *, office: Office) -> Message:
    """Outbound call before the appointment date (meant for the day before)."""
    return (
        *_call_intro(office),
        *head(view, compact=False),
        Phrase("appointment"),
        *_days_until(view.effective_due, today),
        Punct(","),
        when(view.effective_due, today),
        Punct("."),
        Phrase("call_thanks"),
    )
