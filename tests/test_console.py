"""The operator console over a real SQLite file: look-ups, live lines, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from console.app import create_app
from console.roles import Role
from kernel.bus import EventBus
from lookup import demo
from lookup.sqlite import DossierStore, SqliteLookup
from tests.console_auth import cheap_passwords, sign_in

TODAY = date(2026, 11, 29)
PERSONAL = ("0912345678", "+84912345678", "001190012345", "739204")


@pytest.fixture
async def lookup(tmp_path: Path) -> AsyncIterator[SqliteLookup]:
    path = tmp_path / "tracuu.sqlite3"
    store = await DossierStore.open(path)
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.close()
    opened = await SqliteLookup.open(path, agencies={"000.00.18.H26": "UBND phường Cửa Nam"})
    yield opened
    await opened.close()


@pytest.fixture
async def console(aiohttp_client, lookup: SqliteLookup) -> tuple[TestClient, EventBus]:  # type: ignore[no-untyped-def]
    bus = EventBus()
    client = await aiohttp_client(cheap_passwords(create_app(lookup, bus, lambda: TODAY)))
    await sign_in(client, Role.OPERATOR)
    return client, bus


async def test_lookup_returns_the_public_view_only(console: tuple[TestClient, EventBus]) -> None:
    client, _ = console
    response = await client.get("/api/dossiers/000.00.18.H26-241129-0001")
    body = await response.json()
    assert response.status == 200
    assert body["code"] == "000.00.18.H26-241129-0001"
    assert body["status"] == 9
    assert body["status_label"] == "Đã xử lý xong"
    assert body["agency"] == "UBND phường Cửa Nam"
    text = await response.text()
    assert not any(value in text for value in PERSONAL)


async def test_a_code_typed_loosely_still_finds_the_dossier(
    console: tuple[TestClient, EventBus],
) -> None:
    client, _ = console
    response = await client.get("/api/dossiers/000 00 18 h26 – 241129 – 0002")
    body = await response.json()
    assert response.status == 200
    assert body["code"] == "000.00.18.H26-241129-0002"
    assert body["overdue"] is True


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("000.00.18.H26-241129-0999", 404, "Không tìm thấy hồ sơ."),
        ("000.00.18.H26-241331-0001", 400, "Mã hồ sơ không hợp lệ."),
        ("xin chào", 400, "Mã hồ sơ không hợp lệ."),
        ("9" * 200, 400, "Mã hồ sơ không hợp lệ."),
    ],
)
async def test_bad_or_unknown_codes_get_a_vietnamese_answer(
    console: tuple[TestClient, EventBus], code: str, status: int, message: str
) -> None:
    client, _ = console
    response = await client.get(f"/api/dossiers/{code}")
    assert response.status == status
    assert (await response.json()) == {"error": message}


async def test_a_closed_store_answers_busy_not_a_traceback(
    console: tuple[TestClient, EventBus], lookup: SqliteLookup
) -> None:
    client, _ = console
    await lookup.close()
    response = await client.get("/api/dossiers/000.00.18.H26-241129-0001")
    assert response.status == 503
    assert (await response.json())["error"].startswith("Hệ thống tra cứu đang bận")


async def test_lines_snapshot_and_live_events(console: tuple[TestClient, EventBus]) -> None:
    client, bus = console
    call = {"uniqueid": "1764400000.7", "caller": "091****678", "stage": "menu"}
    bus.publish("ivr_call", call, key="1764400000.7")
    bus.publish("lines", {"channels": 3, "in_ivr": 1, "waiting": 0}, key="asterisk")
    bus.publish("sms", {"link": "up", "detail": ""}, key="link")
    snapshot = await (await client.get("/api/lines")).json()
    assert snapshot == {
        "ivr_call": [call],
        "lines": [{"channels": 3, "in_ivr": 1, "waiting": 0}],
        "sms": [{"link": "up", "detail": ""}],
    }

    async with asyncio.timeout(10):
        response = await client.get("/events")
        assert await response.content.readuntil(b"\n\n") == b"retry: 2000\n\n"
        first = await _frame(response)
        bus.publish("prompt_wanted", {"text": "not for the console"})
        bus.publish("ivr_call_ended", {"uniqueid": "1764400000.7"})
        after = await _frame(response)
        response.close()
    assert first["ivr"] == {"total": 1, "by_stage": {"menu": 1}, "calls": [{**call, "since": ""}]}
    assert first["lines"] == {"channels": 3, "in_ivr": 1, "waiting": 0}
    assert first["sms"] == {"link": "up", "detail": ""}
    assert after["ivr"] == {"total": 0, "by_stage": {}, "calls": []}


async def _frame(response: Any) -> dict[str, Any]:
    """The next board frame of an event stream (heartbeats skipped)."""
    while True:
        block = (await response.content.readuntil(b"\n\n")).decode()
        if block.startswith("event: board\ndata: "):
            return json.loads(block.removeprefix("event: board\ndata: "))  # type: ignore[no-any-return]


async def test_index_page_is_vietnamese_html(console: tuple[TestClient, EventBus]) -> None:
    client, _ = console
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    text = await response.text()
    assert '<html lang="vi">' in text
    assert "Tổng đài tra cứu hồ sơ" in text
    assert "Bảng trực" in text


async def test_lookups_are_rate_limited_per_client(console: tuple[TestClient, EventBus]) -> None:
    client, _ = console
    statuses = [
        (await client.get("/api/dossiers/000.00.18.H26-241129-0001")).status for _ in range(31)
    ]
    assert statuses[:30] == [200] * 30
    refused = await client.get("/api/dossiers/000.00.18.H26-241129-0001")
    assert refused.status == 429
    assert (await refused.json())["error"].startswith("Tra cứu quá nhiều lần")
    assert refused.headers["Retry-After"] == "60"


def test_rate_limiter_window_and_memory_bound() -> None:
    from console.throttle import RateLimiter

    limiter = RateLimiter(limit=2, window_s=60.0, max_clients=2)
    assert [limiter.allow("a", t) for t in (0.0, 1.0, 2.0)] == [True, True, False]
    assert limiter.allow("a", 61.5)  # the first look-up left the window
    limiter.allow("b", 62.0)
    limiter.allow("c", 63.0)  # a third client: the stalest ("a") is forgotten
    assert [limiter.allow("a", 64.0), limiter.allow("a", 64.0)] == [True, True]
