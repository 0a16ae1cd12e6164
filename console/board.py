"""The live board: what the lines, the IVR, the SMS link and the queues are doing now.

One `BoardHub` per console folds bus events into a `Board` and, at most once a
tick, encodes ONE full frame that every connected browser gets. So the cost of
the board does not grow with events times browsers: 1,000 calls stepping through
the menu and 200 open tabs cost one JSON encoding a tick and 200 small writes.
Every frame is the whole picture, so a browser that reconnects (EventSource does
it by itself, e.g. after a gateway restart) is whole again with its first frame.

A slow browser never holds memory or slows a call: each keeps only the newest
frame, the older ones are dropped. The queue depths (outbox by state, reminders,
notification calls) are sampled off the loop every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Protocol

from aiohttp import web

from kernel.bus import BusEvent, EventBus
from kernel.db import Conn, Database, table_names

log = logging.getLogger(__name__)

TICK_S = 1.0  # the board is for eyes: a frame a second is live enough
HEARTBEAT_S = 15.0  # keeps proxies from closing an idle stream
RETRY_MS = 2000  # how soon a browser reconnects after the stream drops
CALLS_LISTED = 50  # the longest-running calls; the rest are counted by step
SAMPLE_S = 5.0  # queue depths from the database
BROADCAST_SLICE = 20  # browsers woken per loop iteration


@dataclass
class Board:
    """Pure state of the board, updated from bus events (no I/O, no clock)."""

    line_limit: int
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: dict[str, Any] | None = None  # None: no AMI snapshot yet
    sms: dict[str, Any] = field(default_factory=dict)
    binds: dict[str, dict[str, Any]] = field(default_factory=dict)  # one per SMSC bind
    queues: dict[str, Any] = field(default_factory=dict)
    version: int = 0  # bumped on every change: a tick sends a frame only if it moved

    def apply(self, event: BusEvent) -> None:
        data = event.data
        match event.topic:
            case "ivr_call":
                self.calls[str(data["uniqueid"])] = {
                    "uniqueid": str(data["uniqueid"]),
                    "caller": str(data.get("caller", "")),
                    "stage": str(data.get("stage", "")),
                    "since": str(data.get("since", "")),
                }
            case "ivr_call_ended":
                self.calls.pop(str(data.get("uniqueid", "")), None)
            case "lines":
                self.lines = dict(data)
            case "sms" if "link" in data:
                self.sms = {"link": data["link"], "detail": data.get("detail", "")}
            case "sms" if "bind" in data:  # sms/pump.py bind_event: state and counters
                self.binds[str(data["bind"])] = {
                    k: data.get(k)
                    for k in ("bind", "state", "detail", "tps", "throttled", "reconnects")
                }
            case "board_queues":
                self.queues = dict(data)
            case _:
                return
        self.version += 1

    def frame(self, now: str = "") -> dict[str, Any]:
        """The whole picture; `now` (ISO 8601, office zone) lets browsers count durations
        on the server's clock, not their own."""
        # Answer times are ISO 8601 with the same offset, so they sort as text.
        oldest = sorted(self.calls.values(), key=lambda c: (c["since"] or "~", c["uniqueid"]))
        return {
            "now": now,
            "line_limit": self.line_limit,
            "lines": self.lines,
            "ivr": {
                "total": len(self.calls),
                "by_stage": dict(Counter(c["stage"] for c in self.calls.values())),
                "calls": oldest[:CALLS_LISTED],
            },
            "sms": self.sms,
            "binds": [self.binds[name] for name in sorted(self.binds)],
            "queues": self.queues,
        }


def encode(frame: Mapping[str, Any]) -> bytes:
    payload = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    return f"event: board\ndata: {payload}\n\n".encode()


Sampler = Callable[[], Awaitable[dict[str, Any]]]


class Wider(Protocol):
    """The rest of the system beside this instance (console/board_instances.py): other
    gateway instances sharing the database, merged into this board's frames."""

    def version(self) -> int:
        """Moves whenever what the other instances show changed."""

    async def run(self) -> None:
        """Follows the other instances until cancelled."""

    def frame(self, board: Board, now: str) -> dict[str, Any]:
        """This instance's board and the others', as one frame."""


