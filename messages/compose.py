"""What a citizen is told, as messages: status answers and lookup outcomes.

Each function returns a Message (a tuple of parts) that render.py turns into an
SMS text or a list of prompt ids, so voice and SMS say the same thing.
A PublicView answer never names the applicant; only full_answer() does, and it
takes a FullView, which exists only after a second factor.
Reminder and outbound-call messages are in notices.py (re-exported here).
Refuses: rendering, sending, deciding when to remind, and any I/O or clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from datetime import date
from enum import Enum

from lookup.model import FullView, Procedure, PublicView, Status
from messages.notices import (
    call_appointment_tomorrow,
    call_result_ready,
    reminder_delayed,
    reminder_due_soon,
    reminder_not_collected,
    reminder_payment,
    reminder_ready,
    reminder_received,
    reminder_supplement,
)
from messages.parts import CodeDigits, FreeText, Message, Number, Part, Phrase, Punct, clean_text
from messages.pieces import (
    Office,
    Parts,
    amount,
    collect,
    duration,
    exempt,
    head,
    sentence,
    when,
)

__all__ = [
    "CodeProblem",
    "call_appointment_tomorrow",
    "call_result_ready",
    "full_answer",
    "help_text",
    "invalid_code",
    "not_found",
    "procedure_guidance",
    "reminder_delayed",
    "reminder_due_soon",
    "reminder_not_collected",
    "reminder_payment",
    "reminder_ready",
    "reminder_received",
    "reminder_supplement",
    "several_dossiers",
    "short_place",
    "spoken_status",
    "status_answer",
    "system_busy",
]

MAX_ECHOED_CODE = 40  # a code is at most ~30 characters; never echo a whole pasted text

_STATUS_PHRASE = {
    Status.NEW: "status_new",
    Status.RECEIVED: "status_received",
    Status.REFUSED: "status_refused",
    Status.PROCESSING: "status_processing",
    Status.SUPPLEMENT: "status_supplement",
    Status.PAYMENT: "status_payment",
    Status.WITHDRAWN: "status_withdrawn",
    Status.STOPPED: "status_stopped",
    Status.READY: "status_ready",
    Status.RETURNED: "status_returned",
}


class CodeProblem(Enum):
    """Why a typed or keyed code is not a dossier code.

    The values are those of lookup.codes.Reason, so CodeProblem(reason.value) maps one
    onto the other.
    """

    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_CHARACTER = "bad_character"
    MISSING_PART = "missing_part"
    EXTRA_PART = "extra_part"
    BAD_AGENCY = "bad_agency"
    BAD_DATE = "bad_date"
    BAD_SEQUENCE = "bad_sequence"


_PROBLEM_PHRASE = {
    CodeProblem.EMPTY: "code_empty",
    CodeProblem.TOO_LONG: "code_malformed",
    CodeProblem.BAD_CHARACTER: "code_malformed",
    CodeProblem.MISSING_PART: "code_incomplete",
    CodeProblem.EXTRA_PART: "code_malformed",
    CodeProblem.BAD_AGENCY: "code_bad_agency",
    CodeProblem.BAD_DATE: "code_bad_date",
    CodeProblem.BAD_SEQUENCE: "code_bad_sequence",
}


def _timing(view: PublicView, today: date, *, compact: bool) -> Parts:
    """The appointment date of a dossier in progress; an apology when it is late."""
    due = view.effective_due
    if view.is_overdue(today):
        parts: Parts = (
            Phrase("due_date"),
            when(due, today),
            Punct(","),
            Phrase("now_overdue"),
            Phrase("apology"),
        )
        return parts if compact else (*parts, Phrase("contact_office"))
    if view.rescheduled_on is not None:
        return (*sentence("new_due_date", when(due, today)), Phrase("apology"))
    return sentence("due_date", when(due, today))


def _by_status(view: PublicView, today: date, office: Office, *, compact: bool) -> Parts:
    status = view.status
    match status:
        case Status.RECEIVED | Status.PROCESSING:
            return _timing(view, today, compact=compact)
        case Status.SUPPLEMENT:
            return (Phrase("contact_supplement"),)
        case Status.PAYMENT:
            return (Phrase("contact_payment"),)
        case Status.READY:
            return collect(view, office, compact=compact)
        case Status.REFUSED | Status.WITHDRAWN | Status.STOPPED:
            return (Phrase("contact_office"),)
        case Status.RETURNED if view.status_at is not None:
            return (when(view.status_at.date(), today), Punct("."))
        case Status.RETURNED:
            return (Punct("."),)
    return ()  # Status.NEW: nothing more to say until the office receives it


def status_answer(
    view: PublicView,
    today: date,
    *,
    office: Office,
    compact: bool = False,
    fee: str = "",
    place_chars: int | None = None,
) -> Message:
    """The status of a found dossier, for anyone who holds its code.

    `compact` drops the procedure name, the office hours and the closing advice
    on a late dossier so an unaccented SMS fits one 160-character segment.
    `fee` (Procedure.fee) is stated when the dossier awaits payment.
    `place_chars` (SMS only) abbreviates the collection place (short_place) and cuts
    it to at most that many characters; None leaves it as the office wrote it.
    """
    if place_chars is not None:
        place = clean_text(view.collection_place) or clean_text(office.collection_place)
        if place:
            view = replace(view, collection_place=short_place(place, place_chars))
    parts: Parts = (*head(view, compact=compact), Phrase(_STATUS_PHRASE[view.status]))
    if view.status is Status.PAYMENT and clean_text(fee) and not exempt(fee):
        parts += sentence("fee_amount", *amount(fee))
    return parts + _by_status(view, today, office, compact=compact)


def spoken_status(view: PublicView, today: date, *, office: Office) -> Message:
    """The status of a dossier the caller has just keyed, as the phone line says it.

    The status comes first ("Hồ sơ này đã có kết quả."), then the code and procedure
    that confirm which dossier it is ("Hồ sơ số …, thủ tục …."): read first, the code
    cost a caller five seconds before the one thing they called for (issue 11).
    """
    parts: Parts = (Phrase("dossier_this"), Phrase(_STATUS_PHRASE[view.status]))
    parts += _by_status(view, today, office, compact=False)
    confirm = head(view, compact=False)
    if isinstance(confirm[-1], Punct):
        confirm = confirm[:-1]
    return (*parts, *confirm, Punct("."))


def full_answer(
    view: FullView,
    today: date,
    *,
    office: Office,
    compact: bool = False,
    fee: str = "",
    brief: bool = False,
    place_chars: int | None = None,
) -> Message:
    """The status answer, addressed to the applicant by name (after a second factor).

    `brief` (SMS) greets with the name alone, "<Name>: Hồ sơ …": "Kính chào Ông/Bà"
    costs 17 characters of a 160-character segment, and the answer may say "Ông/Bà"
    again ("Mời Ông/Bà đến nhận …"). Voice keeps the spoken greeting.
    """
    answer = status_answer(
        view.public, today, office=office, compact=compact, fee=fee, place_chars=place_chars
    )
    name = clean_text(view.applicant_name)
    if not name:
        return answer
    if brief:
        return (FreeText(name), Punct(":"), *answer)
    return (*sentence("greeting_named", FreeText(name)), *answer)


# Written abbreviations of Vietnamese office addresses, longest first; each is what
# offices themselves print on receipts (UBND, TT PVHCC, P., Q.).
_PLACE_ABBREVIATIONS = (
    ("Bộ phận tiếp nhận và trả kết quả", "BP TN&TKQ"),
    ("Trung tâm Phục vụ hành chính công", "TT PVHCC"),
    ("Trung tâm hành chính công", "TT HCC"),
    ("Ủy ban nhân dân", "UBND"),
    ("Uỷ ban nhân dân", "UBND"),
    ("Hội đồng nhân dân", "HĐND"),
    ("Bộ phận", "BP"),
    ("Trung tâm", "TT"),
    ("thành phố", "TP"),
    ("thị xã", "TX"),
    ("thị trấn", "TT"),
    ("phường", "P."),
    ("quận", "Q."),
    ("huyện", "H."),
    ("đường", "Đ."),
)
_ABBREVIATION = [
    (re.compile(r"(?<!\w)" + re.escape(long) + r"(?!\w)", re.IGNORECASE), short)
    for long, short in _PLACE_ABBREVIATIONS
]


def short_place(place: str, max_chars: int) -> str:
    """A collection place abbreviated ("UBND P. Cửa Nam"), then cut at a word boundary
    to at most `max_chars` characters with "…" when it is still too long."""
    short = unicodedata.normalize("NFC", clean_text(place))
    for pattern, abbreviation in _ABBREVIATION:
        short = pattern.sub(abbreviation, short)
    short = re.sub(r"\s+", " ", short).strip()
    if len(short) <= max_chars:
        return short
    cut = short[: max(max_chars - 1, 0)]
    if short[len(cut)] != " " and " " in cut:  # the cut fell inside a word: drop it
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;.-") + "…"


def not_found(code_text: str) -> Message:
    """No dossier has this code; the code is echoed back (truncated) to be checked."""
    code = clean_text(code_text)[:MAX_ECHOED_CODE]
    found: Parts = sentence("not_found", CodeDigits(code)) if code else (Phrase("not_found_any"),)
    return (*found, Phrase("check_receipt"))


def invalid_code(problem: CodeProblem) -> Message:
    """The code cannot be a dossier code; say which part is wrong, and where to read it."""
    advice = "code_where" if problem is CodeProblem.EMPTY else "check_receipt"
    return (Phrase(_PROBLEM_PHRASE[problem]), Phrase(advice))


def system_busy() -> Message:
    return (Phrase("system_busy"),)


def help_text(keyword: str, *, example_code: str, short_code: str = "") -> Message:
    """How to look a dossier up by SMS: "<KEYWORD> <mã hồ sơ> gửi 8088. Ví dụ: …"."""
    keyword = clean_text(keyword).upper()
    parts: Parts = (Phrase("help_syntax"), FreeText(keyword), Phrase("help_code_placeholder"))
    if clean_text(short_code):
        parts += (Phrase("help_send_to"), FreeText(clean_text(short_code)))
    example = f"{keyword} {clean_text(example_code)}"
    return (*parts, Punct("."), *sentence("help_example", FreeText(example)))


def procedure_guidance(procedure: Procedure) -> Message:
    """Documents to bring, fee and processing time of one procedure."""
    parts: Parts = sentence("procedure_guidance", FreeText(clean_text(procedure.name)))
    documents = [d for d in (clean_text(d) for d in procedure.documents) if d]
    if documents:
        listed: list[Part] = [Phrase("documents_needed")]
        for i, document in enumerate(documents):
            listed += [FreeText(document), Punct("." if i == len(documents) - 1 else ";")]
        parts += tuple(listed)
    if clean_text(procedure.fee):
        parts += sentence("fee_label", *amount(procedure.fee))
    if clean_text(procedure.processing_time):
        parts += sentence("processing_time_label", *duration(procedure.processing_time))
    return parts


def several_dossiers(count: int) -> Message:
    """ "Ông/Bà có 3 hồ sơ." before the answers are read one by one."""
    return (Phrase("several_dossiers"), Number(count), Phrase("several_dossiers_tail"))
