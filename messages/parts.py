"""The parts a message is made of, and the dynamic prompts free text needs.

A Message is a tuple of Parts. compose.py builds messages; render.py turns one
into written text (SMS, console) or into prompt ids (voice). Parts are frozen
and hashable so messages can be compared, cached and used as keys.

Refuses: rendering (render.py), wording (the catalog) and any I/O.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal


@dataclass(frozen=True, slots=True)
class Phrase:
    """A fixed phrase from the prompt catalog."""

    id: str


@dataclass(frozen=True, slots=True)
class Number:
    """A non-negative integer: "50.000" written, number fragments spoken."""

    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError(f"a Number part cannot be negative: {self.value}")


@dataclass(frozen=True, slots=True)
class DateValue:
    """A date: "ngày 05/04/2026" written; day, month and year fragments spoken.

    `with_year=False` leaves the year out of the spoken form only (compose sets
    it when the date falls in the current year); the written form always has it.
    """

    value: date
    with_year: bool = True


@dataclass(frozen=True, slots=True)
class CodeDigits:
    """A dossier code: written in full; spoken as its date and sequence digits."""

    code: str


@dataclass(frozen=True, slots=True)
class FreeText:
    """Text from data (procedure, place, office, name): written as is, spoken
    from a dynamic prompt recorded or synthesised ahead of time."""

    text: str


@dataclass(frozen=True, slots=True)
class Punct:
    """Punctuation glued to the written text before it; silent when spoken."""

    mark: Literal[",", ".", ":", ";"]


Part = Phrase | Number | DateValue | CodeDigits | FreeText | Punct
Message = tuple[Part, ...]

DYNAMIC_PREFIX = "txt_"


def clean_text(text: str) -> str:
    """NFC, with runs of whitespace (newlines included) collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def dynamic_prompt_id(text: str) -> str:
    """The prompt id of a free text: txt_ + 16 hex digits of its SHA-256.

    Deterministic across processes and machines (unlike hash()), and the same
    for any spelling that differs only in Unicode normalisation or spacing.
    """
    digest = hashlib.sha256(clean_text(text).encode("utf-8")).hexdigest()
    return DYNAMIC_PREFIX + digest[:16]


def dynamic_texts(message: Message) -> tuple[str, ...]:
    """The free texts a message needs as dynamic prompts, in order, each once."""
    seen: dict[str, None] = {}
    for part in message:
        if isinstance(part, FreeText) and clean_text(part.text):
            seen.setdefault(clean_text(part.text), None)
    return tuple(seen)


def dynamic_prompts(message: Message) -> dict[str, str]:
    """Dynamic prompt id -> text to record or synthesise, for one message."""
    return {dynamic_prompt_id(text): text for text in dynamic_texts(message)}
