"""How often one caller may look dossiers up: codes are guessable (date + daily counter)
and a receipt PIN or the last 4 ID digits can be tried, so a number that keeps calling
is slowed down (vietnam-one-stop.md §6). Pure: the session passes the time.

Only identified callers are counted; a hidden number cannot be told apart from
another, and the per-call limits of the flow still hold for it.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

WINDOW = timedelta(hours=1)
_WINDOW_S = WINDOW.total_seconds()


class CallerLimiter:
    """A sliding one-hour window of lookups per caller, for at most `max_callers` numbers.

    Each caller's times are a tuple of POSIX seconds, not a deque of datetimes: the
    collector stops tracking a tuple of floats at its first pass over it (a deque, or
    an array, it walks at every full pass). Up to 10,000 deques were a sixth of what
    each full collection of a busy gateway walked (the mixed bench's census), and a
    full pass stops every call."""

    def __init__(self, per_hour: int, *, max_callers: int = 10_000) -> None:
        self._per_hour = per_hour
        self._max_callers = max_callers
        self._seen: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    def allow(self, caller: str | None, now: datetime) -> bool:
        """Count one lookup; False when the caller has used up the hour's allowance."""
        if caller is None:
            return True
        at = now.timestamp()
        # At most per_hour entries: rebuilding the tuple is cheap.
        times = tuple(t for t in self._seen.pop(caller, ()) if at - t < _WINDOW_S)
        allowed = len(times) < self._per_hour
        if allowed:
            times += (at,)
        self._seen[caller] = times  # most recent last: the oldest callers are evicted first
        if len(self._seen) > self._max_callers:
            self._seen.popitem(last=False)
        return allowed
