"""This instance's heartbeat: its live state written to the instance registry.

The state is what this instance's board already folds from the bus
(console/board.py: lines from the AMI monitor, calls from the FastAGI server,
SMSC binds from the SMS pump) plus the event loop's lag. Written through
kernel/db (off the loop) at most once a second while it moves and every
BEAT_S regardless, so the other consoles show a call within about a second and
a silent instance is told from a dead one.

The binds reach the board through one interface whatever runs the SMPP link:
bus topic "sms" with key "bind:<name>" and sms/pump.py's bind_event() fields
(bind, state, detail, tps, throttled, reconnects). A link moved to a worker
process keeps publishing that on the gateway's bus and this needs no change.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from console import board_registry
from console.board import Board
from console.board_registry import Identity
from kernel.db import DB_ERRORS, Database
from kernel.logs import mask_msisdn
from kernel.looplag import LoopLagMonitor

log = logging.getLogger(__name__)
# The database away or too slow: the board carries on with what it knows.
FAILURES: tuple[type[Exception], ...] = (*DB_ERRORS, TimeoutError)

BEAT_S = 2.0  # a write at least this often, moving or not
EAGER_S = 1.0  # while the board moves, a write at most this often
DOWN_AFTER_BEATS = 3  # missed heartbeats before the others show this instance down
CLEAN_EVERY = 60  # heartbeats between two clean-ups of old rows
WRITE_TIMEOUT_S = 5.0

# Callers are masked by ivr/session.py already; a digit run long enough to be a phone
# number is masked again here, because this leaves the process for every console.
_DIGITS = re.compile(r"\d{7,}")


def down_after_s(beat_s: float = BEAT_S) -> float:
    return DOWN_AFTER_BEATS * beat_s


def local_state(board: Board, ami: str, lag: LoopLagMonitor | None) -> dict[str, Any]:
    """What the other instances' boards show of this one (no queue depths: those come
    from the shared database, the same for every instance)."""
    frame = board.frame()
    ivr = frame["ivr"]
    calls = [{**call, "caller": _masked(str(call.get("caller", "")))} for call in ivr["calls"]]
    state: dict[str, Any] = {
        "line_limit": frame["line_limit"],
        "ami": ami,
        "lines": frame["lines"],
        "ivr": {"total": ivr["total"], "by_stage": ivr["by_stage"], "calls": calls},
        "sms": frame["sms"],
        "binds": frame["binds"],
        "lag": None,
    }
    if lag is not None:
        figures = lag.figures()
        state["lag"] = {
            "current_ms": round(figures.current_s * 1000, 1),
            "p99_ms": round(figures.p99_s * 1000, 1),
            "max_ms": round(figures.max_s * 1000, 1),
        }
    return state


def _masked(caller: str) -> str:
    return _DIGITS.sub(lambda m: mask_msisdn(m.group(0)), caller)


class Heartbeat:
    """Writes this instance's row until cancelled; `stop()` marks a clean stop."""

    def __init__(
        self,
        db: Callable[[], Database],
        me: Identity,
        state: Callable[[], dict[str, Any]],
        version: Callable[[], int],
        *,
        beat_s: float = BEAT_S,
        eager_s: float = EAGER_S,
    ) -> None:
        self.db, self.me, self.state, self.version = db, me, state, version
        self.beat_s, self.eager_s = beat_s, eager_s
        self.beats = 0  # written so far
        self._failing = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        written_at, written_version = float("-inf"), -1
        while True:
            moved = self.version() != written_version
            if moved or loop.time() - written_at >= self.beat_s:
                written_version = self.version()
                await self._write()
                written_at = loop.time()
            await asyncio.sleep(min(self.eager_s, self.beat_s))

    async def _write(self) -> None:
        beat = self.beats + 1
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await board_registry.write(self.db(), self.me, beat, self.state(), time.time())
                if beat % CLEAN_EVERY == 1:
                    await board_registry.clean(self.db(), time.time())
        except FAILURES as exc:
            # The database is away (restarting?): the board says so by other means;
            # one warning per outage, not one a second.
            if not self._failing:
                log.warning("instance heartbeat not written: %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("instance heartbeat written again")
        self._failing = False
        self.beats = beat

    async def stop(self) -> None:
        """A clean stop: the other boards say 'stopped', not 'down'."""
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await board_registry.stopped(self.db(), self.me, time.time())
        except FAILURES as exc:
            log.warning("instance stop not recorded: %s", exc)
