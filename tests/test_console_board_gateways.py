"""Two real gateways (`tracuu serve`'s serve(): FastAGI server, console, instance
heartbeat) on one database: a call that the simulated Asterisk sends to gateway B's
FastAGI port shows on gateway A's live board, as a signed-in browser receives it, with
where it is; B stopped shows as stopped on A. On SQLite (one file) and on PostgreSQL
(the PostgreSQL pass: tests/postgres.txt)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import wave
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import gateway.app
from console.accounts import AccountStore
from console.passwords import hash_password_blocking
from console.roles import Role
from gateway.app import serve
from gateway.settings import Settings
from kernel.bus import EventBus
from lookup import demo
from lookup.factory import open_store
from peers.asterisk import SimulatedAsterisk
from prompts.catalog import load_catalog
from tests.console_auth import PASSWORD

pytestmark = pytest.mark.slow
OPERATOR = "Lê Thị Hoa"
Frame = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _silence(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)


def _settings(store: str, sounds: Path, name: str) -> Settings:
    return Settings(
        database=store,
        instance=name,
        agi={"port": _free_port()},
        http={"port": _free_port()},
        sounds={"dir": sounds, "engine": "espeak"},
    )


@contextlib.asynccontextmanager
async def _running(settings: Settings) -> AsyncIterator[Callable[[], None]]:
    """The gateway until the block ends; yields a function that stops it cleanly."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, EventBus()))
    while True:  # until its console answers
        assert not task.done(), task.exception()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", settings.http.port)) == 0:
                break
        await asyncio.sleep(0.1)
    try:
        yield stop.set
    finally:
        stop.set()
        await task


async def _sign_in(session: aiohttp.ClientSession, base: str) -> None:
    page = await (await session.get(f"{base}/login")).text()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert token is not None
    form = {"name": OPERATOR, "password": PASSWORD, "next": "/", "_csrf": token.group(1)}
    response = await session.post(f"{base}/login", data=form, allow_redirects=False)
    assert response.status == 303


async def _frames_until(response: Any, done: Callable[[Frame], bool]) -> Frame:
    while True:
        block = (await response.content.readuntil(b"\n\n")).decode()
        if block.startswith("event: board\ndata: "):
            frame: Frame = json.loads(block.removeprefix("event: board\ndata: "))
            if done(frame):
                return frame


def _status(frame: Frame, name: str) -> str | None:
    return next((i["status"] for i in frame.get("instances", []) if i["id"] == name), None)


async def test_a_call_on_gateway_b_shows_on_gateway_as_board(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    sounds = tmp_path / "sounds"
    one = _settings(store_url, sounds, "gw-a")
    two = _settings(store_url, sounds, "gw-b")
    # Every prompt has a file (silence): the prompts component (espeak-ng rendering the
    # catalog) stays out, as in tests/test_console_e2e.py.
    for prompt_id in load_catalog().ids:
        _silence(one.sounds.live_dir / f"{prompt_id}.wav")
    components = gateway.app.components()
    monkeypatch.setattr(
        gateway.app, "components", lambda: {k: v for k, v in components.items() if k != "prompts"}
    )
    async with open_store(one) as dossiers:  # the dossiers both gateways look up
        await dossiers.upsert_dossiers(demo.fixed_dossiers(date.today()))
    accounts = await AccountStore.open(store_url)
    try:
        await accounts.add_user(OPERATOR, Role.OPERATOR, hash_password_blocking(PASSWORD))
    finally:
        await accounts.close()

    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    base = f"http://127.0.0.1:{one.http.port}"
    async with (
        asyncio.timeout(120),
        _running(one),
        _running(two) as stop_two,
        aiohttp.ClientSession(cookie_jar=jar) as browser,
    ):
        await _sign_in(browser, base)
        board = await browser.get(f"{base}/events")
        # A caller on gateway B, listening to the menu (each prompt lasts 2 s).
        caller = SimulatedAsterisk(
            "", caller="0912345678", uniqueid="1764750000.77", pace_s=2.0, max_commands=50
        )
        call = asyncio.create_task(caller.call("127.0.0.1", two.agi.port, timeout_s=100))
        try:
            frame = await _frames_until(board, lambda f: f["ivr"]["total"] == 1)
        finally:
            call.cancel()  # the caller hangs up
            with contextlib.suppress(asyncio.CancelledError):
                await call
        listed = frame["ivr"]["calls"][0]
        assert listed["uniqueid"] == "1764750000.77"
        assert listed["instance"] == "gw-b"
        assert listed["caller"] == "+84******678"  # masked, never the number
        assert _status(frame, "gw-a") == "up"
        assert _status(frame, "gw-b") == "up"
        assert "912345678" not in json.dumps(frame)

        await _frames_until(board, lambda f: f["ivr"]["total"] == 0)
        stop_two()
        frame = await _frames_until(board, lambda f: _status(f, "gw-b") == "stopped")
        board.close()
    assert _status(frame, "gw-a") == "up"
