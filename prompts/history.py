"""A prompt's history in the words of the office staff who read it (studio, CLI).

The events are stored as data (prompts/versions.py Event, the prompt_history
table). The Vietnamese wording of each step lives in one place,
messages/prompt_history.py, which words the steps as older manifests logged them
("approved v2"); an event is handed to it in that form, so a history imported
from an old manifest and one made today read alike.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from messages.formats import iso_moment
from messages.prompt_history import step_in_words
from prompts.versions import Event

_STEPS = {
    "placeholder": "placeholder rendered",
    "imported": "imported v{n}",
    "approved": "approved v{n}",
    "rolled_back": "rolled back to v{n}",
}


def logged_step(event: Event) -> str:
    """The step as the old JSON manifest logged it ('approved v2')."""
    if event.action == "note":
        return event.note
    return _STEPS[event.action].format(n=event.number)


def describe(event: Event) -> str:
    """'Nguyễn Thị Lan: duyệt v1: người gọi nghe bản này', without the time."""
    if event.action == "note":  # a line of an old manifest it could not read, as written
        return unicodedata.normalize("NFC", event.note)
    what = step_in_words(logged_step(event))
    if event.note:
        what += f" ({event.note})"
    return unicodedata.normalize("NFC", f"{event.by}: {what}")


def line(event: Event, zone: Any) -> str:
    """The time on the office clock, then describe(): one line of the studio's history."""
    return f"{iso_moment(event.at, zone)} {describe(event)}"
