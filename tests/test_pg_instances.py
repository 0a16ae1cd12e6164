"""Several gateway instances on one PostgreSQL (issue 10), and every store opened
through the one factory: a postgresql:// URL is never taken for a file path."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path

import asyncpg
import pytest

from gateway.cli import main
from kernel.dsn import DatabaseUrl
from sms.outbox import Outbox, PartToSend, migrate_file

pytestmark = pytest.mark.postgres
_names = itertools.count()


@pytest.fixture
async def url(pg_server: str) -> str:
    name = f"inst{next(_names)}"
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")
    finally:
        await conn.close()
    return f"{pg_server}&search_path={name}"


def test_a_postgresql_url_has_no_sqlite_file() -> None:
    with pytest.raises(ValueError, match="PostgreSQL URL, not a SQLite file"):
        _ = DatabaseUrl("postgresql://tracuu:secret@127.0.0.1:25432/postgres").sqlite_path


def test_sms_commands_on_postgresql_write_no_file(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACUU_DATABASE", url)
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.chdir(tmp_path)
    assert main(["sms", "outbox"]) == 0
    assert capsys.readouterr().out.startswith("states: ")

    async def tables() -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT component FROM schema_version")
        finally:
            await conn.close()
        return {r[0] for r in rows}

    assert "sms" in asyncio.run(tables())  # the outbox is in PostgreSQL ...
    assert list(tmp_path.rglob("*")) == []  # ... and no 'postgresql:' file appeared


async def test_two_instances_claiming_one_outbox_send_each_part_once(url: str) -> None:
    await migrate_file(url)
    queued = Outbox.open(url)
    try:
        now = time.time()
        for n in range(300):  # some long (two parts): parts, not messages, are claimed
            text = f"Tin nhan {n}" + (" dai" * 60 if n % 5 == 0 else "")
            queued.enqueue(f"8491234{n:04d}", text, kind="test", accents=False, now=now)
        queued.commit()
        total = int(queued._conn.fetchval("SELECT count(*) FROM sms_part"))
        queued.commit()
    finally:
        queued.close()
    start = threading.Barrier(2)
    sent: dict[str, list[PartToSend]] = {"one": [], "two": []}

    def instance(name: str) -> None:
        outbox = Outbox.open(url)  # each "gateway" its own connection, as its link thread
        try:
            start.wait()
            while True:
                parts = outbox.claim(7, time.time() + 1)
                outbox.commit()
                if not parts:
                    return
                sent[name] += parts
        finally:
            outbox.close()

    async with asyncio.timeout(60):
        await asyncio.gather(*(asyncio.to_thread(instance, n) for n in sent))
    keys = [(p.message_id, p.seq) for p in sent["one"] + sent["two"]]
    assert len(keys) == total > 300  # every part claimed ...
    assert len(set(keys)) == total  # ... exactly once across the two instances
    assert sent["one"]
    assert sent["two"]  # both took a share


async def test_a_notification_call_is_claimed_by_one_instance_only(url: str) -> None:
    from datetime import UTC, datetime

    from ivr.store import IvrStore

    one, two = await IvrStore.open(url), await IvrStore.open(url)
    try:
        now = datetime.now(UTC)
        ids = [f"n{n}" for n in range(40)]
        for id in ids:
            assert await one.add_notification(id, "84912345678", "X", "result_ready", now)
        assert not await two.add_notification(ids[0], "84912345678", "X", "result_ready", now)

        async def dial_all(store: IvrStore, who: str) -> list[str]:
            return [i for i in ids if await store.mark_originating(i, f"{who}/{i}", now)]

        async with asyncio.timeout(30):
            got_one, got_two = await asyncio.gather(dial_all(one, "a"), dial_all(two, "b"))
        assert sorted(got_one + got_two) == sorted(ids)  # each call dialled once, by one
    finally:
        await one.close()
        await two.close()


async def test_an_instance_starting_leaves_another_s_parts_in_flight(url: str) -> None:
    await migrate_file(url)

    def work() -> tuple[int, int]:
        one, two = Outbox.open(url), Outbox.open(url)
        try:
            now = time.time()
            one.enqueue("84912345678", "Xin chao", kind="test", accents=False, now=now)
            one.commit()
            assert len(one.claim(5, now)) == 1  # instance one is submitting it
            one.commit()
            fresh = two.recover(time.time() - 120)  # instance two starts up
            two.commit()
            later = two.recover(time.time() + 1)  # ... much later: one has died
            two.commit()
            return fresh, later
        finally:
            one.close()
            two.close()

    assert await asyncio.to_thread(work) == (0, 1)


async def test_a_live_link_behind_keeps_its_parts_from_the_lease_sweep(url: str) -> None:
    """A link whose answers wait unread (it is behind: a loaded machine, a worker at a
    lower CPU priority) still owns its parts in flight: it renews their lease, so another
    instance's sweep does not send them again; an instance that stops renewing loses them
    after lease_s. An answer that comes after a sweep still settles the part."""
    from sms.dispatch import Batch, Counters, Dispatcher
    from sms.pdu import Pdu
    from sms.settings import SmppSettings
    from tests.stores import rows

    await migrate_file(url)
    lease_s = 3.0
    wall = [time.time()]

    def work() -> tuple[int, int, int, str]:
        one, two = Outbox.open(url), Outbox.open(url)
        try:
            one.enqueue("84912345678", "Xin chao", kind="test", accents=False, now=wall[0])
            one.commit()
            link = Dispatcher(SmppSettings(), one, Counters(), lambda: wall[0])
            (part,) = link.claim(5)
            link.submit(part, 1, 0.0)  # sent at 0.0 on the link's clock; no answer yet
            wall[0] += 2.0
            renewed = link.renew_leases(2.0, lease_s / 3)
            wall[0] += 2.0  # 4 s after the claim, 2 s after the renewal
            swept_live = two.recover(wall[0] - lease_s)
            two.commit()
            wall[0] += 2.0  # the link stopped renewing: its lease runs out
            swept_dead = two.recover(wall[0] - lease_s)
            two.commit()
            got = Batch()  # the answer to the first submit arrives after all
            link.handle(Pdu("submit_sm_resp", 0, 1, 0x80000004, message_id=b"ab12"), got)
            link.commit(got)
            (state,) = rows(url, "SELECT state FROM sms_part WHERE message_id = ?",
                            (part.message_id,))  # fmt: skip
            return renewed, swept_live, swept_dead, state[0]
        finally:
            one.close()
            two.close()

    renewed, swept_live, swept_dead, state = await asyncio.to_thread(work)
    assert (renewed, swept_live, swept_dead) == (1, 0, 1)
    assert state == "submitted"  # the SMSC has it: not sent again
