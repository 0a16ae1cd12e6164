"""Opt-out and opt-in in ordinary words, end to end through the test SMSC (issue 12).

A citizen texts "Dừng nhắn tin cho tôi nữa" to the short code over SMPP: the gateway
stores the refusal and confirms it, and the reminders of the next run are not sent
to that number (others still get theirs). "Đăng ký nhận tin lại" undoes it: the next
status change of the citizen's dossier is texted again.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

from kernel.db import Database
from lookup import demo
from lookup.model import Status
from lookup.sqlite import DossierStore
from sms.reminder_job import ReminderJob, Summary
from tests.peers.smsc import CITIZEN, World, sms_world

OTHER = "84987654321"  # the other fixed dossier's applicant
OPTED_OUT = "Ong/Ba da ngung nhan tin nhan nhac ve ho so. De nhan lai, soan DK gui 8088."
OPTED_IN = "Ong/Ba se nhan lai tin nhan nhac ve ho so."


async def text_and_wait_reply(world: World, sender: str, body: str) -> str:
    before = len(world.smsc.record.texts_to(sender))
    assert await world.smsc.deliver(sender, body) == 0  # ESME_ROK: stored
    await world.smsc.wait_for(lambda: len(world.smsc.record.texts_to(sender)) > before)
    return world.smsc.record.texts_to(sender)[-1]


async def run_reminders(world: World, today: date) -> Summary:
    """One reminder run inside the sending window; waits until the link sent it all."""
    db = await Database.open(world.pump.database)
    try:
        job = ReminderJob(world.settings, world.pump.lookup, db, world.pump.catalog)
        now = datetime.combine(today, time(10, 0), world.settings.zone)
        summary = await job.run_once(now)
    finally:
        await db.close()
    world.pump.wake()
    expected = len(world.smsc.record.submits) + summary.queued
    await world.smsc.wait_for(lambda: len(world.smsc.record.submits) >= expected)
    return summary


def opted_out(world: World, msisdn: str) -> bool:
    outbox = world.outbox()
    try:
        return outbox.opted_out(msisdn)
    finally:
        outbox.close()


async def test_plain_words_opt_out_stops_reminders_and_opt_in_restores_them(
    tmp_path: Path,
) -> None:
    today = date.today()
    async with asyncio.timeout(60), sms_world(tmp_path, today=today) as world:
        assert await text_and_wait_reply(world, CITIZEN, "Dừng nhắn tin cho tôi nữa") == OPTED_OUT
        assert opted_out(world, CITIZEN)

        replies_so_far = len(world.smsc.record.texts_to(CITIZEN))
        summary = await run_reminders(world, today)
        assert summary.opted_out >= 1  # the citizen's reminders were due, and held back
        assert summary.queued >= 1  # the other applicant's went out
        assert world.smsc.record.texts_to(OTHER)
        assert len(world.smsc.record.texts_to(CITIZEN)) == replies_so_far  # none to the citizen

        assert await text_and_wait_reply(world, CITIZEN, "đăng ký nhận tin lại") == OPTED_IN
        assert not opted_out(world, CITIZEN)

        # The citizen's dossier that waited for papers is ready now: texted again.
        waiting = demo.fixed_dossiers(today)[4]
        assert waiting.status is Status.SUPPLEMENT
        store = await DossierStore.open(world.database)
        try:
            await store.upsert_dossiers([replace(waiting, status=Status.READY, ready_on=today)])
        finally:
            await store.close()
        await run_reminders(world, today)
        texts = world.smsc.record.texts_to(CITIZEN)[replies_so_far + 1 :]
        assert any(waiting.code in text for text in texts), texts


async def test_a_question_with_nhan_does_not_unsubscribe(tmp_path: Path) -> None:
    async with asyncio.timeout(30), sms_world(tmp_path) as world:
        reply = await text_and_wait_reply(world, CITIZEN, "Khi nào tôi nhận được kết quả?")
        assert reply.startswith("Ong/Ba chua nhap ma so ho so.")
        assert "HS <ma ho so> gui 8088" in reply
        assert not opted_out(world, CITIZEN)
