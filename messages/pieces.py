"""Pieces shared by the composed messages: the dossier head, dates, places, amounts.

Every piece is a tuple of parts built only from public fields; nothing here
sees an applicant. Refuses: whole messages (compose.py, notices.py) and I/O.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Protocol

from lookup.model import PublicView
from messages.numbers import include_year
from messages.parts import CodeDigits, DateValue, FreeText, Number, Part, Phrase, Punct, clean_text


class Office(Protocol):
    """What messages need to know about the office (gateway.settings.OfficeSettings fits)."""

    @property
    def name(self) -> str: ...

    @property
    def collection_place(self) -> str: ...

    @property
    def hours(self) -> str: ...


Parts = tuple[Part, ...]

_MONEY = re.compile(r"(\d{1,3}(?:\.\d{3})+|\d+)\s*(?:đồng|đ|vnđ|vnd)", re.IGNORECASE)
_WORKING_DAYS = re.compile(r"(\d+)\s+ngày\s+làm\s+việc", re.IGNORECASE)
_DAYS = re.compile(r"(\d+)\s+ngày", re.IGNORECASE)
_FREE = frozenset({"miễn phí", "không thu phí", "không", "0 đồng", "0"})


FREE: Parts = (Phrase("fee_free"),)


def when(value: date, today: date) -> DateValue:
    """A date whose spoken form leaves out the year when it is this year."""
    return DateValue(value, with_year=include_year(value, today))


def head(view: PublicView, *, compact: bool) -> Parts:
    """ "Hồ sơ số <code>, thủ tục <procedure>," (compact: without the procedure)."""
    code: Parts = (Phrase("dossier_code"), CodeDigits(view.code))
    name = clean_text(view.procedure_name)
    if compact or not name:
        return code
    return (*code, Punct(","), Phrase("procedure_of"), FreeText(name), Punct(","))


def sentence(phrase: str, *parts: Part) -> Parts:
    """A phrase, what follows it, and a full stop."""
    return (Phrase(phrase), *parts, Punct("."))


def collect(view: PublicView, office: Office, *, compact: bool) -> Parts:
    """Where to collect the result, and (not compact) the office hours."""
    place = clean_text(view.collection_place) or clean_text(office.collection_place)
    parts: Parts = sentence("collect_at", FreeText(place)) if place else (Phrase("collect_here"),)
    hours = clean_text(office.hours)
    if hours and not compact:
        parts += sentence("office_hours", FreeText(hours))
    return parts


def amount(text: str) -> Parts:
    """A fee as the office states it: "50.000 đồng" spoken from fragments, else as is."""
    cleaned = clean_text(text)
    if cleaned.casefold() in _FREE:
        return FREE
    money = _MONEY.fullmatch(cleaned)
    if money:
        return (Number(int(money.group(1).replace(".", ""))), Phrase("unit_dong"))
    return (FreeText(cleaned),)


def exempt(text: str) -> bool:
    """Whether a procedure's fee says nothing is charged ("Miễn lệ phí", "Không thu phí", …).

    Such a fee is no amount to pay: a payment notice leaves it out rather than say
    "Số tiền: Miễn lệ phí" to someone asked to pay. (Guidance still reads it as written.)
    """
    words = clean_text(text).casefold().rstrip(". ")
    return amount(words) == FREE or words.startswith(("miễn", "không thu"))


def duration(text: str) -> Parts:
    """A processing time: "3 ngày làm việc" spoken from fragments, else as is."""
    cleaned = clean_text(text)
    working = _WORKING_DAYS.fullmatch(cleaned)
    if working:
        return (Number(int(working.group(1))), Phrase("unit_working_days"))
    days = _DAYS.fullmatch(cleaned)
    if days:
        return (Number(int(days.group(1))), Phrase("unit_days"))
    return (FreeText(cleaned),)
