"""The link's pace and wake-up against the test SMSC (peers/smsc.py, smpp.pdu3) on loopback.

- configured at the SMSC's limit (counted strictly: N in any sliding second), the link
  never sends more than N parts in any second, by its own send stamps;
- an SMSC that allows less than the configured rate gets a lower rate, not a pause
  per refusal, and every message still arrives, in order but for the refused parts;
- a message queued by another process (`tracuu reminders run --once`) or another
  connection to the outbox is sent by the running gateway without anyone ringing it.

Counts, order and the link's own stamps, never the time a batch took: the SMSC shares
the process with the link, and on a loaded machine it reads late (tests/test_sms_pacing.py
has the pacing itself on a clock of its own).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.settings import Settings
from kernel.db import Database
from prompts.catalog import load_catalog
from sms.outbox import Outbox
from sms.pacing import Pacer
from sms.reminder_job import ReminderJob
from tests import stores
from tests.peers.smsc import Personality, seed_processes, sms_world
from tests.test_sms_link import STRANGER, states, until
from tests.test_sms_pacing import most_in_any_second

OFFICE_ZONE = ZoneInfo(Settings.model_fields["timezone"].default)


def in_order_but_the_refused(texts: list[str], expected: list[str], refused: int) -> bool:
    """Each expected text exactly once, in order but for the parts the SMSC refused: a
    refused part goes again first, but the parts already in flight behind it may be
    accepted before it (window > 1). The parts never refused keep their order."""
    if sorted(texts) != sorted(expected) or len(texts) != len(expected):
        return False
    rank = {text: i for i, text in enumerate(expected)}
    tails: list[int] = []  # the longest increasing run of ranks, patience-sorted
    for text in texts:
        at = bisect.bisect_left(tails, rank[text])
        tails[at : at + 1] = [rank[text]]
    return len(tails) >= len(expected) - refused


async def test_at_the_smscs_limit_the_link_never_sends_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit, count = 40, 100
    # The moment each part leaves, as the link stamps it (the stamp its Pacer counts):
    # the link's own clock, so the counts below are the same on a quiet or a loaded machine.
    left: list[float] = []
    pacer_sent = Pacer.sent

    def sent(pacer: Pacer, now: float, count: int = 1) -> None:
        left.extend([now] * count)
        pacer_sent(pacer, now, count)

    monkeypatch.setattr(Pacer, "sent", sent)
    # A strict SMSC at the same limit (40 in any 0.95 s by its own clock), so a burst
    # is refused there too.
    smsc = Personality(max_tps=limit, tps_counting="sliding", tps_window_s=0.95, receipts=None)
    async with sms_world(tmp_path, smsc, tps=float(limit), window=10) as world:
        for i in range(count):
            await world.pump.send(STRANGER, f"tin {i}", kind="test")
        await world.smsc.wait_submits(count, timeout_s=120)
    record = world.smsc.record
    expected = [f"tin {i}" for i in range(count)]
    assert in_order_but_the_refused(record.texts_to(STRANGER), expected, record.throttled)
    # Never more than the limit in any closed second of sends: a pacer counting in fixed
    # seconds (two bursts back to back) or one allowing rate + 1 in a closed second shows here.
    assert len(left) == count + record.throttled
    assert most_in_any_second(left) <= limit
    # Not asserted: that the SMSC refused nothing. It shares this process (and the GIL)
    # with the link and stamps a submit when it gets to read it: on a loaded machine it
    # reads some late, a bunch together, and its strict count of those stamps then refuses
    # the odd part (which goes again, the rate kept: jitter). That no part is refused at
    # the limit is the Pacer's, asserted on a clock of its own in tests/test_sms_pacing.py
    # (test_at_the_smscs_limit_no_refusal_at_all, test_no_sliding_second_holds_more_than_tps).


async def test_an_smsc_stricter_than_the_setting_gets_a_lower_rate(tmp_path: Path) -> None:
    limit, count = 25, 120
    smsc = Personality(max_tps=limit, tps_counting="sliding", receipts=None)
    async with sms_world(tmp_path, smsc, tps=60.0, window=10) as world:
        for i in range(count):
            await world.pump.send(STRANGER, f"tin {i}", kind="test")
        await world.smsc.wait_submits(count, timeout_s=30)
        link = world.pump.link
        assert link is not None
        pacer = link.pacer
    record = world.smsc.record
    expected = [f"tin {i}" for i in range(count)]
    assert in_order_but_the_refused(record.texts_to(STRANGER), expected, record.throttled)
    assert pacer.decreases >= 1
    assert pacer.rate < 60.0
    # Learnt from what the SMSC took (not collapsed, and not a fixed pause after each
    # refusal at a rate that never changed).
    assert limit * 0.6 <= pacer.rate <= limit + 3


async def test_a_message_queued_elsewhere_is_sent_without_a_doorbell(tmp_path: Path) -> None:
    async with sms_world(tmp_path) as world:
        await world.smsc.wait_bound()
        await asyncio.sleep(0.3)  # the link has found the queue empty and gone idle
        other = Outbox.open(world.database)  # another process's connection
        try:
            with other.transaction():
                other.enqueue(STRANGER, "tu noi khac", kind="test", accents=False,
                              now=0.0)  # fmt: skip
        finally:
            other.close()
        # The watch looks twice a second; a generous bound (an idle link unwatched would
        # sleep for an hour), met as soon as the text arrives.
        await world.smsc.wait_submits(1, timeout_s=60)
    assert world.smsc.record.texts_to(STRANGER) == ["tu noi khac"]


async def test_reminders_queued_by_the_cli_are_sent_by_the_running_gateway(
    tmp_path: Path,
) -> None:
    # The office's own day and hour, as the job counts them, and a window that is always
    # open: from 17:00 UTC on, Hà Nội is a day ahead of date.today(), and a fixed "10:00"
    # then lay in the future, so the parts waited for it (the test failed every evening).
    now = datetime.now(OFFICE_ZONE)
    always = {"window_start": "00:00", "window_end": "23:59:59"}
    async with sms_world(tmp_path, today=now.date(), sms=always) as world:
        assert world.settings.zone == OFFICE_ZONE
        await world.smsc.wait_bound()
        # The CLI process on the same stores, and the dossiers where it looks them up.
        await seed_processes(world.database, now.date())  # as sms_world seeded its own
        env = dict(os.environ, TRACUU_DATABASE=stores.url(world.database),
                   TRACUU_CONFIG=str(tmp_path / "absent.toml"),
                   TRACUU_SMS_WINDOW_START=always["window_start"],
                   TRACUU_SMS_WINDOW_END=always["window_end"])  # fmt: skip
        command = [sys.executable, "-m", "gateway.cli", "reminders", "run", "--once",
                   "--now", now.isoformat(), "--queue"]  # fmt: skip
        async with asyncio.timeout(60):
            run = await asyncio.to_thread(
                subprocess.run, command, env=env, capture_output=True, text=True, check=False
            )
        assert run.returncode == 0, run.stderr
        queued = sum(states(world).values())
        assert queued >= 1, run.stdout
        # Nobody rang the link: it finds the rows by itself (its watch looks twice a second;
        # idle unwatched, it would sleep for an hour): a bound for a loaded machine.
        await world.smsc.wait_submits(queued, timeout_s=60)
        await until(world, lambda w: set(states(w)) == {"delivered"})
        # The server's own job, next: the CLI moved the shared cursor, and what it would
        # have queued is already queued (and sent), so it queues nothing twice.
        db = await Database.open(world.pump.database)
        try:
            job = ReminderJob(world.settings, world.pump.lookup, db, load_catalog())
            summary = await job.run_once(now)
        finally:
            await db.close()
        assert (summary.changed, summary.queued) == (0, 0)
    submitted = {s.destination for s in world.smsc.record.submits}
    outbox = world.outbox()
    try:
        assert {row.msisdn for row in outbox.recent(100)} == submitted
    finally:
        outbox.close()


async def test_send_test_beside_a_running_gateway_goes_through_its_bind(tmp_path: Path) -> None:
    """`tracuu sms send-test` while the gateway runs: the message is queued for the
    gateway's link, which sends it; the command never binds the same system_id again."""
    async with sms_world(tmp_path) as world:
        await world.smsc.wait_bound()
        binds_before = list(world.smsc.record.binds)
        smpp = world.settings.smpp
        env = dict(os.environ, TRACUU_DATABASE=stores.url(world.database),
                   TRACUU_CONFIG=str(tmp_path / "absent.toml"), TRACUU_SMPP_HOST=smpp.host,
                   TRACUU_SMPP_PORT=str(smpp.port), TRACUU_SMPP_SYSTEM_ID=smpp.system_id,
                   TRACUU_SMPP_PASSWORD="secret-pw")  # fmt: skip
        command = [sys.executable, "-m", "gateway.cli", "sms", "send-test", "0912345678",
                   "--timeout", "20"]  # fmt: skip
        async with asyncio.timeout(60):
            run = await asyncio.to_thread(
                subprocess.run, command, env=env, capture_output=True, text=True, check=False
            )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "queued: the running gateway's SMS link sends it" in run.stdout
        assert run.stdout.splitlines()[-1] in ("test message: delivered", "test message: submitted")
        assert world.smsc.record.binds == binds_before  # no second bind
        assert len(world.smsc.record.texts_to("84912345678")) == 1
