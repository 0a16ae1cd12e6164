"""`tracuu serve` / `demo`: every component starts on one database and stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from gateway.app import seed_demo, serve
from gateway.settings import Settings
from kernel import db as kernel_db
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("db-writer ")]


async def test_a_running_gateway_and_its_console_in_use_hold_one_database(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tracuu serve` opens its database once: the lookup, every component's stores and the
    console's pages and API (sign-in, statistics, the prompt studio, try an SMS, the push
    API, the board's figures) share it. On SQLite: one writer thread per file."""
    from gateway.app import seed_demo_admin
    from lookup import demo

    token = "t" * 32
    http = settings.http.model_copy(update={"port": _free_port(), "api_token": SecretStr(token)})
    settings = settings.model_copy(update={"http": http})
    await seed_demo(settings, count=0)
    password = await seed_demo_admin(settings)
    already = set(_writer_threads())  # other tests' and the seeding's, if still ending
    opened: list[str] = []
    factory = kernel_db.Database.open

    async def counted(url: object, **kwargs: Any) -> kernel_db.Database:
        opened.append(str(url))
        return await factory(url, **kwargs)

    monkeypatch.setattr(kernel_db.Database, "open", staticmethod(counted))
    bus = EventBus()
    stop = asyncio.Event()
    base = f"http://127.0.0.1:{settings.http.port}"
    today = datetime.now(settings.zone).date()
    code = demo.fixed_dossiers(today)[0].code
    async with bus.subscribe() as events:
        running = asyncio.create_task(serve(settings, stop, bus))
        try:
            async with asyncio.timeout(60):
                while True:  # every component is up
                    event = await events.get()
                    if event.topic == "sms" and event.data.get("link") == "up":
                        break
            jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
            async with aiohttp.ClientSession(cookie_jar=jar) as web, asyncio.timeout(60):
                await _listening(web, f"{base}/healthz")
                csrf = await _csrf(web, f"{base}/login")
                form = {"name": "demo", "password": password, "next": "/", "_csrf": csrf}
                async with web.post(f"{base}/login", data=form, allow_redirects=False) as r:
                    assert r.status == 303, await r.text()
                csrf = await _csrf(web, f"{base}/account")
                for path in ("/", "/stats", "/api/stats", "/studio", "/api/studio/prompts",
                             "/api/lines", f"/api/dossiers/{code}", "/users", "/audit",
                             "/try", "/metrics", "/readyz"):  # fmt: skip
                    async with web.get(f"{base}{path}") as r:
                        assert r.status == 200, (path, r.status, await r.text())
                sms = {"sender": "0912345678", "text": f"HS {code}"}
                headers = {"X-CSRF-Token": csrf}
                async with web.post(f"{base}/api/try/sms", json=sms, headers=headers) as r:
                    assert r.status == 200, await r.text()
                    assert code in (await r.json())["reply"]
                push = {"events": [{"code": code, "status": "9", "due_on": today.isoformat()}]}
                bearer = {"Authorization": f"Bearer {token}"}
                async with web.post(f"{base}/api/dossier-events", json=push, headers=bearer) as r:
                    assert r.status == 202, await r.text()
            writers = [t.name for t in _writer_threads() if t not in already]
        finally:
            stop.set()
            async with asyncio.timeout(60):
                await running
    assert opened == [str(settings.database)]  # the gateway's one, nothing more
    # On the PostgreSQL pass only the stores move to PostgreSQL: the dossiers stay in
    # their SQLite file (tests/conftest.py), which the lookup then opens apart.
    if not stores.ON_POSTGRES:
        assert writers == [f"db-writer {settings.sqlite_path}"]  # one writer thread


async def _csrf(web: aiohttp.ClientSession, url: str) -> str:
    async with web.get(url) as page:
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', await page.text())
    assert found, url
    return found.group(1)


async def _listening(web: aiohttp.ClientSession, url: str) -> None:
    """Once the console answers (it starts beside the other components)."""
    while True:
        try:
            async with web.get(url) as page:
                if page.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
