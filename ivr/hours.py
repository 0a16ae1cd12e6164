"""Is an officer there to take a transfer? Office hours and holidays, pure.

The session passes the local time (settings.timezone); nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from ivr.settings import OfficeHours


def officer_open(now: datetime, hours: Iterable[OfficeHours], holidays: Iterable[date]) -> bool:
    """True when `now` (local time) falls in an opening window on a working day."""
    if now.date() in set(holidays):
        return False
    moment = now.time()
    return any(
        now.weekday() in window.weekdays and window.start <= moment < window.end for window in hours
    )
