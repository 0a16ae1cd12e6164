"""Vietnamese number, date and digit words, for voice fragments and TTS scripts.

Owns the spoken form of numbers (mốt, lăm, tư, linh/lẻ, không trăm, nghìn/ngàn,
triệu, tỷ), of dates (ngày mùng năm tháng tư năm hai nghìn không trăm hai mươi
sáu) and of digit strings read one by one. Words are returned as lists so the
voice side can map each one to a recorded fragment.

Refuses: num2words (wrong whenever a group after the thousands has zero
hundreds, e.g. 2026), any clock (callers pass `today`), and any I/O.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

Region = Literal["north", "south"]

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
MONTHS = (
    "một",
    "hai",
    "ba",
    "tư",  # never "bốn" for the month
    "năm",
    "sáu",
    "bảy",
    "tám",
    "chín",
    "mười",
    "mười một",
    "mười hai",
)

# Scales above the thousand, largest first; a count of tỷ is itself read as a
# number, so 10**12 is "một nghìn tỷ" without a separate word.
_BILLION = 10**9
_MILLION = 10**6
_THOUSAND = 10**3


def _zero_tens(region: Region) -> str:
    return "linh" if region == "north" else "lẻ"


def _thousand(region: Region) -> str:
    return "nghìn" if region == "north" else "ngàn"


def _below_hundred(n: int, *, four_as_tu: bool) -> list[str]:
    """1..99 (0 is never read inside a larger number)."""
    tens, unit = divmod(n, 10)
    if tens == 0:
        return [DIGITS[unit]]
    words = ["mười"] if tens == 1 else [DIGITS[tens], "mươi"]
    if unit == 0:
        return words
    if unit == 5:
        words.append("lăm")
    elif unit == 1 and tens >= 2:
        words.append("mốt")
    elif unit == 4 and tens >= 2 and four_as_tu:
        words.append("tư")
    else:
        words.append(DIGITS[unit])
    return words


def _group(n: int, *, inner: bool, region: Region, four_as_tu: bool) -> list[str]:
    """A group 1..999; `inner` when a larger part was read before it (2026 -> 026)."""
    hundreds, rest = divmod(n, 100)
    words: list[str] = []
    if hundreds or inner:
        words += [DIGITS[hundreds], "trăm"]
    if rest == 0:
        return words
    if rest < 10 and words:
        words.append(_zero_tens(region))
    return words + _below_hundred(rest, four_as_tu=four_as_tu)


def _words(n: int, *, inner: bool, region: Region, four_as_tu: bool) -> list[str]:
    """n >= 1; zero groups are skipped, the next group is then read in full."""
    words: list[str] = []
    for scale, name in ((_BILLION, "tỷ"), (_MILLION, "triệu"), (_THOUSAND, _thousand(region))):
        count, n = divmod(n, scale)
        if count:
            more = _words(count, inner=inner, region=region, four_as_tu=four_as_tu)
            words += [*more, name]
            inner = True
    if n:
        words += _group(n, inner=inner, region=region, four_as_tu=four_as_tu)
    return words


def number_words(n: int, *, region: Region = "north", four_as_tu: bool = True) -> list[str]:
    """The words of a non-negative integer: 2026 -> hai nghìn không trăm hai mươi sáu.

    `four_as_tu` reads a final 4 after a tens word ≥ 20 as "tư" (hai mươi tư);
    some speakers prefer "bốn". 14 is always "mười bốn".
    """
    if n < 0:
        raise ValueError(f"no words for a negative number: {n}")
    if n == 0:
        return ["không"]
    return _words(n, inner=False, region=region, four_as_tu=four_as_tu)


def say_number(n: int, *, region: Region = "north", four_as_tu: bool = True) -> str:
    return " ".join(number_words(n, region=region, four_as_tu=four_as_tu))


def day_words(day: int) -> list[str]:
    """ngày mùng một … ngày mùng mười, ngày mười một … ngày ba mươi mốt."""
    if not 1 <= day <= 31:
        raise ValueError(f"no such day of a month: {day}")
    prefix = ["ngày", "mùng"] if day <= 10 else ["ngày"]
    return prefix + _below_hundred(day, four_as_tu=True)


def month_words(month: int) -> list[str]:
    """tháng một … tháng mười hai (month 4 is "tháng tư")."""
    if not 1 <= month <= 12:
        raise ValueError(f"no such month: {month}")
    return ["tháng", *MONTHS[month - 1].split()]


def year_words(year: int, *, region: Region = "north") -> list[str]:
    """năm hai nghìn không trăm hai mươi sáu."""
    return ["năm", *number_words(year, region=region)]


def include_year(value: date, today: date | None) -> bool:
    """The short spoken form leaves out the year when it is the current one."""
    return today is None or value.year != today.year


def date_words(value: date, *, region: Region = "north", today: date | None = None) -> list[str]:
    """ngày mùng năm tháng tư [năm hai nghìn không trăm hai mươi sáu].

    The year is left out when `today` is given and falls in the same year.
    """
    words = day_words(value.day) + month_words(value.month)
    if include_year(value, today):
        words += year_words(value.year, region=region)
    return words


def say_date(value: date, *, region: Region = "north", today: date | None = None) -> str:
    return " ".join(date_words(value, region=region, today=today))


def digit_words(digits: str) -> list[str]:
    """Each ASCII digit as a word ("0361" -> không ba sáu một); other characters skipped."""
    return [DIGITS[int(c)] for c in digits if c in "0123456789"]
