"""`tracuu demo`'s simulated traffic: calls through the real FastAGI server reach the
live board's bus, SMS through the test SMSC get their reply on the real path."""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter
from pathlib import Path

import pytest

from gateway.app import seed_demo, serve
from gateway.settings import Settings
from kernel.bus import EventBus
from peers import traffic
from tests import stores


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    return Settings(
        database=str(tmp_path / "tracuu.sqlite3"),
        demo=True,
        agi={"port": free_port()},
        http={"port": 0},
        sms={"demo_smsc_port": 0, "demo_traffic_per_min": 600},  # one every ~0.1 s
        sounds={"dir": tmp_path / "sounds", "engine": "espeak"},
    )


async def test_demo_traffic_moves_the_board_and_gets_sms_replies(settings: Settings) -> None:
    await seed_demo(settings, count=5)
    bus = EventBus()
    stop = asyncio.Event()
    seen_call = False
    async with bus.subscribe() as events:
        running = asyncio.create_task(serve(settings, stop, bus))
        calls = asyncio.create_task(
            traffic.calls(
                "127.0.0.1", settings.agi.port, every_s=0.2, pace_s=0.01, rng=random.Random(1)
            )
        )
        try:
            async with asyncio.timeout(60):
                while not seen_call:
                    event = await events.get()
                    seen_call = event.topic == "ivr_call" and str(
                        event.data["uniqueid"]
                    ).startswith("demo.")
                while True:
                    [(replies,)] = stores.rows(
                        settings.sqlite_path,
                        "SELECT count(*) FROM sms_message WHERE kind = 'reply'",
                    )
                    if replies:
                        break
                    await asyncio.sleep(0.2)
        finally:
            calls.cancel()
            stop.set()
            async with asyncio.timeout(60):
                await running
    assert seen_call
    assert replies >= 1


async def test_the_demo_admin_gets_a_new_one_time_password_at_every_start(
    settings: Settings,
) -> None:
    from console.accounts import AccountStore
    from console.passwords import Passwords
    from console.roles import Role
    from gateway.app import DEMO_ADMIN, seed_demo_admin

    await seed_demo(settings, count=0)
    first = await seed_demo_admin(settings)
    second = await seed_demo_admin(settings)
    store = await AccountStore.open(settings.sqlite_path)
    try:
        found = await store.by_name(DEMO_ADMIN)
        log = await store.audit_log()
    finally:
        await store.close()
    assert found is not None
    user, stored = found
    assert user.role is Role.ADMIN
    assert first != second
    assert len(second) >= 12
    passwords = Passwords()
    assert await passwords.verify(stored, second)
    assert not await passwords.verify(stored, first)  # the password printed before is gone
    assert [e.action for e in log][:2] in (
        ["user.password", "user.add"],
        ["user.add", "user.password"],
    )


async def test_an_hour_of_demo_texts_stays_within_each_numbers_lookup_limit() -> None:
    """At the default pace (3 a minute), no demo sender texts more often than a citizen may
    (TRACUU_SMS_LOOKUPS_PER_HOUR, 10): the board shows texts answered, not refused."""
    sent: list[str] = []

    async def deliver(sender: str, text: str) -> int:
        sent.append(sender)
        if len(sent) == 180:
            raise asyncio.CancelledError
        return 0

    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):
            await traffic.texts(deliver, every_s=0, rng=random.Random(7))
    assert len(sent) == 180
    assert max(Counter(sent).values()) <= 10
    assert all(s.startswith("849") and len(s) == 11 for s in sent)
