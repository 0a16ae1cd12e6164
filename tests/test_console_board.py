"""The live board: one whole frame per tick for every browser, queue depths from the
real outbox tables, and a browser that reconnects is whole again at once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from console.board import CALLS_LISTED, Board, BoardHub, queue_sampler
from ivr.store import IvrStore
from kernel.bus import BusEvent, EventBus
from kernel.db import Database
from sms.outbox import migrate_file
from tests import stores


def _call(n: int, stage: str = "menu") -> BusEvent:
    return BusEvent(
        "ivr_call",
        {
            "uniqueid": f"1764400000.{n}",
            "caller": "091****678",
            "stage": stage,
            "since": f"2026-12-03T10:{n // 60:02d}:{n % 60:02d}+07:00",
            "events": ["menu"],
        },
    )


def test_the_board_lists_the_longest_calls_and_counts_the_rest_by_step() -> None:
    board = Board(line_limit=200)
    for n in range(80):
        board.apply(_call(n, "menu" if n % 2 else "code"))
    board.apply(BusEvent("ivr_call_ended", {"uniqueid": "1764400000.0"}))
    board.apply(BusEvent("lines", {"channels": 81, "in_ivr": 79, "waiting": 2}))
    frame = board.frame("2026-12-03T10:05:00+07:00")

    assert frame["ivr"]["total"] == 79
    assert frame["ivr"]["by_stage"] == {"menu": 40, "code": 39}
    listed = frame["ivr"]["calls"]
    assert len(listed) == CALLS_LISTED
    assert listed[0] == {
        "uniqueid": "1764400000.1",
        "caller": "091****678",
        "stage": "menu",
        "since": "2026-12-03T10:00:01+07:00",
    }
    assert frame["line_limit"] == 200
    assert frame["lines"]["waiting"] == 2


def test_each_smsc_bind_shows_its_state_and_counters() -> None:
    board = Board(line_limit=10)
    for name, state in (("viettel", "throttled"), ("mobifone", "up")):
        board.apply(
            BusEvent(
                "sms",
                {
                    "bind": name,
                    "state": state,
                    "detail": "",
                    "tps": 20,
                    "throttled": 3,
                    "reconnects": 1,
                    "host": "10.0.0.1",
                    "networks": ["viettel"],
                },
            )
        )
    binds = board.frame()["binds"]
    assert [b["bind"] for b in binds] == ["mobifone", "viettel"]
    assert binds[1] == {
        "bind": "viettel",
        "state": "throttled",
        "detail": "",
        "tps": 20,
        "throttled": 3,
        "reconnects": 1,
    }


def test_events_the_board_does_not_show_change_nothing() -> None:
    board = Board(line_limit=10)
    board.apply(BusEvent("prompt_wanted", {"text": "x"}))
    board.apply(BusEvent("sms", {"demo_smsc_port": 2775}))
    assert board.version == 0


async def test_a_slow_browser_keeps_only_the_newest_frame() -> None:
    bus = EventBus()
    hub = BoardHub(bus, Board(line_limit=10))
    async with hub.client() as slow:
        for n in range(5):
            hub.board.apply(_call(n))
            hub.tick()
        assert slow.qsize() == 1
        frame = (await slow.get()).decode()
    assert frame.startswith("event: board\ndata: ")
    assert json.loads(frame.split("data: ", 1)[1])["ivr"]["total"] == 5
    assert hub.clients == 0


async def test_a_browser_that_connects_gets_the_whole_picture_first() -> None:
    bus = EventBus()
    bus.publish("ivr_call", _call(7).data, key="1764400000.7")
    bus.publish("sms", {"link": "up", "detail": ""}, key="link")
    hub = BoardHub(bus, Board(line_limit=10))
    running = asyncio.create_task(hub.run(tick_s=3600))
    try:
        async with asyncio.timeout(60):
            while hub.board.version < 2:
                await asyncio.sleep(0)
        async with hub.client() as frames:
            frame = json.loads((await frames.get()).decode().split("data: ", 1)[1])
    finally:
        running.cancel()
    assert frame["ivr"]["total"] == 1
    assert frame["sms"] == {"link": "up", "detail": ""}


async def test_queue_depths_come_from_the_outbox_and_notification_tables(tmp_path: Path) -> None:
    database = tmp_path / "tracuu.sqlite3"
    await migrate_file(database)
    store = await IvrStore.open(database)
    await store.close()
    now = time.time()
    rows = [
        ("reply", "queued", now),
        ("reply", "submitted", now),
        ("reply", "delivered", now),
        ("reminder", "queued", now - 10),  # due
        ("reminder", "queued", now + 3600),  # held until sending hours
    ]
    stores.executemany(
        database,
        "INSERT INTO sms_message (msisdn, body, kind, state, data_coding, esm_class,"
        " not_before, created_at, updated_at) VALUES ('84912345678', 'x', ?, ?, 0, 0, ?,"
        " 0, 0)",
        rows,
    )
    stores.execute(
        database,
        "INSERT INTO notify_call (id, phone, dossier_code, kind, state, next_at, updated_at)"
        " VALUES ('n1', '+84912345678', 'c', 'result_ready', 'pending', '', '')",
    )
    db = await Database.open(database)
    try:
        depths = await queue_sampler(lambda: db)()
    finally:
        await db.close()
    assert depths == {
        "outbox": {"queued": 3, "submitted": 1},
        "reminders": {"due": 1, "held": 1},
        "notify_calls": 1,
    }


async def test_no_frame_is_built_while_no_browser_watches() -> None:
    bus = EventBus()
    hub = BoardHub(bus, Board(line_limit=10))
    hub.board.apply(_call(1))
    await hub.broadcast()
    assert hub._frame_number == 0  # nothing encoded for nobody
    async with hub.client() as frames:  # a browser connects: the picture as of now
        frame = json.loads((await frames.get()).decode().split("data: ", 1)[1])
    assert frame["ivr"]["total"] == 1