class BoardHub:
    """Folds the bus into the board and hands every browser the newest frame."""

    def __init__(
        self,
        bus: EventBus,
        board: Board,
        sampler: Sampler | None = None,
        zone: tzinfo | None = None,
        wider: Wider | None = None,
    ) -> None:
        self.bus, self.board, self.sampler, self.zone = bus, board, sampler, zone
        self.wider = wider
        self._clients: set[asyncio.Queue[bytes]] = set()
        self._frame = encode(self.current())
        self._sent_version = self._version()
        self._frame_number = 0  # encodings so far
        self._delivered = 0  # the frame number every browser has been offered

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def run(self, tick_s: float = TICK_S) -> None:
        async with self.bus.subscribe() as events, asyncio.TaskGroup() as tasks:
            # The bus keeps the newest event per key: start from what is live now.
            for event in list(self.bus.latest.values()):
                self.board.apply(event)
            tasks.create_task(self._fold(events))
            if self.sampler is not None:
                tasks.create_task(self._sample(self.sampler))
            if self.wider is not None:
                tasks.create_task(self.wider.run())
            while True:
                await asyncio.sleep(tick_s)
                await self.broadcast()

    async def _fold(self, events: Any) -> None:
        async for event in events:
            self.board.apply(event)

    async def _sample(self, sampler: Sampler) -> None:
        while True:
            try:
                queues = await sampler()
            except Exception:  # a locked or missing table must not stop the board
                log.exception("board: queue depths not read")
            else:
                self.bus.publish("board_queues", queues, key="board")
            await asyncio.sleep(SAMPLE_S)

    def _version(self) -> tuple[int, int]:
        return self.board.version, (self.wider.version() if self.wider is not None else 0)

    def current(self) -> dict[str, Any]:
        """The frame as of now (also what /metrics reads of the other instances)."""
        now = datetime.now(self.zone).astimezone(self.zone).isoformat(timespec="seconds")
        if self.wider is None:
            return self.board.frame(now)
        return self.wider.frame(self.board, now)

    def _refresh(self) -> None:
        """Encode the frame again if the board (or another instance) moved since the last
        encoding."""
        version = self._version()
        if version == self._sent_version:
            return
        self._sent_version = version
        self._frame = encode(self.current())
        self._frame_number += 1

    def tick(self) -> None:
        """The newest frame to every browser that has not had it, all at once."""
        self._refresh()
        if self._delivered == self._frame_number:
            return
        self._delivered = self._frame_number
        for queue in self._clients:
            _offer(queue, self._frame)

    async def broadcast(self) -> None:
        """tick(), a slice of browsers at a time: each browser's write is a task that
        wakes on its frame, and 200 of them in one loop iteration would hold every
        call's next command for milliseconds. Between slices the calls go first."""
        if not self._clients:
            # Nobody watching: no frame to build (a browser that connects gets one built
            # then, in client()). Most of the day no console is open.
            return
        self._refresh()
        if self._delivered == self._frame_number:
            return
        self._delivered = self._frame_number
        frame = self._frame
        for n, queue in enumerate(tuple(self._clients), 1):
            _offer(queue, frame)
            if n % BROADCAST_SLICE == 0:
                await asyncio.sleep(0)

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[asyncio.Queue[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
        self._refresh()  # the whole picture as of now; the others get it at the next tick
        queue.put_nowait(self._frame)  # the whole picture first
        self._clients.add(queue)
        try:
            yield queue
        finally:
            self._clients.discard(queue)


def _offer(queue: asyncio.Queue[bytes], frame: bytes) -> None:
    if queue.full():
        queue.get_nowait()  # this browser is behind: it only needs the newest
    queue.put_nowait(frame)


async def stream(request: web.Request, hub: BoardHub) -> web.StreamResponse:
    """Server-sent events: the board's frames until the browser or the gateway goes."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    try:
        async with hub.client() as frames:
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT_S):
                        frame = await frames.get()
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")
                    continue
                await response.write(frame)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the tab closed, or the gateway is stopping
    return response


def queue_sampler(db: Callable[[], Database]) -> Sampler:
    """Outbox depth by state, reminders waiting (due / held), notification calls pending."""

    async def sample() -> dict[str, Any]:
        return await db().read(lambda conn: _depths(conn, time.time()))

    return sample


def _depths(conn: Conn, now: float) -> dict[str, Any]:
    tables = table_names(conn)
    out: dict[str, Any] = {}
    if "sms_message" in tables:
        rows = conn.fetchall(
            "SELECT state, count(*) FROM sms_message"
            " WHERE state IN ('queued', 'submitted') GROUP BY state"
        )
        out["outbox"] = {str(s): int(n) for s, n in rows}
        row = conn.fetchone(
            "SELECT sum(CASE WHEN not_before <= ? THEN 1 ELSE 0 END),"
            " sum(CASE WHEN not_before > ? THEN 1 ELSE 0 END) FROM sms_message"
            " WHERE kind = 'reminder' AND state = 'queued'",
            (now, now),
        )
        due, held = (row[0], row[1]) if row is not None else (0, 0)
        out["reminders"] = {"due": int(due or 0), "held": int(held or 0)}
    if "notify_call" in tables:
        out["notify_calls"] = int(
            conn.fetchval(
                "SELECT count(*) FROM notify_call WHERE state IN ('pending', 'originating')"
            )
            or 0
        )
    return out
