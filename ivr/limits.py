"""How often one caller may look dossiers up: codes are guessable (date + daily counter)
and a receipt PIN or the last 4 ID digits can be tried, so a number that keeps calling
is slowed down (vietnam-one-stop.md §6). Pure: the session passes the time.

Only identified callers are counted; a hidden number cannot be told apart from
another, and the per-call limits of the flow still hold for it.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from datetime import datetime, timedelta

WINDOW = timedelta(hours=1)
_WINDOW_S = WINDOW.total_seconds()


class CallerLimiter:
    """A sliding one-hour window of lookups per caller, for at most `max_callers` numbers.

    Each caller's times are an array of POSIX seconds, not a deque of datetimes: an array
    holds no Python objects, so the garbage collector does not track it. Up to 10,000
    deques were a sixth of what each full collection of a busy gateway walked (the mixed
    bench's census), and a full pass stops every call."""

    def __init__(self, per_hour: int, *, max_callers: int = 10_000) -> None:
        self._per_hour = per_hour
        self._max_callers = max_callers
        self._seen: OrderedDict[str, array[float]] = OrderedDict()

    def allow(self, caller: str | None, now: datetime) -> bool:
        """Count one lookup; False when the caller has used up the hour's allowance."""
        if caller is None:
            return True
        at = now.timestamp()
        times = self._seen.pop(caller, None) or array("d")
        expired = 0
        while expired < len(times) and at - times[expired] >= _WINDOW_S:
            expired += 1
        del times[:expired]  # at most per_hour entries: short
        self._seen[caller] = times  # most recent last: the oldest callers are evicted first
        if len(self._seen) > self._max_callers:
            self._seen.popitem(last=False)
        if len(times) >= self._per_hour:
            return False
        times.append(at)
        return True
