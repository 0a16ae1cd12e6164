"""The other gateway instances on this board: the registry read about once a second.

Polling rather than LISTEN/NOTIFY: one small read a second per open console costs
nothing next to a heartbeat that is itself written at most once a second, it
works the same on SQLite (one instance, its own row) and PostgreSQL, and it keeps
no extra connection that a PostgreSQL restart would have to bring back. A call on
another instance shows here within its heartbeat (<= 1 s while its board moves)
plus one poll (<= 1 s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from console.board import Board
from console.board_beat import BEAT_S, down_after_s, local_state
from console.board_merge import Liveness, Seen, merge
from console.board_registry import Identity, InstanceRow
from kernel.db import DB_ERRORS
from kernel.looplag import LoopLagMonitor

log = logging.getLogger(__name__)
# The database away or too slow: the board carries on with what it knows.
FAILURES: tuple[type[Exception], ...] = (*DB_ERRORS, TimeoutError)

POLL_S = 1.0
READ_TIMEOUT_S = 5.0

Reader = Callable[[], Awaitable[list[InstanceRow]]]


@dataclass(frozen=True)
class Instance:
    """What the composition root tells the console about this gateway instance."""

    me: Identity
    ami: str = ""  # the Asterisk its AMI monitor watches (host:port), "" for none
    beat_s: float = BEAT_S
    poll_s: float = POLL_S
    # Silence before another instance is shown down; None: DOWN_AFTER_BEATS heartbeats.
    down_after_s: float | None = None


class SystemView:
    """console.board.Wider for a gateway that shares its database with others."""

    def __init__(
        self,
        me: Identity,
        read: Reader,
        *,
        ami: str = "",
        lag: LoopLagMonitor | None = None,
        zone: tzinfo | None = None,
        poll_s: float = POLL_S,
        down_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.me, self.read, self.ami, self.lag, self.zone = me, read, ami, lag, zone
        self.poll_s, self.clock = poll_s, clock
        self.liveness = Liveness(down_after_s() if down_after is None else down_after)
        self.others: list[Seen] = []
        self._rows: list[InstanceRow] = []
        self._mine_seen = self._name_taken = False
        self._version = 0
        self._failing = False

    def version(self) -> int:
        return self._version

    def local(self, board: Board) -> dict[str, Any]:
        """This instance's state as the registry carries it (console/board_beat.py)."""
        return local_state(board, self.ami, self.lag)

    async def run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self.poll_s)

    async def poll(self) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                rows = await self.read()
        except FAILURES as exc:
            if not self._failing:
                log.warning("board: other instances not read: %s", exc)
            self._failing = True
            # What was last read, judged again: while the database is away no heartbeat
            # is seen to move, so the others turn "down" rather than stay frozen "up".
            rows = self._rows
        else:
            self._failing = False
            self._rows = rows
        self.judge(rows, self.clock(), time.time())

    def judge(self, rows: list[InstanceRow], now_mono: float, now_wall: float) -> None:
        self._check_name(rows)
        others = [
            Seen(row, self.liveness.status(row, now_mono, now_wall))
            for row in rows
            if row.id != self.me.id
        ]
        self.liveness.forget_except(row.id for row in rows)
        if others != self.others:
            self.others = others
            self._version += 1

    def _check_name(self, rows: list[InstanceRow]) -> None:
        """Two gateways given one name overwrite each other's row, and each board shows
        one gateway where there are two: say so once, in the log."""
        mine = next((row for row in rows if row.id == self.me.id), None)
        if mine is None:
            return
        if mine.started_at == self.me.started_at and mine.host == self.me.host:
            self._mine_seen = True  # our own heartbeat has landed
        elif self._mine_seen and not self._name_taken:
            self._name_taken = True
            log.warning(
                "another gateway (on %s) writes its heartbeat as %r too: give each gateway"
                " its own TRACUU_INSTANCE",
                mine.host,
                self.me.id,
            )

    def frame(self, board: Board, now: str) -> dict[str, Any]:
        return merge(
            self.local(board),
            self.me,
            self.others,
            queues=board.queues,
            now=now,
            zone=self.zone,
            own_seen=time.time(),
        )
