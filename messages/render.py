"""Render a composed message as written text or as a list of prompt ids.

to_text() gives what SMS and the console show: NFC Vietnamese, or, with
accents=False, the same text without diacritics in the GSM 7-bit alphabet
(160 characters a segment instead of UCS-2's 70). to_prompts() gives what the
voice side plays, in order. Both are pure: the catalog is passed in.

Refuses: choosing the words (compose.py), segmenting SMS, and any I/O.
"""

from __future__ import annotations

import unicodedata
from typing import Protocol, assert_never

from messages import formats
from messages.fragments import code_fragments, date_fragments, number_fragments
from messages.gsm import to_gsm7
from messages.numbers import Region
from messages.parts import (
    CodeDigits,
    DateValue,
    FreeText,
    Message,
    Number,
    Phrase,
    Punct,
    clean_text,
    dynamic_prompt_id,
)


class Worded(Protocol):
    """One catalogued phrase: its id and its written form (prompts.catalog.Prompt fits)."""

    @property
    def id(self) -> str: ...

    @property
    def written(self) -> str: ...


class Catalog(Protocol):
    """Prompt id -> phrase; the prompt catalog (prompts.catalog.Catalog) fits. A Protocol,
    so the wording layer does not import the prompts package that builds on it."""

    def __getitem__(self, prompt_id: str, /) -> Worded: ...


_ENDINGS = (".", ",", ":", ";", "!", "?", "…")


def format_number(n: int) -> str:
    """Vietnamese digit grouping with dots: 50000 -> 50.000, 1500 -> 1.500."""
    return formats.number(n)


def strip_accents(text: str) -> str:
    """Vietnamese without diacritics: "Đăng ký" -> "Dang ky" (đ/Đ are letters, not marks)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", kept)


def to_text(message: Message, catalog: Catalog, *, accents: bool, region: Region = "north") -> str:
    """The written form; `region` is accepted for symmetry (written numbers are digits)."""
    del region
    pieces: list[str] = []
    for part in message:
        match part:
            case Phrase(prompt_id):
                pieces.append(" " + catalog[prompt_id].written)
            case Number(value):
                pieces.append(" " + format_number(value))
            case DateValue(value):
                pieces.append(f" ngày {value:%d/%m/%Y}")
            case CodeDigits(code):
                pieces.append(" " + clean_text(code))
            case FreeText(text):
                cleaned = clean_text(text)
                if cleaned:
                    pieces.append(" " + cleaned)
            case Punct(mark):
                # A free text may already end its sentence ("…phường 1."); never "..".
                if pieces and not pieces[-1].endswith(_ENDINGS):
                    pieces.append(mark)
            case _:  # pragma: no cover - mypy proves every kind of part is handled
                assert_never(part)
    text = unicodedata.normalize("NFC", "".join(pieces).strip())
    return text if accents else to_gsm7(strip_accents(text))


def to_prompts(message: Message, catalog: Catalog, *, region: Region) -> list[str]:
    """Prompt ids in playing order; free text becomes its dynamic prompt id.

    Raises KeyError for a phrase the catalog lacks (a bug that tests catch);
    dynamic ids are not in the catalog: the audio side lists them with
    messages.parts.dynamic_prompts().
    """
    ids: list[str] = []
    for part in message:
        match part:
            case Phrase(prompt_id):
                ids.append(catalog[prompt_id].id)
            case Number(value):
                ids += number_fragments(value, region=region)
            case DateValue(value, with_year):
                ids += date_fragments(value, region=region, with_year=with_year)
            case CodeDigits(code):
                ids += code_fragments(code)
            case FreeText(text):
                if clean_text(text):
                    ids.append(dynamic_prompt_id(text))
            case Punct():
                pass  # punctuation is silent
            case _:  # pragma: no cover - mypy proves every kind of part is handled
                assert_never(part)
    return ids
