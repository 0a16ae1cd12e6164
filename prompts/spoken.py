"""Numbers and dates inside a script, turned into Vietnamese words before synthesis.

espeak-ng reads digits badly in Vietnamese (15 -> "mười năm", 1000 -> "một ngàn
không trăm"), so every script is spelt out first: dates (5/4/2026, and "ngày 5
tháng 4" -> "ngày mùng năm tháng tư"), times (7:30, 7h30), amounts with
thousands dots (50.000), decimals (2,5), phone-like digit strings (read digit by
digit), and plain numbers. The words themselves come from messages.numbers, the
one owner of spoken Vietnamese numbers. Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import date

from messages.numbers import (
    Region,
    day_words,
    digit_words,
    month_words,
    say_date,
    say_number,
    year_words,
)

_DATE = re.compile(r"(?:\bngày\s+)?\b(\d{1,2})[/-](\d{1,2})[/-](\d{4})\b", re.IGNORECASE)
# A phone number written in groups: 0243 123 456, 024.3123.456, 1900 1234.
_PHONE = re.compile(r"\b(?:0|1[89]00)\d{0,3}(?:[ .]\d{2,4}){1,3}\b")
# Dates already in words around digits: "ngày 5 tháng 4 năm 2026", "tháng 4".
_WORDY_DATE = re.compile(
    r"\bngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})(?:\s+năm\s+(\d{4}))?\b", re.IGNORECASE
)
_MONTH = re.compile(r"\btháng\s+(\d{1,2})\b", re.IGNORECASE)
_TIME = re.compile(r"\b(\d{1,2})(?::|h)(\d{2})\b")
_DECIMAL = re.compile(r"\b(\d+),(\d+)\b")
_NUMBER = re.compile(r"\b\d{1,3}(?:\.\d{3})+\b|\b\d+\b")
_LONGEST_AMOUNT = 12  # digits; longer runs are identifiers, read one digit at a time


def _date(match: re.Match[str], region: Region) -> str:
    day, month, year = (int(g) for g in match.groups())
    try:
        return say_date(date(year, month, day), region=region)
    except ValueError:  # 31/02/2026 is not a date: leave it to the number rule
        return match.group(0)


def _wordy_date(match: re.Match[str], region: Region) -> str:
    day, month = int(match[1]), int(match[2])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return match.group(0)
    words = day_words(day) + month_words(month)
    if match[3]:
        words += year_words(int(match[3]), region=region)
    return " ".join(words)


def _month(match: re.Match[str]) -> str:
    month = int(match[1])
    return " ".join(month_words(month)) if 1 <= month <= 12 else match.group(0)


def _number(token: str, region: Region) -> str:
    digits = token.replace(".", "")
    if (len(digits) > 1 and digits.startswith("0")) or len(digits) > _LONGEST_AMOUNT:
        return " ".join(digit_words(digits))  # a phone number or a code, not an amount
    return say_number(int(digits), region=region)


def spell_for_speech(text: str, *, region: Region = "north") -> str:
    """The script with every number and date written as words: "hạn 5/4/2026" -> "hạn ngày …"."""
    text = _DATE.sub(lambda m: _date(m, region), text)
    text = _WORDY_DATE.sub(lambda m: _wordy_date(m, region), text)
    text = _MONTH.sub(_month, text)
    text = _PHONE.sub(lambda m: " ".join(digit_words(m[0])), text)
    text = _TIME.sub(
        lambda m: (
            f"{say_number(int(m[1]), region=region)} giờ {say_number(int(m[2]), region=region)}"
            if int(m[1]) < 24 and int(m[2]) < 60
            else m[0]
        ),
        text,
    )
    text = _DECIMAL.sub(
        lambda m: f"{_number(m[1], region)} phẩy {' '.join(digit_words(m[2]))}", text
    )
    return _NUMBER.sub(lambda m: _number(m[0], region), text)
