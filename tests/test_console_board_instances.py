"""Several gateways on one database: any instance's console shows the whole system.

Two consoles (separate buses, separate Database objects) on one store: a call on
B shows on A's live board as a browser receives it (the SSE stream), B's SMSC
bind shows in A's /metrics, and a B that stops or is killed (a real process,
SIGKILL) stays listed, stopped or down. On SQLite (one file) and on PostgreSQL
(one schema: the PostgreSQL pass, tests/postgres.txt)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from console import board_registry
from console.app import create_app
from console.board_instances import Instance
from console.board_registry import Identity
from console.roles import Role
from kernel.bus import EventBus
from kernel.db import Database
from lookup.sqlite import SqliteLookup
from tests.console_auth import cheap_passwords, sign_in

TODAY = date(2026, 12, 3)
BEAT_S = 0.2  # fast heartbeats, so a test waits fractions of a second, not seconds
# ... but a loaded CI machine may hold a heartbeat back that long: "down" only after
# seconds of silence, so a gateway that is up is never seen down by chance.
DOWN_AFTER_S = 3.0
Frame = dict[str, Any]


@pytest.fixture
async def lookup(tmp_path: Path) -> AsyncIterator[SqliteLookup]:
    opened = await SqliteLookup.open(tmp_path / "dossiers.sqlite3")
    yield opened
    await opened.close()


def _instance(name: str) -> Instance:
    me = Identity(name, f"may-{name}", "1.0-test", time.time())
    return Instance(me, ami="", beat_s=BEAT_S, poll_s=BEAT_S, down_after_s=DOWN_AFTER_S)


def _app(lookup: SqliteLookup, bus: EventBus, store: str, name: str) -> web.Application:
    return cheap_passwords(
        create_app(lookup, bus, lambda: TODAY, database=store, instance=_instance(name))
    )


async def _frames_until(response: Any, done: Callable[[Frame], bool]) -> Frame:
    """Board frames of an event stream until one satisfies `done` (heartbeats skipped)."""
    while True:
        block = (await response.content.readuntil(b"\n\n")).decode()
        if block.startswith("event: board\ndata: "):
            frame: Frame = json.loads(block.removeprefix("event: board\ndata: "))
            if done(frame):
                return frame


def _status(frame: Frame, name: str) -> str | None:
    return next((i["status"] for i in frame.get("instances", []) if i["id"] == name), None)


CALL = {
    "uniqueid": "1764750000.12",
    "caller": "091****678",
    "stage": "code",
    "since": "2026-12-03T10:00:05+07:00",
    "events": ["menu"],
}
VIETTEL = {
    "bind": "viettel",
    "state": "throttled",
    "detail": "",
    "tps": 30,
    "throttled": 4,
    "reconnects": 1,
    "host": "10.0.0.9",
}


async def test_a_call_on_gateway_b_shows_on_gateway_as_board(
    aiohttp_client: Any, lookup: SqliteLookup, store_url: str
) -> None:
    bus_a, bus_b = EventBus(), EventBus()
    a: TestClient = await aiohttp_client(_app(lookup, bus_a, store_url, "gw-a"))
    b: TestClient = await aiohttp_client(_app(lookup, bus_b, store_url, "gw-b"))
    await sign_in(a, Role.OPERATOR)
    async with asyncio.timeout(60):
        response = await a.get("/events")
        assert response.status == 200
        bus_b.publish("ivr_call", CALL, key=CALL["uniqueid"])
        bus_b.publish("sms", VIETTEL, key="bind:viettel")
        frame = await _frames_until(response, lambda f: f["ivr"]["total"] == 1)
        assert frame["ivr"]["calls"] == [
            {k: CALL[k] for k in ("uniqueid", "caller", "stage", "since")} | {"instance": "gw-b"}
        ]
        rows = {i["id"]: i for i in frame["instances"]}
        assert rows["gw-a"]["me"] is True
        assert rows["gw-b"]["status"] == "up"
        assert rows["gw-b"]["calls"] == 1
        assert rows["gw-b"]["host"] == "may-gw-b"

        metrics = await (await a.get("/metrics")).text()
        assert 'tracuu_gateways{status="up"} 2.0' in metrics
        assert 'tracuu_gateway_up{gateway="gw-b"} 1.0' in metrics
        assert 'tracuu_gateway_calls_in_progress{gateway="gw-b"} 1.0' in metrics
        assert 'tracuu_gateway_bind_state{bind="viettel",gateway="gw-b",state="throttled"} 1.0' in (
            metrics
        )
        assert 'tracuu_gateway_bind_throttled_total{bind="viettel",gateway="gw-b"} 4.0' in metrics
        # /readyz stays about this instance: B's throttled bind is not A's business there.
        assert "gw-b" not in await (await a.get("/readyz")).text()

        bus_b.publish("ivr_call_ended", {"uniqueid": CALL["uniqueid"]})
        bus_b.forget("ivr_call", CALL["uniqueid"])
        frame = await _frames_until(response, lambda f: f["ivr"]["total"] == 0)

        await b.close()  # a clean stop (Ctrl-C, an upgrade): listed as stopped, not dropped
        frame = await _frames_until(response, lambda f: _status(f, "gw-b") == "stopped")
        response.close()
    assert frame["binds"] == []


# A second gateway in a process of its own: its heartbeat (the real console/board_beat.py)
# with one call in its IVR, until the test kills it.
GATEWAY_B = textwrap.dedent(
    """
    import asyncio, sys, time
    from console import board_registry
    from console.board import Board
    from console.board_beat import Heartbeat, local_state
    from console.board_registry import Identity
    from kernel.bus import BusEvent
    from kernel.db import Database

    async def main(url: str) -> None:
        db = await Database.open(url)
        await board_registry.migrate(db)
        board = Board(line_limit=30)
        board.apply(BusEvent("ivr_call", {"uniqueid": "b.1", "caller": "0912345678",
                                          "stage": "menu", "since": ""}))
        me = Identity("gw-b", "may-b", "1.0-test", time.time())
        beat = Heartbeat(lambda: db, me, lambda: local_state(board, "", None),
                         lambda: board.version, beat_s=float(sys.argv[2]))
        task = asyncio.create_task(beat.run())
        while beat.beats == 0:
            await asyncio.sleep(0.05)
        print("beating", flush=True)
        await task

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_a_killed_gateway_shows_down_and_stays_listed(
    aiohttp_client: Any, lookup: SqliteLookup, store_url: str
) -> None:
    a: TestClient = await aiohttp_client(_app(lookup, EventBus(), store_url, "gw-a"))
    await sign_in(a, Role.OPERATOR)
    gateway_b = await asyncio.create_subprocess_exec(
        sys.executable, "-c", GATEWAY_B, store_url, str(BEAT_S), stdout=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(60):
            assert gateway_b.stdout is not None
            assert await gateway_b.stdout.readline() == b"beating\n"
            response = await a.get("/events")
            frame = await _frames_until(response, lambda f: f["ivr"]["total"] == 1)
            assert _status(frame, "gw-b") == "up"
            assert frame["ivr"]["calls"][0]["caller"] == "091****678"  # masked on the way

            gateway_b.send_signal(signal.SIGKILL)  # no clean stop: its row just stops moving
            await gateway_b.wait()
            frame = await _frames_until(response, lambda f: _status(f, "gw-b") == "down")
            response.close()
    finally:
        if gateway_b.returncode is None:
            gateway_b.kill()
            await gateway_b.wait()
    assert frame["ivr"]["total"] == 0  # its calls are not counted as live any more
    down = next(i for i in frame["instances"] if i["id"] == "gw-b")
    assert down["calls"] is None
    assert down["host"] == "may-b"


async def test_rows_of_gateways_gone_long_ago_are_cleaned(store_url: str) -> None:
    db = await Database.open(store_url)
    try:
        await board_registry.migrate(db)
        now = time.time()
        for name, seen, stopped in (
            ("gone-a-day", now - board_registry.KEEP_DOWN_S - 1, False),
            ("down-an-hour", now - 3600, False),
            ("stopped-long-ago", now - board_registry.KEEP_STOPPED_S - 1, True),
            ("stopped-just-now", now - 5, True),
        ):
            me = Identity(name, "may", "1.0", now - 90_000)
            await board_registry.write(db, me, 1, {"ivr": {"total": 0}}, seen)
            if stopped:
                await board_registry.stopped(db, me, seen)
        assert await board_registry.clean(db, now) == 2
        rows = await board_registry.read_all(db)
    finally:
        await db.close()
    assert [(r.id, r.stopped) for r in rows] == [
        ("down-an-hour", False),
        ("stopped-just-now", True),
    ]
    assert rows[1].state == {}  # a stopped gateway has no live calls
