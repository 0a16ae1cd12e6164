"""Try a call and try an SMS through the console, against the real FastAGI server and
the real SMS responder (aiohttp's test client; the browser side is in
tests/test_console_e2e.py)."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from console.app import create_app
from console.roles import Role
from console.service import agi_address
from console.trycall import TryConfig
from gateway.runtime import Runtime
from gateway.settings import Settings
from ivr import service as ivr_service
from ivr.service import build_server
from kernel.bus import EventBus
from lookup import demo
from lookup.sqlite import DossierStore, SqliteLookup
from prompts.catalog import load_catalog
from tests.console_auth import cheap_passwords, sign_in

TODAY = date(2026, 11, 29)


def silence(path: Path) -> None:
    """A 0.1 s, 8 kHz mono WAV: what a live prompt file looks like to the console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    return Settings(
        database=str(tmp_path / "tracuu.sqlite3"),
        agi={"port": 0},
        sounds={"dir": tmp_path / "sounds", "engine": "espeak"},
    )


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    store = await DossierStore.open(settings.sqlite_path)
    await store.upsert_procedures(demo.procedures())
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.close()
    for prompt_id in load_catalog().ids:
        silence(settings.sounds.live_dir / f"{prompt_id}.wav")
    lookup = await SqliteLookup.open(settings.sqlite_path)
    server = build_server(settings, lookup, available=lambda _prompt: True)
    await server.start()
    config = TryConfig(settings, lookup, lambda: ("127.0.0.1", server.port))
    app = create_app(lookup, EventBus(), lambda: TODAY, try_config=config)
    client = await aiohttp_client(cheap_passwords(app))
    await sign_in(client, Role.OPERATOR, send_token=True)
    yield client
    await server.stop(drain_s=1.0)
    await lookup.close()


async def _converse(socket: Any, keys: list[str]) -> list[dict[str, Any]]:
    """Listen to every prompt to its end; answer each wait for keys with the next group."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while True:
            message = await socket.receive_json()
            seen.append(message)
            if message["type"] == "play" and message["audio"]:
                await socket.send_json({"type": "ended", "seq": message["seq"]})
            elif message["type"] == "listen":
                group = keys.pop(0) if keys else ""
                if group == "H":
                    await socket.send_json({"type": "hangup"})
                for key in group.replace("H", ""):
                    await socket.send_json({"type": "key", "key": key})
            elif message["type"] == "end":
                return seen


async def test_a_call_plays_each_prompt_with_its_words_and_live_audio(client: TestClient) -> None:
    socket = await client.ws_connect("/api/try/call")
    await socket.send_json({"type": "start", "caller": "0912345678"})
    seen = await _converse(socket, ["1", "2411290002#", "H"])
    await socket.close()

    plays = [m for m in seen if m["type"] == "play"]
    assert plays[0]["prompt"] == "ivr_welcome"
    assert plays[0]["words"] == load_catalog().get("ivr_welcome").text  # type: ignore[union-attr]
    assert plays[0]["audio"] == "/api/try/audio/ivr_welcome.wav"
    said = " ".join(m["words"] for m in plays)
    assert "Hồ sơ này đang được giải quyết." in said  # dossier 0002 is in progress
    assert "thủ tục Cấp giấy phép xây dựng" in said  # a text from data, in words
    assert seen[-1] == {"type": "end", "reason": "caller_hangup"}
    wav = await client.get(plays[0]["audio"])
    assert wav.status == 200
    assert (await wav.read())[:4] == b"RIFF"


async def test_a_key_pressed_during_a_prompt_stops_it_and_counts(client: TestClient) -> None:
    socket = await client.ws_connect("/api/try/call")
    await socket.send_json({"type": "start", "caller": "0912345678"})
    async with asyncio.timeout(30):
        while True:
            message = await socket.receive_json()
            if message["type"] == "play" and "1" in message.get("escapes", ""):
                break
            if message["type"] == "play":
                await socket.send_json({"type": "ended", "seq": message["seq"]})
        await socket.send_json({"type": "key", "key": "1"})  # while it plays: barge-in
        stopped = await socket.receive_json()
        following = await socket.receive_json()
    await socket.send_json({"type": "hangup"})
    await socket.close()
    assert stopped == {"type": "stop", "seq": message["seq"]}
    assert following["type"] == "play"  # the menu went on to the code question
    assert following["prompt"] != message["prompt"]


async def test_unknown_or_crafted_audio_names_are_not_served(client: TestClient) -> None:
    assert (await client.get("/api/try/audio/..%2Fsecret.wav")).status == 404
    assert (await client.get("/api/try/audio/no_such_prompt.wav")).status == 404


async def test_try_an_sms_shows_the_exact_reply_its_encoding_and_segments(
    client: TestClient,
) -> None:
    response = await client.post(
        "/api/try/sms", json={"sender": "0912345678", "text": "HS 000.00.18.H26-241129-0001"}
    )
    body = await response.json()
    assert response.status == 200
    assert "000.00.18.H26-241129-0001" in body["reply"]
    assert body["encoding"] == "GSM-7"  # sms.accents is off: unaccented text
    assert body["segments"] == (1 if len(body["reply"]) <= 160 else -(-len(body["reply"]) // 153))
    assert body["refused"] is False


async def test_try_an_sms_needs_a_sender_and_a_text(client: TestClient) -> None:
    response = await client.post("/api/try/sms", json={"sender": "", "text": "HS 1"})
    assert response.status == 400
    assert (await response.json())["error"] == "Cần số điện thoại người gửi và nội dung tin nhắn."


async def test_try_a_call_dials_the_port_the_voice_side_bound_when_agi_port_is_0(
    aiohttp_client, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    """agi.port = 0: the kernel picks the FastAGI port; try-a-call must still reach it,
    wired as `tracuu serve` wires it (the voice service and console.service.agi_address)."""
    store = await DossierStore.open(settings.sqlite_path)
    await store.upsert_procedures(demo.procedures())
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.close()
    for prompt_id in load_catalog().ids:
        silence(settings.sounds.live_dir / f"{prompt_id}.wav")
    assert settings.agi.port == 0
    lookup = await SqliteLookup.open(settings.sqlite_path)
    bus = EventBus()
    started = asyncio.Event()
    voice = asyncio.create_task(ivr_service.run(Runtime(settings, lookup, bus), started=started))
    try:
        async with asyncio.timeout(10):
            await started.wait()
        config = TryConfig(settings, lookup, lambda: agi_address(settings, bus))
        assert agi_address(settings, bus)[1] != 0
        app = create_app(lookup, bus, lambda: TODAY, try_config=config)
        client = await aiohttp_client(cheap_passwords(app))
        await sign_in(client, Role.OPERATOR, send_token=True)
        socket = await client.ws_connect("/api/try/call")
        await socket.send_json({"type": "start", "caller": "0912345678"})
        seen = await _converse(socket, ["1", "2411290002#", "H"])
        await socket.close()
    finally:
        voice.cancel()
        await asyncio.gather(voice, return_exceptions=True)
        await lookup.close()
    plays = [m for m in seen if m["type"] == "play"]
    assert plays
    assert plays[0]["prompt"] == "ivr_welcome"
    assert "Hồ sơ này đang được giải quyết." in " ".join(m["words"] for m in plays)
