"""A reply to a citizen's text goes out before a reminder wave queued earlier
(sms_part.priority, sms/outgoing.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

from kernel.db import Conn, Database
from sms.outbox import COMPONENT, STEPS, Outbox, migrate_file
from sms.routes import RouteFilter
from tests.peers.smsc import sms_world

WAVE = 2000
CITIZEN = "84987000111"
REMINDED = "84912000"  # + four digits: one number per reminder


def wave(outbox: Outbox, now: float) -> None:
    items = [(f"{REMINDED}{i:04d}", f"nhac lich {i}", f"ready:{i}") for i in range(WAVE)]
    outbox.enqueue_many(items, kind="reminder", accents=False, now=now, not_before=now)


async def test_a_reply_queued_behind_a_reminder_wave_is_sent_first(tmp_path: Path) -> None:
    database = tmp_path / "tracuu.sqlite3"  # the file sms_world uses
    await migrate_file(database)
    now = time.time()
    outbox = Outbox.open(database)
    with outbox.transaction():
        wave(outbox, now)
        outbox.enqueue(
            CITIZEN, "tra loi ho so", kind="reply", accents=False, now=now, not_before=now
        )
    outbox.close()
    async with sms_world(tmp_path, window=10) as world:
        await world.smsc.wait_submits(20)
        first = [s.destination for s in world.smsc.record.submits[:10]]
    assert CITIZEN in first  # not behind 2,000 reminders (FIFO made it the 2,001st)


async def test_priority_orders_only_due_parts_and_due_stays_right(store_url: str) -> None:
    db = await Database.open(store_url)
    try:
        await db.migrate(COMPONENT, STEPS)
        now = 1_000_000.0

        def setup(conn: Conn) -> tuple[float | None, float | None]:
            outbox = Outbox(conn)
            wave(outbox, now - 10)
            retried = outbox.enqueue(
                CITIZEN, "tra loi", kind="reply", accents=False, now=now, not_before=now - 5
            )
            assert retried is not None
            [part] = outbox.claim(1, now)
            assert part.message_id == retried  # queued last and due later, claimed first
            outbox.retry(part.message_id, part.seq, 0x58, now + 60, now)  # backoff: 1 min
            return outbox.next_due(), outbox.next_due(RouteFilter(include=("8498",)))

        due, due_on_its_bind = await db.run(setup)
        assert due == now - 10  # the wave is due; the reply's backoff is later
        assert due_on_its_bind == now + 60

        def claim_now(conn: Conn) -> list[str]:
            outbox = Outbox(conn)
            parts = outbox.claim(5, now)
            return [p.msisdn for p in parts]

        # The reply waiting out its backoff holds no reminder back.
        assert await db.run(claim_now) == [f"{REMINDED}{i:04d}" for i in range(5)]

        def later(conn: Conn) -> tuple[list[str], list[str]]:
            outbox = Outbox(conn)
            other = outbox.claim(3, now + 60, RouteFilter(include=("8491",)))
            mine = outbox.claim(3, now + 60, RouteFilter(include=("8498",)))
            return [p.msisdn for p in other], [p.msisdn for p in mine]

        # Once due again it goes first, on the bind that routes to its number only.
        other, mine = await db.run(later)
        assert other == [f"{REMINDED}{i:04d}" for i in range(5, 8)]
        assert mine == [CITIZEN]
    finally:
        await db.close()
