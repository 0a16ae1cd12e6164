"""What a caller hears, in words: the Vietnamese behind each prompt id.

`tracuu call` prints these instead of ids only a developer reads. A catalogued
prompt says its script; a dynamic prompt (txt_<hash>) says the free text whose
hash it is, found among the texts the voice side can speak (the sounds
manifest's, the settings', the procedures' and the dossiers'). Pure: the texts
are handed in; gathering them is the CLI's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from messages.parts import DYNAMIC_PREFIX, clean_text, dynamic_prompt_id
from prompts.catalog import Catalog

# A prompt whose words end a sentence ends a line of the transcript; "Bấm phím một:"
# does not (its agency name follows on the same line).
_SENTENCE_END = re.compile(r"[.?!…]$")
_PUNCTUATED = re.compile(r"[.,:;?!…]$")
# A value is spoken as several sound files (a code's digits, a date's day, month and
# year words): no pause inside one. After a value the caller hears the gap before the
# next file; in print it is a comma ("ngày ba mươi tháng mười một, nay hồ sơ đã quá
# hạn."), else two texts from data or a date and a sentence run together.
_CODE = re.compile(r"(digit_\d|code_sequence)$")
_DATE = re.compile(r"(day_\d\d|month_\d\d|date_year|num_\w+)$")


class Words:
    """Prompt id -> the words the caller hears."""

    def __init__(self, catalog: Catalog, dynamic: Mapping[str, str] | None = None) -> None:
        self._catalog = catalog
        self._dynamic: dict[str, str] = dict(dynamic or {})

    def add(self, prompt_id: str, text: str) -> None:
        """A prompt with a fixed id whose script comes from the settings (office hours)."""
        self._dynamic.setdefault(prompt_id, clean_text(text))

    def add_texts(self, texts: Iterable[str]) -> None:
        """Free texts the voice side may speak; each becomes its txt_<hash> prompt."""
        for text in texts:
            cleaned = clean_text(text)
            if cleaned:
                self._dynamic.setdefault(dynamic_prompt_id(cleaned), cleaned)

    def of(self, prompt_id: str) -> str | None:
        """The words, or None when the id is neither catalogued nor a known text."""
        prompt = self._catalog.get(prompt_id)
        if prompt is not None:
            return prompt.text
        return self._dynamic.get(prompt_id)

    def unknown(self, prompt_ids: Iterable[str]) -> set[str]:
        return {pid for pid in prompt_ids if self.of(pid) is None}

    def say(self, prompt_id: str) -> str:
        """The words, or a marker a reader understands when they are not known."""
        words = self.of(prompt_id)
        if words is not None:
            return words
        if prompt_id.startswith(DYNAMIC_PREFIX):
            return f"[{prompt_id}: text not known here]"
        return f"[{prompt_id}]"


@dataclass(frozen=True, slots=True)
class Said:
    """One prompt as the transcript shows it."""

    prompt_id: str
    words: str
    interrupted_by: str = ""
    missing: bool = False


def _value(prompt_id: str) -> str | None:
    """Which kind of value a sound file belongs to (None: a phrase of the catalog)."""
    if prompt_id.startswith(DYNAMIC_PREFIX):
        return prompt_id  # each text from data is a value of its own
    if _CODE.match(prompt_id):
        return "code"
    if _DATE.match(prompt_id):
        return "date"
    return None


def _pause_between(before: Said, after: Said) -> bool:
    """Whether the gap between two files reads as a pause: after a value that ends
    without punctuation, unless the next file continues that same value. A phrase
    leading into its value ("Hồ sơ số", "thủ tục") flows on without one."""
    value = _value(before.prompt_id)
    if value is None or _PUNCTUATED.search(before.words):
        return False
    return _value(after.prompt_id) != value or value.startswith(DYNAMIC_PREFIX)


def transcript(said: Sequence[Said]) -> list[str]:
    """Lines as a person reads the call: prompts joined into sentences.

    A line ends with a sentence (or before a prompt that starts one), with a prompt
    the caller cut short (the key is shown) and around a prompt Asterisk has no
    file for (the caller hears silence). Inside a line, the pause after a value is
    a comma (`_pause_between`).
    """
    lines: list[str] = []
    current: list[str] = []
    previous: Said | None = None  # the file before, on the current line

    def flush() -> None:
        nonlocal previous
        if current:
            lines.append(" ".join(current))
            current.clear()
        previous = None

    for item in said:
        # A catalogued prompt in capitals starts a sentence ("Bấm phím hai:" after an
        # agency's name); texts from data are names, capitals and all, inside one.
        if not item.prompt_id.startswith(DYNAMIC_PREFIX) and item.words[:1].isupper():
            flush()
        if item.missing:
            flush()
            lines.append(f"{item.words}  (MISSING: the caller hears silence)")
            continue
        if previous is not None and _pause_between(previous, item):
            current[-1] += ","
        current.append(item.words)
        previous = item
        if item.interrupted_by:
            current.append(f"[pressed {item.interrupted_by}]")
            flush()
        elif _SENTENCE_END.search(item.words):
            flush()
    flush()
    return lines
