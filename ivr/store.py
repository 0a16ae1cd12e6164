"""The voice side's own tables in the shared SQLite file: call events and outbound calls.

Owns two things that must outlive a restart or an AMI reconnect:
- ivr_call_event: what happened on each call (menu entered, code keyed, found,
  status spoken, transferred, hung up), for statistics;
- notify_call: one row per outbound notification call, the truth about whether
  it may be originated. A row is marked 'originating' (committed) *before* the
  Originate is sent, so a reconnect or a restart can never send it twice.
Schema steps go through kernel.migrate (component "ivr"). Refuses: any AMI or
AGI I/O.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiosqlite

from kernel.migrate import migrate

COMPONENT = "ivr"
STEPS = (
    """
    CREATE TABLE ivr_call_event (
        id INTEGER PRIMARY KEY,
        uniqueid TEXT NOT NULL,
        at TEXT NOT NULL,            -- UTC ISO 8601
        event TEXT NOT NULL          -- menu, code_keyed, not_found, status_spoken, ...
    );
    CREATE INDEX ivr_call_event_at ON ivr_call_event (at);
    CREATE TABLE notify_call (
        id TEXT PRIMARY KEY,         -- the notification id, also in the AGI URL
        phone TEXT NOT NULL,         -- E.164
        dossier_code TEXT NOT NULL,
        kind TEXT NOT NULL,          -- result_ready | appointment_tomorrow
        state TEXT NOT NULL CHECK (state IN
            ('pending', 'originating', 'answered', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at TEXT NOT NULL,       -- UTC ISO 8601: not before
        action_id TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    );
    CREATE INDEX notify_call_due ON notify_call (state, next_at);
    """,
)

ORIGINATE_STATES = ("pending", "originating")


@dataclass(frozen=True, slots=True)
class NotifyCall:
    id: str
    phone: str
    dossier_code: str
    kind: str
    state: str
    attempts: int
    next_at: datetime
    action_id: str = ""
    outcome: str = ""
    updated_at: datetime = datetime.min


class IvrStore:
    """One autocommit connection; every write is its own transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path | str) -> IvrStore:
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            await conn.execute("PRAGMA busy_timeout = 5000")
            await conn.execute("PRAGMA journal_mode = WAL")
            # As kernel/db.py: WAL is durable at checkpoints and safe on a crash. FULL cost
            # an fsync per call's events, 0.3 ms of CPU and 3 ms of the store's thread each
            # (bench/agi_bench.py: 63 -> 38 us of server CPU per AGI command).
            await conn.execute("PRAGMA synchronous = NORMAL")
            await migrate(conn, COMPONENT, STEPS)
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def close(self) -> None:
        await self._conn.close()

    # ---- call events

    async def record_events(self, uniqueid: str, at: datetime, events: Iterable[str]) -> None:
        rows = [(uniqueid, at.isoformat(), e) for e in events]
        if rows:
            await self._conn.executemany(
                "INSERT INTO ivr_call_event (uniqueid, at, event) VALUES (?, ?, ?)", rows
            )

    async def event_counts(self, since: datetime) -> dict[str, int]:
        async with self._conn.execute(
            "SELECT event, count(*) FROM ivr_call_event WHERE at >= ? GROUP BY event",
            (since.isoformat(),),
        ) as cursor:
            return {str(e): int(n) for e, n in await cursor.fetchall()}

    # ---- outbound notification calls

    async def add_notification(
        self, id: str, phone: str, dossier_code: str, kind: str, now: datetime
    ) -> bool:
        """Queue a call; False when this notification id is already known (never twice)."""
        try:
            await self._conn.execute(
                "INSERT INTO notify_call (id, phone, dossier_code, kind, state, next_at,"
                " updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                (id, phone, dossier_code, kind, now.isoformat(), now.isoformat()),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    async def due(self, now: datetime, limit: int) -> list[NotifyCall]:
        async with self._conn.execute(
            f"SELECT {_FIELDS} FROM notify_call WHERE state = 'pending' AND next_at <= ?"
            " ORDER BY next_at LIMIT ?",
            (now.isoformat(), limit),
        ) as cursor:
            return [_call(row) for row in await cursor.fetchall()]

    async def in_state(self, state: str) -> list[NotifyCall]:
        async with self._conn.execute(
            f"SELECT {_FIELDS} FROM notify_call WHERE state = ?", (state,)
        ) as cursor:
            return [_call(row) for row in await cursor.fetchall()]

    async def get(self, id: str) -> NotifyCall | None:
        async with self._conn.execute(
            f"SELECT {_FIELDS} FROM notify_call WHERE id = ?", (id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _call(row)

    async def mark_originating(self, id: str, action_id: str, now: datetime) -> bool:
        """Claim a pending row for one Originate; False if it was not pending any more."""
        cursor = await self._conn.execute(
            "UPDATE notify_call SET state = 'originating', attempts = attempts + 1,"
            " action_id = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
            (action_id, now.isoformat(), id),
        )
        return cursor.rowcount == 1

    async def mark(
        self,
        id: str,
        state: str,
        now: datetime,
        *,
        outcome: str = "",
        next_at: datetime | None = None,
        only_from: tuple[str, ...] = (),
    ) -> bool:
        sql = "UPDATE notify_call SET state = ?, outcome = ?, updated_at = ?"
        params: list[object] = [state, outcome, now.isoformat()]
        if next_at is not None:
            sql += ", next_at = ?"
            params.append(next_at.isoformat())
        sql += " WHERE id = ?"
        params.append(id)
        if only_from:
            sql += f" AND state IN ({', '.join('?' * len(only_from))})"
            params += list(only_from)
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount == 1


_FIELDS = "id, phone, dossier_code, kind, state, attempts, next_at, action_id, outcome, updated_at"


def _call(row: sqlite3.Row | tuple[object, ...]) -> NotifyCall:
    id, phone, code, kind, state, attempts, next_at, action_id, outcome, updated_at = row
    return NotifyCall(
        str(id),
        str(phone),
        str(code),
        str(kind),
        str(state),
        int(str(attempts)),
        datetime.fromisoformat(str(next_at)),
        str(action_id),
        str(outcome),
        datetime.fromisoformat(str(updated_at)),
    )
