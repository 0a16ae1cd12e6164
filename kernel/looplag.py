"""Watches the event loop's lag: how late a timer callback runs behind its due time.

Voice, SMS, reminders and the console share one loop, so a blocking step is dead
air on every call in progress. The monitor keeps plain figures for a metrics
exporter (current and worst lag, a cumulative histogram, recent percentiles;
no metrics library here) and logs one WARNING per stall longer than `warn_s`,
naming what the loop was running.

How: a ticker callback re-arms itself every `interval_s` on the loop and
records how late it ran. A watchdog thread notices a tick that is overdue by
more than `warn_s` while the loop is still stuck and samples the loop thread's
stack (sys._current_frames()); when the loop comes back, the late tick logs the
warning with that stack. A loop stuck for `stuck_log_s` is also logged by the
watchdog itself, since the ticker cannot run until the loop is free.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger(__name__)

# Upper bounds (seconds) of the histogram's buckets; +Inf is implied by `count`.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RECENT = 2048  # lags kept for the recent percentiles (about a minute at 25 ms)
STACK_FRAMES = 6  # frames named in a warning, innermost first


@dataclass(frozen=True, slots=True)
class LagFigures:
    """A snapshot for an exporter; every time in seconds."""

    current_s: float  # the lag of the last tick
    max_s: float  # the worst since start
    count: int  # ticks measured
    sum_s: float  # their lags added up (histogram _sum)
    buckets: tuple[tuple[float, int], ...]  # (upper bound, ticks with lag <= it), cumulative
    p50_s: float  # over the recent ticks
    p99_s: float
    recent_max_s: float
    stalls: int  # ticks later than warn_s (each logged once)


class LoopLagMonitor:
    """Start with `start()` from inside the loop; `stop()` at shutdown."""

    def __init__(
        self,
        *,
        interval_s: float = 0.025,
        warn_s: float = 0.1,
        stuck_log_s: float = 5.0,
        watch: bool = True,
    ) -> None:
        self.interval_s = interval_s
        self.warn_s = warn_s
        self.stuck_log_s = stuck_log_s
        self._watch = watch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._counts = [0] * len(BUCKETS)
        self._recent: deque[float] = deque(maxlen=RECENT)
        self.current_s = 0.0
        self.max_s = 0.0
        self.count = 0
        self.sum_s = 0.0
        self.stalls = 0
        # Shared with the watchdog thread: the tick number and when it is due (monotonic);
        # the stack sampled for a tick that overran (tick number, text).
        self._tick = 0
        self._tick_due = 0.0
        self._sampled: tuple[int, str] | None = None
        self._loop_thread = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- running

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not None:
            return
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        self._arm(loop.time())
        if self._watch:
            self._thread = threading.Thread(target=self._watchdog, name="looplag", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    async def run(self) -> None:
        """For a TaskGroup: monitor until cancelled."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            self.stop()

    def _arm(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + self.interval_s
        self._tick += 1
        # The loop's clock is time.monotonic (BaseEventLoop.time); the watchdog reads it too.
        self._tick_due = self._due
        self._handle = self._loop.call_at(self._due, self._ticked)

    def _ticked(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        lag = max(0.0, now - self._due)
        self._record(lag)
        if lag > self.warn_s:
            self.stalls += 1
            sampled = self._sampled
            running = sampled[1] if sampled and sampled[0] == self._tick else "not sampled"
            log.warning("event loop blocked for %.0f ms; it was running: %s", lag * 1000, running)
        self._sampled = None
        self._arm(now)

    def _record(self, lag: float) -> None:
        self.current_s = lag
        self.max_s = max(self.max_s, lag)
        self.count += 1
        self.sum_s += lag
        index = bisect_left(BUCKETS, lag)
        if index < len(BUCKETS):
            self._counts[index] += 1
        self._recent.append(lag)

    # ---- the watchdog thread

    def _watchdog(self) -> None:
        period = max(0.005, min(self.interval_s, self.warn_s / 4))
        # Sampled from half the warning threshold on: a stall just over it (110 ms) would
        # otherwise end between two looks and be logged "not sampled".
        sample_after = self.warn_s / 2
        logged_stuck = 0
        while not self._stop.wait(period):
            tick, due = self._tick, self._tick_due
            overdue = time.monotonic() - due
            if overdue <= sample_after:
                continue
            sampled = self._sampled
            if sampled is None or sampled[0] != tick:
                # The first sample inside the stall: what was running half-way to warn_s.
                self._sampled = (tick, self._stack())
            if overdue > self.stuck_log_s and logged_stuck != tick:
                logged_stuck = tick
                log.warning(
                    "event loop stuck for %.1f s so far; it is running: %s",
                    overdue,
                    self._stack(),
                )

    def _stack(self) -> str:
        frame = sys._current_frames().get(self._loop_thread)  # the one way to see another thread
        return describe(frame) if frame is not None else "unknown"

    # ---- figures

    def figures(self) -> LagFigures:
        cumulative: list[tuple[float, int]] = []
        total = 0
        for bound, n in zip(BUCKETS, self._counts, strict=True):
            total += n
            cumulative.append((bound, total))
        recent = sorted(self._recent)
        return LagFigures(
            current_s=self.current_s,
            max_s=self.max_s,
            count=self.count,
            sum_s=self.sum_s,
            buckets=tuple(cumulative),
            p50_s=_pick(recent, 0.50),
            p99_s=_pick(recent, 0.99),
            recent_max_s=recent[-1] if recent else 0.0,
            stalls=self.stalls,
        )


def _pick(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(frame: FrameType | None) -> str:
    """`function (file:line) <- caller (file:line) ...`, innermost first, paths shortened."""
    parts: list[str] = []
    while frame is not None and len(parts) < STACK_FRAMES:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib"):
            # The import machinery's own frames (a dozen) say nothing but "an import":
            # one mark for them, so the line that imports still fits in the warning.
            if not parts or parts[-1] != "[import]":
                parts.append("[import]")
        else:
            parts.append(f"{code.co_name} ({_short(code.co_filename)}:{frame.f_lineno})")
        frame = frame.f_back
    return " <- ".join(parts) or "unknown"


def _short(path: str) -> str:
    """The path from the package root: 'ivr/session.py', 'asyncio/events.py'."""
    parts = path.split(os.sep)
    return os.sep.join(parts[-2:])
