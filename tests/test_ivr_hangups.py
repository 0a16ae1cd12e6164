"""1,000 callers hanging up at the same moment: every call's events are stored.

Issue 8: 200 calls hanging up within one second lost a call's events to
`sqlite3.InterfaceError: bad parameter or other API misuse` (aiosqlite). Here
the real FastAGI server serves 1,000 simulated Asterisk calls at once; each
caller waits at a gate in the middle of the menu prompt, then all hang up
together, and the rows in the database are counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.settings import Settings
from ivr.service import build_server
from ivr.store import IvrStore
from kernel.db import Database
from peers.asterisk import SimulatedAsterisk
from tests.peers.lookup import DownLookup

CALLS = 1_000
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


class GatedCaller(SimulatedAsterisk):
    """Hangs up during its third command, but only once every caller has got there."""

    def __init__(self, uniqueid: str, arrived: Callable[[], None], gate: asyncio.Event) -> None:
        super().__init__("", uniqueid=uniqueid, hangup_after_commands=2)
        self._arrived = arrived
        self._gate = gate

    async def _execute(self, command: str) -> bytes:
        if len(self.record.commands) == 3:
            self._arrived()
            await self._gate.wait()
        return await super()._execute(command)


async def test_a_thousand_calls_hanging_up_at_once_are_all_recorded(tmp_path: Path) -> None:
    path = tmp_path / "tracuu.sqlite3"
    store = await IvrStore.open(path)
    settings = Settings(agi={"port": 0, "max_calls": CALLS + 10})
    server = build_server(
        settings, DownLookup(), clock=lambda: NOW, store=store, available=lambda _: True
    )
    await server.start()
    gate = asyncio.Event()
    waiting = 0
    all_there = asyncio.Event()

    def arrived() -> None:
        nonlocal waiting
        waiting += 1
        if waiting == CALLS:
            all_there.set()

    try:
        async with asyncio.timeout(120):
            callers = [GatedCaller(f"1732860000.{n}", arrived, gate) for n in range(CALLS)]
            tasks = []
            for start in range(0, CALLS, 100):  # dialled in waves: the listen backlog
                tasks += [
                    asyncio.create_task(c.call("127.0.0.1", server.port, timeout_s=110))
                    for c in callers[start : start + 100]
                ]
                while waiting < min(start + 100, CALLS):
                    await asyncio.sleep(0.01)
            await all_there.wait()
            gate.set()  # every caller hangs up in this one moment
            records = await asyncio.gather(*tasks)
    finally:
        await server.stop(drain_s=30.0)
        await store.close()
    assert {r.ended for r in records} == {"caller_hangup"}

    db = await Database.open(path)
    try:
        hung_up = await db.fetchval(
            "SELECT count(DISTINCT uniqueid) FROM ivr_call_event WHERE event = 'hung_up'"
        )
        callers_with_events = await db.fetchval(
            "SELECT count(DISTINCT uniqueid) FROM ivr_call_event"
        )
        per_call = await db.fetchall(
            "SELECT uniqueid, count(*) FROM ivr_call_event GROUP BY uniqueid"
        )
    finally:
        await db.close()
    assert hung_up == CALLS
    assert callers_with_events == CALLS
    assert len({n for _, n in per_call}) == 1  # every call stored whole, the same events
    counts = await _counts(path)
    assert counts["hung_up"] == CALLS


async def _counts(path: Path) -> dict[str, int]:
    store = await IvrStore.open(path)
    try:
        return await store.event_counts(NOW - timedelta(days=1))
    finally:
        await store.close()
