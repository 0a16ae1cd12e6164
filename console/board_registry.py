"""The instance registry: one row per gateway instance sharing the database.

Every instance (`tracuu serve`) writes its row every couple of seconds (its
heartbeat, console/board_beat.py) with its live state as JSON: lines seen on
AMI, calls in its IVR (masked callers only), its SMSC binds, its loop lag. Any
instance's board reads every row (console/board_merge.py), so an operator who
opens any console sees the whole system.

Liveness is judged by the reader, not by comparing clocks: `beat` counts the
heartbeats, and a row whose count has not moved for a while (on the reader's
own monotonic clock) is down. Two gateways on two machines whose wall clocks
disagree by a minute still judge each other right. `seen_at` (the writer's
wall clock) is only shown to people, used at first sight of a row, and decides
when an old row is cleaned.

Portable SQL through kernel/db (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from kernel.db import Conn, Database

COMPONENT = "gateway_instances"
STEPS = (
    """
    CREATE TABLE IF NOT EXISTS gateway_instance (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL,
        beat INTEGER NOT NULL,
        stopped INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL
    );
    """,
)

# A down instance stays on the board (an operator must see it went) for a day; one
# stopped on purpose (Ctrl-C, an upgrade) for an hour. Then its row is cleaned.
KEEP_DOWN_S = 24 * 3600.0
KEEP_STOPPED_S = 3600.0


@dataclass(frozen=True)
class Identity:
    """Who this instance is, as the other instances' boards show it."""

    id: str
    host: str
    version: str
    started_at: float  # epoch seconds


def identity(configured: str, http_port: int, started_at: float) -> Identity:
    """`configured` (settings.instance, TRACUU_INSTANCE) if given; else host:port of
    the console, which a restarted gateway keeps (so its row comes back up instead of a
    new one appearing beside a dead one); else host and process id."""
    host = socket.gethostname()
    if configured:
        name = configured
    elif http_port:
        name = f"{host}:{http_port}"
    else:
        name = f"{host}-{os.getpid()}"
    return Identity(name, host, tracuu_version(), started_at)


def tracuu_version() -> str:
    try:
        return version("tracuu")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "?"


@dataclass(frozen=True)
class InstanceRow:
    id: str
    host: str
    version: str
    started_at: float
    seen_at: float
    beat: int
    stopped: bool
    state: dict[str, Any]


async def migrate(db: Database) -> None:
    await db.migrate(COMPONENT, STEPS)


async def write(db: Database, me: Identity, beat: int, state: dict[str, Any], now: float) -> None:
    """This instance's heartbeat: its row, inserted or updated in one statement."""
    payload = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
    await db.execute(
        "INSERT INTO gateway_instance"
        " (id, host, version, started_at, seen_at, beat, stopped, state)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, ?)"
        " ON CONFLICT (id) DO UPDATE SET host = excluded.host, version = excluded.version,"
        " started_at = excluded.started_at, seen_at = excluded.seen_at,"
        " beat = excluded.beat, stopped = 0, state = excluded.state",
        (me.id, me.host, me.version, me.started_at, now, beat, payload),
    )


async def stopped(db: Database, me: Identity, now: float) -> None:
    """A clean stop: the others show this instance stopped, not down, and no live calls."""
    await db.execute(
        "UPDATE gateway_instance SET stopped = 1, seen_at = ?, beat = beat + 1, state = ?"
        " WHERE id = ?",
        (now, "{}", me.id),
    )


async def read_all(db: Database) -> list[InstanceRow]:
    return await db.read(_read_all)


def _read_all(conn: Conn) -> list[InstanceRow]:
    rows = conn.fetchall(
        "SELECT id, host, version, started_at, seen_at, beat, stopped, state"
        " FROM gateway_instance ORDER BY id"
    )
    out = []
    for row in rows:
        try:
            state = json.loads(str(row[7]))
        except ValueError:  # a row half-written by a newer version: shown without state
            state = {}
        out.append(
            InstanceRow(
                id=str(row[0]),
                host=str(row[1]),
                version=str(row[2]),
                started_at=float(row[3]),
                seen_at=float(row[4]),
                beat=int(row[5]),
                stopped=bool(row[6]),
                state=state if isinstance(state, dict) else {},
            )
        )
    return out


async def clean(db: Database, now: float) -> int:
    """Forget instances gone long ago; returns how many rows went."""
    return await db.execute(
        "DELETE FROM gateway_instance WHERE seen_at < ? OR (stopped = 1 AND seen_at < ?)",
        (now - KEEP_DOWN_S, now - KEEP_STOPPED_S),
    )
