"""An idle SMPP link learns that another process queued a message (sms/outbox_watch.py,
kernel.db.change_watch): SQLite's data_version, PostgreSQL's LISTEN."""

from __future__ import annotations

import asyncio
import time

from kernel.db import Database
from sms.outbox import COMPONENT, STEPS, Outbox
from sms.outbox_watch import outbox_watch


async def changed_within(watch: object, timeout_s: float = 60.0) -> bool:
    async with asyncio.timeout(timeout_s):
        while not watch.changed():  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)
    return True


async def test_a_message_queued_elsewhere_is_seen_once(store_url: str) -> None:
    db = await Database.open(store_url)
    try:
        await db.migrate(COMPONENT, STEPS)
        watch = outbox_watch(store_url)
        try:
            watch.changed()  # PostgreSQL's first look is always yes: settle it
            assert not watch.changed()
            await db.run(
                lambda c: Outbox(c).enqueue(
                    "84912345678", "tin nhan", kind="test", accents=False, now=time.time()
                )
            )
            assert await changed_within(watch)
            assert not watch.changed()  # once per write, not every look
        finally:
            watch.close()
    finally:
        await db.close()
