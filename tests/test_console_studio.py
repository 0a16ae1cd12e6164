"""Prompt studio through aiohttp's test client: an upload goes through the checks and
conversion of `tracuu prompts import`, the draft plays at 8 kHz, approving puts it
where Asterisk plays from, rolling back restores, and who did what is kept."""

from __future__ import annotations

import io
import math
import re
import struct
import wave
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from console.app import create_app
from console.roles import Role
from kernel.bus import EventBus
from lookup.sqlite import SqliteLookup
from prompts.settings import SoundsSettings
from tests.console_auth import cheap_passwords, sign_in

PROMPT = "ivr_welcome"


def tone(seconds: float = 1.5, rate: int = 44100, amplitude: float = 0.3) -> bytes:
    """A stereo 440 Hz WAV at CD rate: what an office PC's recorder produces."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for n in range(int(seconds * rate)):
            sample = int(amplitude * 32767 * math.sin(2 * math.pi * 440 * n / rate))
            frames += struct.pack("<hh", sample, sample)
        w.writeframes(bytes(frames))
    return out.getvalue()


def silence_wav(seconds: float = 1.5) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


@pytest.fixture
def sounds(tmp_path: Path) -> SoundsSettings:
    return SoundsSettings(dir=tmp_path / "sounds", engine="espeak")


@pytest.fixture
async def client(
    aiohttp_client, tmp_path: Path, sounds: SoundsSettings
) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    lookup = await SqliteLookup.open(tmp_path / "tracuu.sqlite3", create=True)
    app = create_app(
        lookup,
        EventBus(),
        lambda: date(2026, 12, 3),
        sounds=sounds,
        zone=ZoneInfo("Asia/Ho_Chi_Minh"),
    )
    client = await aiohttp_client(cheap_passwords(app))
    await sign_in(client, Role.EDITOR, name="Nguyễn Thị Lan", send_token=True)
    yield client
    await lookup.close()


async def _upload(
    client: TestClient, data: bytes, name: str = "loi-chao.wav"
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("audio", data, filename=name, content_type="audio/wav")
    return await client.post(f"/api/studio/prompts/{PROMPT}/recordings", data=form)


async def test_every_prompt_is_listed_with_what_callers_hear(client: TestClient) -> None:
    rows = (await (await client.get("/api/studio/prompts")).json())["prompts"]
    welcome = next(r for r in rows if r["id"] == PROMPT)
    assert welcome["text"].startswith("Xin chào")
    assert welcome["source"] == "missing"
    assert not any(r["group"] == "sms" for r in rows)  # written only, never spoken


async def test_record_listen_approve_and_callers_get_it(
    client: TestClient, sounds: SoundsSettings
) -> None:
    response = await _upload(client, tone())
    draft = await response.json()
    assert response.status == 200, draft
    assert draft["version"] == 1

    audio = await client.get(draft["audio"])
    with wave.open(io.BytesIO(await audio.read())) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)  # as callers will hear it
    detail = await (await client.get(f"/api/studio/prompts/{PROMPT}")).json()
    assert detail["versions"][0]["state"] == "draft"
    assert detail["versions"][0]["by"] == "Nguyễn Thị Lan"
    assert not (sounds.live_dir / f"{PROMPT}.wav").exists()  # a draft is not live

    approved = await client.post(f"/api/studio/prompts/{PROMPT}/approve", json={"version": 1})
    assert approved.status == 200
    live = (sounds.live_dir / f"{PROMPT}.wav").read_bytes()
    assert live == await (await client.get(draft["audio"])).read()
    rows = (await (await client.get("/api/studio/prompts")).json())["prompts"]
    welcome = next(r for r in rows if r["id"] == PROMPT)
    assert (welcome["source"], welcome["version"], welcome["by"]) == (
        "recorded",
        1,
        "Nguyễn Thị Lan",
    )
    detail = await (await client.get(f"/api/studio/prompts/{PROMPT}")).json()
    # What an editor reads: Vietnamese steps, day-first times on the office clock.
    assert any(
        line.endswith("Nguyễn Thị Lan: duyệt v1: người gọi nghe bản này")
        for line in detail["history"]
    )
    assert any(
        line.endswith("Nguyễn Thị Lan: nhập bản thu v1 (bản nháp)") for line in detail["history"]
    )
    assert not any("approved" in line or "imported" in line for line in detail["history"])
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d \+07:00", detail["versions"][0]["approved_at"])
    assert re.fullmatch(r"\d+,\d giây", detail["versions"][0]["duration"])


async def test_roll_back_to_the_version_before(client: TestClient, sounds: SoundsSettings) -> None:
    for amplitude in (0.3, 0.5):
        number = (await (await _upload(client, tone(amplitude=amplitude))).json())["version"]
        await client.post(f"/api/studio/prompts/{PROMPT}/approve", json={"version": number})
    first = await (await client.get(f"/api/studio/prompts/{PROMPT}/1.wav")).read()
    assert (sounds.live_dir / f"{PROMPT}.wav").read_bytes() != first

    response = await client.post(f"/api/studio/prompts/{PROMPT}/rollback", json={"version": 1})
    assert (await response.json())["live"] == 1
    assert (sounds.live_dir / f"{PROMPT}.wav").read_bytes() == first


async def test_a_silent_recording_is_refused_with_the_reason(client: TestClient) -> None:
    response = await _upload(client, silence_wav())
    body = await response.json()
    assert response.status == 400
    assert body["error"].startswith("Bản ghi không dùng được: ")
    assert body["error"] == (
        "Bản ghi không dùng được: không có tiếng: tệp hoàn toàn im lặng; "
        "hãy kiểm tra micrô và thu lại"
    )


async def test_a_draft_cannot_be_rolled_back_to_and_ids_are_checked(client: TestClient) -> None:
    await _upload(client, tone())
    refused = await client.post(f"/api/studio/prompts/{PROMPT}/rollback", json={"version": 1})
    assert refused.status == 409
    assert (await refused.json())["error"] == (
        "Không đổi được phiên bản: v1 chưa từng được duyệt: hãy nghe rồi duyệt bản này"
    )
    missing = await client.post(f"/api/studio/prompts/{PROMPT}/approve", json={"version": 7})
    assert (await missing.json())["error"] == (
        f"Không đổi được phiên bản: lời thoại {PROMPT} không có bản v7"
    )
    assert (await client.get("/api/studio/prompts/..%2Fetc")).status == 404
    assert (await client.get(f"/api/studio/prompts/{PROMPT}/9.wav")).status == 404
