"""One board for the whole system: this instance's live state and every other
instance's heartbeat (console/board_registry.py) merged into one frame.

Pure: no I/O, clocks passed in. The frame keeps the single-instance shape the
page already draws (lines, ivr, sms, binds, queues) and adds `instances`, one
row per gateway with its status, so a page that knew one gateway still works.

What is added up, and why:
- calls in the IVR: each call is on exactly one gateway's FastAGI server, so the
  totals are sums over the instances that are up;
- Asterisk lines: several gateways may watch the same Asterisk over AMI, so each
  Asterisk server (its AMI address) counts once, from the freshest view of it;
- binds: each gateway holds its own SMPP sessions, so every (gateway, bind) is a row.
A gateway that is down counts in none of the totals (what it last said is stale);
its row stays, saying it is down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from console.board_registry import Identity, InstanceRow

CALLS_LISTED = 50  # as console/board.py: the longest-running calls, the rest counted
LINE_FIGURES = ("channels", "in_ivr", "waiting", "with_officer")

UP, DOWN, STOPPED = "up", "down", "stopped"


class Liveness:
    """Whether each other instance is up, judged on this instance's monotonic clock:
    down once its heartbeat count has not moved for `down_after_s`."""

    def __init__(self, down_after_s: float) -> None:
        self.down_after_s = down_after_s
        # id -> ((started_at, beat) last seen, monotonic time it last moved)
        self._moved: dict[str, tuple[tuple[float, int], float]] = {}

    def status(self, row: InstanceRow, now_mono: float, now_wall: float) -> str:
        key = (row.started_at, row.beat)
        known = self._moved.get(row.id)
        if known is None:
            # First sight: the writer's wall clock is all there is to go by.
            self._moved[row.id] = (key, now_mono - max(0.0, now_wall - row.seen_at))
        elif known[0] != key:
            self._moved[row.id] = (key, now_mono)
        if row.stopped:
            return STOPPED
        return DOWN if now_mono - self._moved[row.id][1] > self.down_after_s else UP

    def forget_except(self, ids: Iterable[str]) -> None:
        keep = set(ids)
        for gone in [i for i in self._moved if i not in keep]:
            del self._moved[gone]


@dataclass(frozen=True)
class Seen:
    """Another instance's row as this board judged it."""

    row: InstanceRow
    status: str


def merge(
    own: dict[str, Any],
    me: Identity | None,
    others: list[Seen],
    *,
    queues: dict[str, Any],
    now: str,
    zone: tzinfo | None,
    own_seen: float = 0.0,
) -> dict[str, Any]:
    """The frame every browser gets. `own`: this instance's state (board_beat.local_state);
    `me`: None when there is no registry (one gateway, nothing to merge)."""
    instances = []
    if me is not None:
        mine = InstanceRow(me.id, me.host, me.version, me.started_at, own_seen, 0, False, own)
        instances.append({**_row(mine, UP, zone), "me": True})
    states: list[tuple[str, dict[str, Any]]] = [(me.id if me else "", own)]
    for seen in others:
        row = seen.row
        if me is not None and row.id == me.id:
            continue  # our own row is older than what we hold
        instances.append(_row(row, seen.status, zone))
        if seen.status == UP:
            states.append((row.id, row.state))
    calls = [
        {**call, "instance": name}
        for name, state in states
        for call in state.get("ivr", {}).get("calls", [])
    ]
    calls.sort(key=lambda c: (c.get("since") or "~", str(c.get("uniqueid", ""))))
    by_stage: Counter[str] = Counter()
    for _, state in states:
        by_stage.update(
            {str(k): int(v) for k, v in state.get("ivr", {}).get("by_stage", {}).items()}
        )
    binds = [
        {**bind, "instance": name} for name, state in states for bind in state.get("binds", [])
    ]
    return {
        "now": now,
        "line_limit": sum(int(state.get("line_limit", 0) or 0) for _, state in states),
        "lines": _lines(states),
        "ivr": {
            "total": sum(int(state.get("ivr", {}).get("total", 0)) for _, state in states),
            "by_stage": dict(by_stage),
            "calls": calls[:CALLS_LISTED],
        },
        "sms": _link([state.get("sms") or {} for _, state in states]),
        "binds": binds,
        "queues": queues,
        "instances": instances,
    }


def _row(row: InstanceRow, status: str, zone: tzinfo | None) -> dict[str, Any]:
    state, seen_at, live = row.state, row.seen_at, status == UP
    binds = state.get("binds", []) if live else []
    return {
        "id": row.id,
        "host": row.host,
        "version": row.version,
        "status": status,
        "me": False,
        "started": _iso(row.started_at, zone),
        "seen": _iso(seen_at, zone) if seen_at else "",
        "seen_at": seen_at,  # epoch seconds, for /metrics
        # What a gateway that is not up last said is stale: not shown as now.
        "calls": int(state.get("ivr", {}).get("total", 0)) if live else None,
        "line_limit": int(state.get("line_limit", 0) or 0),
        "lines": state.get("lines") if live else None,
        "ami": str(state.get("ami", "")),
        "lag": state.get("lag") if live else None,
        "link": (state.get("sms") or {}).get("link") if live else None,
        "binds_up": sum(1 for b in binds if b.get("state") == "up"),
        "binds": len(binds),
    }


def _lines(states: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    """Asterisk's channels, each AMI server once (the first seen: this instance's own
    view comes first, the freshest there is)."""
    per_server: dict[str, dict[str, Any]] = {}
    for name, state in states:
        lines = state.get("lines")
        if not isinstance(lines, dict):
            continue
        server = str(state.get("ami") or f"instance:{name}")
        per_server.setdefault(server, lines)
    if not per_server:
        return None
    merged: dict[str, Any] = {
        key: sum(int(lines.get(key, 0) or 0) for lines in per_server.values())
        for key in LINE_FIGURES
    }
    merged["connected"] = any(lines.get("connected") is True for lines in per_server.values())
    merged["servers"] = len(per_server)
    return merged


def _link(links: list[dict[str, Any]]) -> dict[str, Any]:
    """The SMS side in one line: up while every gateway with a link is bound."""
    known = [link for link in links if link.get("link")]
    if len(known) <= 1:
        return dict(known[0]) if known else {}
    up = sum(1 for link in known if link["link"] == "up")
    if up == len(known):
        return {"link": "up", "detail": ""}
    if up:
        return {"link": "up", "detail": f"{up}/{len(known)} máy chủ đã kết nối"}
    first = known[0]
    return {"link": first["link"], "detail": first.get("detail", "")}


def _iso(epoch: float, zone: tzinfo | None) -> str:
    return datetime.fromtimestamp(epoch, zone).astimezone(zone).isoformat(timespec="seconds")
