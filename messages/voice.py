"""What the voice side speaks besides dossier answers: wording the prompts component
renders ahead of time and the call flow plays.

Here, in the wording shared by voice and SMS, because both the voice side (ivr)
and the prompts component need it and ivr already depends on prompts: neither
imports the other for it. Pure: no I/O, no settings object.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import time
from typing import Protocol

from lookup.model import Procedure
from messages import compose
from messages.parts import clean_text, dynamic_texts


class OpeningWindow(Protocol):
    """One opening window on some weekdays, 0 = Monday (ivr.settings.OfficeHours fits)."""

    @property
    def weekdays(self) -> Collection[int]: ...

    @property
    def start(self) -> time: ...

    @property
    def end(self) -> time: ...


# The prompt that speaks the configured hours: rendered by the prompts component from
# officer_hours_script(settings.agi.hours), played after "ivr_officer_closed" by the call
# flow and by the dialplan's fallback path (asterisk/extensions.conf). Not in the catalog:
# its script comes from the settings, so it changes when they do.
OFFICER_HOURS_PROMPT = "ivr_officer_hours"

_DAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


def officer_hours_script(hours: Iterable[OpeningWindow]) -> str:
    """What OFFICER_HOURS_PROMPT says, e.g. "Giờ làm việc là Thứ Hai đến Thứ Sáu, từ 7 giờ
    30 đến 17 giờ, trừ ngày lễ." (the prompts component spells the numbers out)."""
    windows = "; ".join(
        f"{_days(w.weekdays)}, từ {_clock(w.start)} đến {_clock(w.end)}" for w in hours
    )
    return f"Giờ làm việc là {windows}, trừ ngày lễ."


def _days(weekdays: Iterable[int]) -> str:
    days = sorted(set(weekdays))
    if len(days) >= 3 and days == list(range(days[0], days[-1] + 1)):
        return f"{_DAYS[days[0]]} đến {_DAYS[days[-1]]}"
    return ", ".join(_DAYS[d] for d in days)


def _clock(moment: time) -> str:
    return f"{moment.hour} giờ {moment.minute}" if moment.minute else f"{moment.hour} giờ"


def voice_texts(procedures: Iterable[Procedure], agency_names: Iterable[str]) -> list[str]:
    """Every free text the voice menu speaks besides dossier answers: for the prompts
    service to render ahead of time (procedure guidance reads documents, fees and
    processing times as dynamic prompts; the agency question reads agency names)."""
    texts: dict[str, None] = {}
    for procedure in procedures:
        texts[clean_text(procedure.name)] = None
        for text in dynamic_texts(compose.procedure_guidance(procedure)):
            texts[text] = None
    for name in agency_names:
        texts[clean_text(name)] = None
    return [t for t in texts if t]
