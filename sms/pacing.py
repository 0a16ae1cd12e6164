"""Pacing of submit_sm parts (pure: the caller passes `now`; no clock, no sockets).

Two limits, both counted per message part (every UDH part is one submit_sm):

- spacing: each part takes the next slot 1.005/rate after the previous one, so
  parts do not leave in bursts (an SMSC counting with a token bucket and a
  small burst would throttle them); a loop that wakes a little late may catch
  up the slots it owes, an idle spell restarts the schedule from now;
- a sliding window: never more than `limit` parts in any window of one second
  (plus a few milliseconds, so jitter between our clock and the SMSC's
  cannot make a strict "N in any second" counter see N + 1). Slots alone allow
  rate + 1 parts in a closed one-second window, which is what made an SMSC
  allowing 50/s throttle every 51st part at tps = 50.

When the SMSC still throttles below the configured rate, the rate adapts
(AIMD) instead of pausing a fixed second: it drops to the most parts the SMSC
took in any one second over the last few seconds (by BETA if it took
none), then probes back up by STEP after a clean second of full-rate sending
(a refused probe doubles that wait, up to MAX_PROBE_S), never above the
configured tps. A refusal when the SMSC has taken a full window at our rate is
jitter between its clock and ours: the part goes again, the rate stays.
Throttles of parts sent before the last decrease are answers to the old rate
and are not counted again.
"""

from __future__ import annotations

import math
from collections import Counter, deque

WINDOW_S = 1.0
MARGIN_S = 0.005  # 0.5 % of the rate, against clock jitter between us and the SMSC
CATCH_UP_S = 0.1  # late by less than this: the owed slots may still go
BETA = 0.8  # multiplicative decrease when the accepted count tells nothing
STEP = 0.05  # additive increase: this share of the configured tps (at least one part/s)
PROBE_S = 1.0  # clean seconds at full rate before each increase...
MAX_PROBE_S = 32.0  # ...doubling up to this while every probe is refused
MIN_RATE = 1.0
HISTORY_S = 5.0  # how far back a refusal looks for what the SMSC has taken


class Pacer:
    """Parts per second towards the SMSC. available(now) -> send that many -> sent(now, n)."""

    def __init__(self, tps: float, now: float, *, adaptive: bool = True) -> None:
        self.ceiling = tps
        self.rate = tps
        self.adaptive = adaptive
        self._next = now  # the next free slot
        self._sent: deque[float] = deque()  # send times in the last window (+ margin)
        # Send times over the last HISTORY_S, and those of parts the SMSC refused.
        self._history: deque[float] = deque()
        self._refused: deque[float] = deque()
        self._changed_at = now  # the last decrease or increase
        self._decreased_at = -math.inf
        self._sent_since_change = 0
        self._probe_s = PROBE_S
        self._probing = False  # the last change was an increase
        self.decreases = 0
        self.increases = 0

    @property
    def _step(self) -> float:
        return max(1.0, self.ceiling * STEP)

    @property
    def _interval(self) -> float:
        # Slots as far apart as the window's margin asks: at full rate the window is
        # then just full, never the one holding parts back, so a late wake-up can be
        # caught up within the slots instead of pushing every later second back.
        return (WINDOW_S + MARGIN_S) / self.rate

    @property
    def limit(self) -> int:
        """Parts allowed in any sliding window."""
        return max(1, math.floor(self.rate * WINDOW_S + 1e-9))

    def _expire(self, now: float) -> None:
        horizon = now - WINDOW_S - MARGIN_S
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
        past = now - HISTORY_S
        while self._history and self._history[0] <= past:
            self._history.popleft()
        while self._refused and self._refused[0] <= past:
            self._refused.popleft()

    def available(self, now: float) -> int:
        """How many parts may leave now."""
        self._expire(now)
        room = self.limit - len(self._sent)
        if room <= 0 or now < self._next:
            return 0
        if now - self._next > CATCH_UP_S:
            self._next = now  # idle, not late: no burst
        owed = int((now - self._next) / self._interval) + 1
        return min(room, owed)

    def sent(self, now: float, count: int = 1) -> None:
        """`count` parts left at `now` (each takes a slot and a place in the window)."""
        for _ in range(count):
            self._sent.append(now)
            self._history.append(now)
            self._next += self._interval
        self._sent_since_change += count

    def wait_s(self, now: float) -> float:
        """Seconds until the next part may leave (0 if one may now)."""
        self._expire(now)
        wait = max(0.0, self._next - now)
        if len(self._sent) >= self.limit:
            # The oldest sends that must leave the window before one more fits.
            oldest = self._sent[len(self._sent) - self.limit]
            wait = max(wait, oldest + WINDOW_S + MARGIN_S - now)
        return wait

    def accepted(self, sent_at: float, now: float) -> None:
        """The SMSC accepted a part sent at `sent_at`; may probe the rate back up."""
        if not self.adaptive or self.rate >= self.ceiling:
            return
        if self._sent_since_change < self.rate * PROBE_S * 0.9:
            return  # not sending at full rate: nothing learnt about the SMSC's limit
        if now - self._changed_at >= self._probe_s:
            if self._probing:  # the last probe held: the SMSC's limit moved up
                self._probe_s = PROBE_S
            self.rate = min(self.ceiling, self.rate + self._step)
            self._changed(now)
            self._probing = True
            self.increases += 1

    def throttled(self, sent_at: float, now: float) -> None:
        """The SMSC refused a part sent at `sent_at` as over its rate."""
        if not self.adaptive:
            return
        taken = self._most_taken(sent_at)
        self._refused.append(sent_at)
        if sent_at < self._decreased_at:
            return  # an answer to the old rate: already acted on
        if taken >= self.limit:
            # It has taken a full second at this rate: the refusal is jitter between
            # our clock and its own (a part it read late), not a lower limit. The part
            # goes again; the rate stays.
            return
        # What it has shown it takes (BETA if it took nothing at all: back off).
        new = float(taken) if taken else self.rate * BETA
        if self._probing:
            # A probe refused: the limit is where it was. Probe less often, so a steady
            # SMSC limit costs a few refusals a minute, not one a second.
            self._probe_s = min(self._probe_s * 2, MAX_PROBE_S)
        self._probing = False
        self.rate = max(MIN_RATE, min(new, self.ceiling))
        self._decreased_at = now
        self._changed(now)
        self.decreases += 1

    def _most_taken(self, before: float) -> int:
        """The most parts the SMSC took in any one second over the last HISTORY_S: what
        it has shown it allows. Not just the last window: a loop that fell behind sent fewer
        than the SMSC allows, and a refusal then is jitter, not a lower limit. Parts
        still unanswered count as taken (the SMSC counts them on arrival)."""
        refused = Counter(self._refused)
        taken = []
        for t in self._history:
            if t >= before:
                break
            if refused[t]:
                refused[t] -= 1
            else:
                taken.append(t)
        most, start = 0, 0
        for end, t in enumerate(taken):
            while taken[start] <= t - WINDOW_S:
                start += 1
            most = max(most, end - start + 1)
        return most

    def _changed(self, now: float) -> None:
        self._changed_at = now
        self._sent_since_change = 0
        # Slots already promised keep their spacing; the next one follows the new rate.
        self._next = max(self._next, now)
