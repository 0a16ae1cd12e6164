"""Is an officer there to take a transfer? Office hours and holidays, pure.

The session passes the local time (settings.timezone); nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time

from ivr.settings import OfficeHours


def officer_open(now: datetime, hours: Iterable[OfficeHours], holidays: Iterable[date]) -> bool:
    """True when `now` (local time) falls in an opening window on a working day."""
    if now.date() in set(holidays):
        return False
    moment = now.time()
    return any(
        now.weekday() in window.weekdays and window.start <= moment < window.end for window in hours
    )


# The prompt that speaks the configured hours: rendered by the prompts component from
# describe(settings.agi.hours), played after "ivr_officer_closed" by the call flow and by
# the dialplan's fallback path (asterisk/extensions.conf). Not in the catalog: its script
# comes from the settings, so it changes when they do.
OFFICER_HOURS_PROMPT = "ivr_officer_hours"

_DAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


def officer_hours_script(hours: Iterable[OfficeHours]) -> str:
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
