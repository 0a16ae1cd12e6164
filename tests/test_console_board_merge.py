"""One board for several gateway instances: what is added up, what counts once, who is
down (pure: the instances' rows and the clocks are given)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from console.board import Board
from console.board_beat import down_after_s, local_state
from console.board_merge import Liveness, Seen, merge
from console.board_registry import Identity, InstanceRow
from kernel.bus import BusEvent

pytestmark = pytest.mark.no_store

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
SEEN = datetime(2026, 12, 3, 9, 55, tzinfo=ZONE).timestamp()
ME = Identity("gw-a", "may-a", "1.2.0", 1_764_730_000.0)


def _state(
    calls: int,
    *,
    ami: str = "10.0.0.5:5038",
    channels: int = 0,
    stage: str = "menu",
    binds: list[dict[str, Any]] | None = None,
    link: str = "up",
) -> dict[str, Any]:
    listed = [
        {
            "uniqueid": f"b.{n}",
            "caller": "091****678",
            "stage": stage,
            "since": f"2026-12-03T10:00:{n:02d}+07:00",
        }
        for n in range(calls)
    ]
    return {
        "line_limit": 100,
        "ami": ami,
        "lines": {
            "channels": channels,
            "in_ivr": calls,
            "waiting": 1,
            "with_officer": 0,
            "connected": True,
        },
        "ivr": {"total": calls, "by_stage": {stage: calls} if calls else {}, "calls": listed},
        "sms": {"link": link, "detail": ""},
        "binds": binds or [],
        "lag": {"current_ms": 0.4, "p99_ms": 2.5, "max_ms": 30.0},
    }


def _row(
    id: str,
    state: dict[str, Any],
    *,
    beat: int = 1,
    seen_at: float = SEEN,
    stopped: bool = False,
) -> InstanceRow:
    return InstanceRow(id, f"host-{id}", "1.2.0", 1_764_730_000.0, seen_at, beat, stopped, state)


def _merge(own: dict[str, Any], others: list[Seen]) -> dict[str, Any]:
    return merge(
        own,
        ME,
        others,
        queues={"outbox": {"queued": 2}},
        now="2026-12-03T10:01:00+07:00",
        zone=ZONE,
        own_seen=SEEN,
    )


def test_calls_add_up_across_gateways_and_each_says_where_it_is() -> None:
    frame = _merge(_state(2, stage="code"), [Seen(_row("gw-b", _state(3)), "up")])
    assert frame["ivr"]["total"] == 5
    assert frame["ivr"]["by_stage"] == {"code": 2, "menu": 3}
    assert [c["instance"] for c in frame["ivr"]["calls"]] == [
        "gw-a",
        "gw-b",
        "gw-a",
        "gw-b",
        "gw-b",
    ]
    assert frame["line_limit"] == 200
    assert frame["queues"] == {"outbox": {"queued": 2}}  # the shared database's, once
    rows = {i["id"]: i for i in frame["instances"]}
    assert rows["gw-a"]["me"] is True
    assert rows["gw-a"]["calls"] == 2
    assert rows["gw-b"]["calls"] == 3
    assert rows["gw-b"]["status"] == "up"
    assert rows["gw-b"]["seen"] == "2026-12-03T09:55:00+07:00"  # the office's clock


def test_one_asterisk_watched_by_two_gateways_counts_once() -> None:
    shared = _merge(_state(1, channels=7), [Seen(_row("gw-b", _state(1, channels=7)), "up")])
    assert shared["lines"]["channels"] == 7
    assert shared["lines"]["servers"] == 1
    two = _merge(
        _state(1, channels=7),
        [Seen(_row("gw-b", _state(1, ami="10.0.0.6:5038", channels=4)), "up")],
    )
    assert two["lines"]["channels"] == 11
    assert two["lines"]["servers"] == 2


def test_a_gateway_that_is_down_is_listed_but_counts_in_no_total() -> None:
    viettel = {
        "bind": "viettel",
        "state": "up",
        "detail": "",
        "tps": 30,
        "throttled": 2,
        "reconnects": 0,
    }
    frame = _merge(
        _state(1, binds=[viettel]),
        [
            Seen(_row("gw-b", _state(4, binds=[viettel])), "down"),
            Seen(_row("gw-c", {}, stopped=True), "stopped"),
        ],
    )
    assert frame["ivr"]["total"] == 1  # gw-b's four calls are not live any more
    assert [b["instance"] for b in frame["binds"]] == ["gw-a"]
    rows = {i["id"]: i for i in frame["instances"]}
    assert [rows[i]["status"] for i in ("gw-a", "gw-b", "gw-c")] == ["up", "down", "stopped"]
    assert rows["gw-b"]["calls"] is None  # not shown as if it were now
    assert rows["gw-b"]["lag"] is None


def test_the_sms_line_says_how_many_gateways_are_bound() -> None:
    frame = _merge(_state(0), [Seen(_row("gw-b", _state(0, link="down")), "up")])
    assert frame["sms"] == {"link": "up", "detail": "1/2 máy chủ đã kết nối"}
    alone = merge(_state(0, link="down"), None, [], queues={}, now="", zone=ZONE)
    assert alone["sms"] == {"link": "down", "detail": ""}
    assert alone["instances"] == []  # no registry: the board of one gateway, as before


def test_down_after_three_missed_heartbeats_on_the_readers_clock() -> None:
    live = Liveness(down_after_s(2.0))
    wall = 1_764_730_100.0
    # Seen beating: up however far the writer's wall clock is from ours.
    assert live.status(_row("gw-b", {}, beat=1, seen_at=wall - 500), 100.0, wall) == "down"
    assert live.status(_row("gw-b", {}, beat=2, seen_at=wall - 500), 101.0, wall) == "up"
    assert live.status(_row("gw-b", {}, beat=2, seen_at=wall - 500), 107.0, wall) == "up"
    assert live.status(_row("gw-b", {}, beat=2, seen_at=wall - 500), 107.1, wall) == "down"
    assert live.status(_row("gw-b", {}, beat=3, seen_at=wall - 500), 108.0, wall) == "up"
    # A fresh row at first sight is up; one that stopped on purpose says so.
    assert live.status(_row("gw-c", {}, beat=9, seen_at=wall - 1), 108.0, wall) == "up"
    assert live.status(_row("gw-c", {}, beat=10, stopped=True), 109.0, wall) == "stopped"


def test_this_gateways_state_carries_masked_callers_only() -> None:
    board = Board(line_limit=50)
    board.apply(
        BusEvent(
            "ivr_call",
            {"uniqueid": "1764400000.1", "caller": "0912345678", "stage": "menu", "since": ""},
        )
    )
    board.apply(
        BusEvent(
            "sms",
            {
                "bind": "viettel",
                "state": "throttled",
                "detail": "",
                "tps": 30,
                "throttled": 4,
                "reconnects": 1,
            },
        )
    )
    state = local_state(board, "10.0.0.5:5038", None)
    assert state["ivr"]["calls"][0]["caller"] == "091****678"
    assert state["binds"] == [
        {
            "bind": "viettel",
            "state": "throttled",
            "detail": "",
            "tps": 30,
            "throttled": 4,
            "reconnects": 1,
        }
    ]
    assert "queues" not in state  # the shared database's, read by every board itself


async def test_while_the_registry_cannot_be_read_the_others_turn_down_not_frozen() -> None:
    from console.board_instances import SystemView
    from kernel.db import DatabaseError

    rows = [_row("gw-b", _state(2), beat=1, seen_at=time.time())]

    async def read() -> list[InstanceRow]:
        if not rows:
            raise DatabaseError("the server is restarting")
        return list(rows)

    now = [100.0]
    view = SystemView(ME, read, down_after=6.0, clock=lambda: now[0])
    await view.poll()
    assert [(s.row.id, s.status) for s in view.others] == [("gw-b", "up")]
    rows.clear()  # the database goes away
    now[0] += 3
    await view.poll()
    assert [(s.row.id, s.status) for s in view.others] == [("gw-b", "up")]
    now[0] += 4  # 7 s without seeing its heartbeat move
    await view.poll()
    assert [(s.row.id, s.status) for s in view.others] == [("gw-b", "down")]


def test_two_gateways_given_one_name_are_told_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    from console.board_instances import SystemView

    async def read() -> list[InstanceRow]:
        return []

    view = SystemView(ME, read)
    ours = InstanceRow(ME.id, ME.host, ME.version, ME.started_at, SEEN, 1, False, {})
    theirs = InstanceRow(ME.id, "may-khac", ME.version, ME.started_at + 5, SEEN, 1, False, {})
    view.judge([theirs], 1.0, SEEN)  # a row of an earlier run, before our first heartbeat
    assert "TRACUU_INSTANCE" not in caplog.text
    view.judge([ours], 2.0, SEEN)
    view.judge([theirs], 3.0, SEEN)
    assert "another gateway (on may-khac) writes its heartbeat as 'gw-a' too" in caplog.text
