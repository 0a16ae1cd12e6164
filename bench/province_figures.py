"""What the province bench reads off the processes: CPU seconds and /metrics.

CPU: /proc/<pid>/stat of a process and all its descendants (PostgreSQL's
backends are children of the postmaster; a gateway may run workers), plus what
exited children left in the parent's cutime/cstime, so a backend that ended
inside the window still counts. Linux only, as the bench is.

/metrics: each gateway's own figures (console/ops.py), read at the start and
the end of the measured window and subtracted, so start-up is not in them.
"""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_seconds(pid: int) -> float:
    """CPU seconds of `pid`, its live descendants, and its reaped children."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 (1-based), here 11-14 (from 3 on).
    own = sum(int(v) for v in fields[11:15]) / TICK
    return own + sum(tree_seconds(child) for child in _children(pid))


class Cpu:
    """CPU seconds each named process tree spent since this was made."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._pids = {name: pid for name, pid in pids.items() if pid is not None}
        self._start = {name: tree_seconds(pid) for name, pid in self._pids.items()}
        self._self = os.times()

    def seconds(self) -> dict[str, float]:
        spent = {name: tree_seconds(pid) - self._start[name] for name, pid in self._pids.items()}
        now = os.times()
        # The bench driver itself: the office's COPY of the wave, and the polling.
        spent["bench driver"] = now.user + now.system - self._self.user - self._self.system
        return spent


def scrape(port: int, token: str) -> dict[str, float]:
    """A gateway's /metrics as {"name{labels}": value}."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match[1] + (match[2] or "")] = float(match[3])
    return samples


def lookups(before: list[dict[str, float]], after: list[dict[str, float]]) -> float:
    """Look-ups every gateway made between the two scrapes (tracuu_lookup_seconds)."""

    def total(samples: dict[str, float]) -> float:
        return sum(v for k, v in samples.items() if k.startswith("tracuu_lookup_seconds_count"))

    return sum(total(a) - total(b) for b, a in zip(before, after, strict=True))


def lag_in_window(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The gateway's event-loop lag between the scrapes: ticks, and ticks over 10/50/100 ms.

    The worst lag is the monitor's since the process started (it keeps no other)."""
    name = "tracuu_event_loop_lag_ticks_seconds"

    def within(samples: dict[str, float], bound: str) -> float:
        return samples.get(f'{name}_bucket{{le="{bound}"}}', 0.0)

    ticks = after.get(f"{name}_count", 0.0) - before.get(f"{name}_count", 0.0)
    figures = {"ticks": ticks, "max_ms": after.get("tracuu_event_loop_lag_max_seconds", 0) * 1000}
    for bound, label in (("0.01", "over_10ms"), ("0.05", "over_50ms"), ("0.1", "over_100ms")):
        figures[label] = ticks - (within(after, bound) - within(before, bound))
    return figures
