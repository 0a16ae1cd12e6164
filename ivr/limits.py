"""How often one caller may look dossiers up: codes are guessable (date + daily counter)
and a receipt PIN or the last 4 ID digits can be tried, so a number that keeps calling
is slowed down (vietnam-one-stop.md §6). Pure: the session passes the time.

Only identified callers are counted; a hidden number cannot be told apart from
another, and the per-call limits of the flow still hold for it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta

WINDOW = timedelta(hours=1)


class CallerLimiter:
    """A sliding one-hour window of lookups per caller, for at most `max_callers` numbers."""

    def __init__(self, per_hour: int, *, max_callers: int = 10_000) -> None:
        self._per_hour = per_hour
        self._max_callers = max_callers
        self._seen: OrderedDict[str, deque[datetime]] = OrderedDict()

    def allow(self, caller: str | None, now: datetime) -> bool:
        """Count one lookup; False when the caller has used up the hour's allowance."""
        if caller is None:
            return True
        times = self._seen.pop(caller, None) or deque()
        while times and now - times[0] >= WINDOW:
            times.popleft()
        self._seen[caller] = times  # most recent last: the oldest callers are evicted first
        if len(self._seen) > self._max_callers:
            self._seen.popitem(last=False)
        if len(times) >= self._per_hour:
            return False
        times.append(now)
        return True
