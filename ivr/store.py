"""The voice side's own tables in the shared SQLite file: call events and outbound calls.

Owns two things that must outlive a restart or an AMI reconnect:
- ivr_call_event: what happened on each call (menu entered, code keyed, found,
  status spoken, transferred, hung up), for statistics;
- notify_call: one row per outbound notification call, the truth about whether
  it may be originated. A row is marked 'originating' (committed) *before* the
  Originate is sent, so a reconnect or a restart can never send it twice.
Schema steps go through Database.migrate (component "ivr"). Refuses: any AMI or
AGI I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kernel.db import DB_ERRORS, Database, IntegrityError, Location, Row, open_migrated

log = logging.getLogger(__name__)

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
    # seq: the event's place in its call (1, 2, ...), so a group write retried after a
    # commit whose outcome was unknown stores each event once (ON CONFLICT DO NOTHING).
    # Rows written before this step (seq 0) are outside the unique index.
    """
    ALTER TABLE ivr_call_event ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX ivr_call_event_once ON ivr_call_event (uniqueid, at, seq)
        WHERE seq > 0;
    """,
)

ORIGINATE_STATES = ("pending", "originating")
GROUP_S = 0.2  # call events wait this long for other calls' to share one commit
GROUP_ROWS = 5000  # or until this many rows wait
# A failed group write (database down, restarting, locked) is retried after RETRY_FIRST_S,
# doubling up to RETRY_MAX_S, until written; at most MAX_WAITING rows wait meanwhile
# (about 100 bytes each), beyond which the oldest are dropped, counted and logged.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
MAX_WAITING = 100_000
INSERT_EVENTS = (
    "INSERT INTO ivr_call_event (uniqueid, at, event, seq) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
EventRow = tuple[str, str, str, int]


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
    """The voice side's tables on the process's Database (kernel.db): every
    statement runs off the loop, one write at a time on the writer thread."""

    def __init__(self, db: Database, *, owned: bool = False) -> None:
        self._db = db
        self._owned = owned  # opened by open(): closed by close()
        # Call events waiting for the next group write, and the future that write settles.
        self._pending: list[EventRow] = []
        self._batch: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._flush = asyncio.Event()  # write the waiting events now (close, a burst)
        self._closing = asyncio.Event()  # cuts a retry's backoff short
        self._closed = False
        self.dropped = 0  # events given up on (MAX_WAITING exceeded, or unwritable at close)

    @classmethod
    async def create(cls, db: Database) -> IvrStore:
        """On the composition root's Database: migrates, never closes it."""
        await db.migrate(COMPONENT, STEPS)
        return cls(db)

    @classmethod
    async def open(cls, path: Location) -> IvrStore:
        """On a Database of its own (CLI, tests): close() closes it."""
        return cls(await open_migrated(path, (COMPONENT, STEPS)), owned=True)

    async def close(self) -> None:
        """Stores the events still waiting for their group write, then closes."""
        self._closed = True
        self._flush.set()  # no waiting out the interval at shutdown
        self._closing.set()  # a write waiting to be retried is tried once more, now
        if self._writer is not None:
            await asyncio.shield(self._writer)  # the events already handed over are stored
        if self._owned:
            await self._db.close()

    # ---- call events

    async def record_events(self, uniqueid: str, at: datetime, events: Iterable[str]) -> None:
        """Store one call's events; returns once they are committed.

        Group commit: the events of every call that ends within GROUP_S share one
        write job (one hand-off to the writer thread, one transaction), so calls
        ending one after another cost a few writes a second, not one each (the
        hand-off was about 6 us of every AGI command in bench/agi_bench.py). The
        caller is back in the dialplan before this is called (ivr/session.py), so
        the wait is nobody's dead air. Nothing acknowledged is lost: this returns
        only after the commit; a crash loses at most the events of the calls that
        ended in the last GROUP_S, none of which had returned. The write belongs
        to the store, not to the caller: a caller that stops waiting (its own
        timeout, a cancel) does not take its events back, and close() writes them.
        A database error does not lose them either: the write is retried until the
        database takes it (see _write_events), so during an outage this waits.
        """
        stamp = at.isoformat()
        rows = [(uniqueid, stamp, e, seq) for seq, e in enumerate(events, 1)]
        if not rows:
            return
        self._pending.extend(rows)
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
        batch = self._batch
        if len(self._pending) >= GROUP_ROWS:
            self._flush.set()  # a burst of hang-ups: write now, memory stays bounded
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_events(), name="ivr-events")
        await asyncio.shield(batch)

    async def _write_events(self) -> None:
        rows: list[EventRow] = []  # taken for a write, not yet stored
        batches: list[asyncio.Future[None]] = []  # what the callers of those rows wait on
        delay = 0.0  # backoff of a failing write; 0 while the database takes them
        try:
            while self._pending or rows:
                # The calls ending in the next GROUP_S join this write; a write that
                # failed waits out its backoff (only close() cuts it short).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay or GROUP_S):
                        await (self._closing if delay else self._flush).wait()
                if not self._closed:  # once closing, every later write goes at once
                    self._flush.clear()
                rows += self._pending
                if self._batch is not None:
                    batches.append(self._batch)
                self._pending, self._batch = [], None
                rows = self._bounded(rows)
                try:
                    await self._db.executemany(INSERT_EVENTS, rows)
                except DB_ERRORS as exc:
                    if self._closed:
                        self._give_up(rows, batches, exc)
                        rows, batches = [], []
                        continue
                    if not delay:  # once per outage, not per retry
                        log.warning(
                            "call events not written (%s): %d kept, retried until the"
                            " database takes them",
                            exc,
                            len(rows),
                        )
                    delay = min(RETRY_MAX_S, delay * 2 or RETRY_FIRST_S)
                    continue
                except Exception as exc:  # every waiting call hears of it, none is lost silently
                    _settle(batches, exc)
                else:
                    if delay:
                        log.info("call events written again: %d after the failure", len(rows))
                    _settle(batches, None)
                rows, batches, delay = [], [], 0.0
        finally:
            self._writer = None
            if self._batch is not None:
                batches.append(self._batch)
            for waiting in batches:  # cancelled (shutdown): nobody waits forever
                if not waiting.done():
                    waiting.cancel()

    def _bounded(self, rows: list[EventRow]) -> list[EventRow]:
        """At most MAX_WAITING rows wait for a database that is down: the oldest go."""
        over = len(rows) - MAX_WAITING
        if over <= 0:
            return rows
        self.dropped += over
        log.error(
            "call events: %d dropped (the oldest; %d in all), more than %d waited for the database",
            over,
            self.dropped,
            MAX_WAITING,
        )
        return rows[over:]

    def _give_up(
        self, rows: list[EventRow], batches: list[asyncio.Future[None]], exc: BaseException
    ) -> None:
        """Closing with the database still failing: say how many events are lost."""
        self.dropped += len(rows)
        log.error(
            "call events: %d not written at shutdown, the database failed: %s", len(rows), exc
        )
        _settle(batches, exc)

    async def event_counts(self, since: datetime) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT event, count(*) FROM ivr_call_event WHERE at >= ? GROUP BY event",
            (since.isoformat(),),
        )
        return {str(e): int(n) for e, n in rows}

    # ---- outbound notification calls

    async def add_notification(
        self, id: str, phone: str, dossier_code: str, kind: str, now: datetime
    ) -> bool:
        """Queue a call; False when this notification id is already known (never twice)."""
        try:
            await self._db.execute(
                "INSERT INTO notify_call (id, phone, dossier_code, kind, state, next_at,"
                " updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                (id, phone, dossier_code, kind, now.isoformat(), now.isoformat()),
            )
        except IntegrityError:
            return False
        return True

    async def due(self, now: datetime, limit: int) -> list[NotifyCall]:
        rows = await self._db.fetchall(
            f"SELECT {_FIELDS} FROM notify_call WHERE state = 'pending' AND next_at <= ?"
            " ORDER BY next_at LIMIT ?",
            (now.isoformat(), limit),
        )
        return [_call(row) for row in rows]

    async def in_state(self, state: str) -> list[NotifyCall]:
        rows = await self._db.fetchall(
            f"SELECT {_FIELDS} FROM notify_call WHERE state = ?", (state,)
        )
        return [_call(row) for row in rows]

    async def get(self, id: str) -> NotifyCall | None:
        row = await self._db.fetchone(f"SELECT {_FIELDS} FROM notify_call WHERE id = ?", (id,))
        return None if row is None else _call(row)

    async def mark_originating(self, id: str, action_id: str, now: datetime) -> bool:
        """Claim a pending row for one Originate; False if it was not pending any more."""
        changed = await self._db.execute(
            "UPDATE notify_call SET state = 'originating', attempts = attempts + 1,"
            " action_id = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
            (action_id, now.isoformat(), id),
        )
        return changed == 1

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
        return await self._db.execute(sql, params) == 1


def _settle(batches: list[asyncio.Future[None]], exc: BaseException | None) -> None:
    for batch in batches:
        if batch.done():
            continue
        if exc is None:
            batch.set_result(None)
        else:
            batch.set_exception(exc)
            batch.exception()  # retrieved: callers that stopped waiting log nothing


_FIELDS = "id, phone, dossier_code, kind, state, attempts, next_at, action_id, outcome, updated_at"


def _call(row: Row) -> NotifyCall:
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
