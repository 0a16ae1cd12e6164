"""`tracuu serve` / `demo`: every component starts on one database and stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from gateway.app import seed_demo, serve
from gateway.settings import Settings
from kernel.bus import EventBus
from tests import stores


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    return Settings(
        database=str(tmp_path / "tracuu.sqlite3"),
        demo=True,
        agi={"port": 0},
        http={"port": 0},
        sms={"demo_smsc_port": 0},
        sounds={"dir": tmp_path / "sounds", "engine": "espeak"},
    )


async def test_demo_gateway_starts_every_component_and_stops_cleanly(settings: Settings) -> None:
    await seed_demo(settings, count=20)
    bus = EventBus()
    stop = asyncio.Event()
    async with bus.subscribe() as events:
        running = asyncio.create_task(serve(settings, stop, bus))
        async with asyncio.timeout(60):
            while True:  # the SMS side bound to the local test SMSC: every component is up
                event = await events.get()
                if event.topic == "sms" and event.data.get("link") == "up":
                    break
        stop.set()
        async with asyncio.timeout(60):
            await running

    database = settings.sqlite_path
    components = {c for (c,) in stores.rows(database, "SELECT component FROM schema_version")}
    instances = stores.rows(database, "SELECT stopped FROM gateway_instance")
    # The dossiers stay in their SQLite file on the PostgreSQL pass (tests/conftest.py).
    with contextlib.closing(sqlite3.connect(database)) as dossier_file:
        components |= {c for (c,) in dossier_file.execute("SELECT component FROM schema_version")}
        dossiers = dossier_file.execute("SELECT count(*) FROM dossier").fetchone()[0]
    assert components == {
        "lookup",
        "sms",
        "ivr",
        "console_stats",
        "console_accounts",
        "gateway_instances",
        "prompts",
    }
    # Its heartbeat (if the console got that far) ends with a clean stop, not a row that
    # other consoles would show as a gateway gone silent.
    assert all(stopped == 1 for (stopped,) in instances)
    assert dossiers == 27  # 7 fixed demo dossiers + 20 generated


async def test_seeding_twice_keeps_the_first_demo_data(settings: Settings) -> None:
    await seed_demo(settings, count=5)
    await seed_demo(settings, count=50)
    with sqlite3.connect(settings.sqlite_path) as db:
        assert db.execute("SELECT count(*) FROM dossier").fetchone()[0] == 12


async def test_a_component_that_ends_by_itself_stops_the_gateway_with_a_fault(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.app

    cancelled = asyncio.Event()

    async def quits(runtime: object) -> None:
        return

    async def runs(runtime: object) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    monkeypatch.setattr(gateway.app, "components", lambda: {"voice": runs, "sms": quits})
    await seed_demo(settings, count=0)
    async with asyncio.timeout(10):
        with pytest.raises(gateway.app.ComponentStopped, match="sms"):
            await serve(settings, asyncio.Event())
    assert cancelled.is_set()  # the healthy component was stopped, not left running


async def test_serve_refuses_a_missing_database_instead_of_creating_an_empty_one(
    settings: Settings,
) -> None:
    from lookup.port import LookupUnavailable

    with pytest.raises(LookupUnavailable, match="does not exist"):
        await serve(settings, asyncio.Event())
    assert not settings.sqlite_path.exists()
