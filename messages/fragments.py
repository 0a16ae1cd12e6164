"""Prompt ids of the recorded fragments: number words, dates, digits, codes.

Owns the mapping from the words of numbers.py to fragment prompt ids, and how a
dossier code is read aloud: its six date digits, "số thứ tự", then its sequence
digits (the part a caller keys). The agency identifier is never read: it holds
letters and dots a keypad cannot send, and one switchboard serves known agencies.

Refuses: wording (the catalog holds every fragment's text) and any I/O.
"""

from __future__ import annotations

import re
from datetime import date

from messages.numbers import DIGITS, Region, number_words

# One fragment per word a number can contain (22 words; both regions' variants).
NUMBER_FRAGMENTS: dict[str, str] = {
    **{word: f"num_{i}" for i, word in enumerate(DIGITS)},
    "mười": "num_10",
    "mươi": "num_muoi",
    "mốt": "num_mot",
    "tư": "num_tu",
    "lăm": "num_lam",
    "linh": "num_linh",
    "lẻ": "num_le",
    "trăm": "num_tram",
    "nghìn": "num_nghin",
    "ngàn": "num_ngan",
    "triệu": "num_trieu",
    "tỷ": "num_ty",
}
DIGIT_FRAGMENTS = tuple(f"digit_{i}" for i in range(10))
DAY_FRAGMENTS = tuple(f"day_{d:02d}" for d in range(1, 32))
MONTH_FRAGMENTS = tuple(f"month_{m:02d}" for m in range(1, 13))
YEAR_FRAGMENT = "date_year"  # "năm", before the year's number words
CODE_SEQUENCE = "code_sequence"  # "số thứ tự", between a code's date and sequence digits

ALL_FRAGMENTS: tuple[str, ...] = (
    *NUMBER_FRAGMENTS.values(),
    *DIGIT_FRAGMENTS,
    *DAY_FRAGMENTS,
    *MONTH_FRAGMENTS,
    YEAR_FRAGMENT,
    CODE_SEQUENCE,
)

# <agency>-<YYMMDD>-<sequence> (Circular 01/2018 art. 19), any dash, any spacing.
_CODE_TAIL = re.compile(r"(\d{6})\s*[-‐‑‒–—―]\s*(\d{4,6})\s*$", re.ASCII)
_KEYED = re.compile(r"\d{10,12}", re.ASCII)


def number_fragments(n: int, *, region: Region) -> list[str]:
    return [NUMBER_FRAGMENTS[word] for word in number_words(n, region=region)]


def date_fragments(value: date, *, region: Region, with_year: bool = True) -> list[str]:
    """Three phrases and a number: day_05, month_04, date_year, num_2, num_nghin…"""
    ids = [DAY_FRAGMENTS[value.day - 1], MONTH_FRAGMENTS[value.month - 1]]
    if with_year:
        ids += [YEAR_FRAGMENT, *number_fragments(value.year, region=region)]
    return ids


def code_parts(code: str) -> tuple[str, str] | None:
    """(date digits, sequence digits) of a dossier code or of keyed digits, else None."""
    tail = _CODE_TAIL.search(code)
    if tail:
        return tail.group(1), tail.group(2)
    keyed = code.strip()
    if _KEYED.fullmatch(keyed):
        return keyed[:6], keyed[6:]
    return None


def code_fragments(code: str) -> list[str]:
    """A code's date digits, "số thứ tự", sequence digits; else every digit in it."""
    parts = code_parts(code)
    if parts is None:
        return [DIGIT_FRAGMENTS[int(c)] for c in code if c in "0123456789"]
    day, sequence = parts
    return [
        *(DIGIT_FRAGMENTS[int(c)] for c in day),
        CODE_SEQUENCE,
        *(DIGIT_FRAGMENTS[int(c)] for c in sequence),
    ]
