"""The console's API: the public look-up and the one-stop system's push of dossier events."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from console.app import create_app
from console.roles import Role
from console.settings import HttpSettings
from gateway.app import seed_demo, serve
from gateway.settings import Settings
from kernel.bus import EventBus
from lookup import demo
from lookup.sqlite import DossierStore, SqliteLookup
from tests import stores
from tests.console_auth import cheap_passwords, sign_in

TODAY = date(2026, 11, 29)
TOKEN = "one-stop-system-token-" + "x" * 20
PERSONAL = ("0912345678", "84912345678", "Nguyễn Thị Lan", "001190012345", "739204", "Hàng Bài")


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    path = tmp_path / "tracuu.sqlite3"
    store = await DossierStore.open(path)
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.close()
    return path


@pytest.fixture
async def api(aiohttp_client, database: Path) -> AsyncIterator[tuple[TestClient, EventBus]]:  # type: ignore[no-untyped-def]
    lookup = await SqliteLookup.open(database)
    bus = EventBus()

    def writer() -> object:
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def opened() -> AsyncIterator[DossierStore]:
            store = await DossierStore.open(database)
            try:
                yield store
            finally:
                await store.close()

        return opened()

    app = create_app(
        lookup,
        bus,
        lambda: TODAY,
        database=database,
        http=HttpSettings(api_token=TOKEN),
        dossier_writer=writer,  # type: ignore[arg-type]
    )
    yield await aiohttp_client(cheap_passwords(app)), bus
    await lookup.close()


def record(code: str, status: str, **fields: object) -> dict[str, object]:
    return {"code": code, "status": status, "due_on": "2026-12-01", **fields}


CODE = demo.fixed_dossiers(TODAY)[3].code  # in progress, phone 0912345678


async def test_a_push_is_stored_and_the_public_view_shows_it(
    api: tuple[TestClient, EventBus],
) -> None:
    client, bus = api
    async with bus.subscribe() as events:
        response = await client.post(
            "/api/dossier-events",
            json={
                "events": [
                    record(CODE, "Đã xử lý xong", ready_on="2026-11-29", phones="0912345678")
                ]
            },
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status == 202
        assert await response.json() == {"accepted": 1, "rejected": []}
        # Other topics share the bus (the board's queue figures each second): the
        # push's own event is the one that must come.
        async with asyncio.timeout(60):
            event = await events.get()
            while event.topic != "dossiers_changed":
                event = await events.get()
    view = await (await client.get(f"/api/dossiers/{CODE}")).json()
    assert view["status_label"] == "Đã xử lý xong"
    assert view["ready_on"] == "2026-11-29"


async def test_bad_records_are_named_and_the_good_ones_kept(
    api: tuple[TestClient, EventBus],
) -> None:
    client, _ = api
    response = await client.post(
        "/api/dossier-events",
        json={"events": [record(CODE, "9"), record("không phải mã", "9"), {"code": CODE}, 7]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status == 207
    body = await response.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3]
    assert "mã hồ sơ 'không phải mã' không hợp lệ" in body["rejected"][0]["reason"]
    assert body["rejected"][1]["reason"] == "thiếu trạng thái"
    assert body["rejected"][2]["reason"] == "không phải một hồ sơ (đối tượng JSON)"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Cookie": "x=1"}],
)
async def test_a_push_without_the_token_is_refused(
    api: tuple[TestClient, EventBus], headers: dict[str, str]
) -> None:
    client, _ = api
    response = await client.post(
        "/api/dossier-events", json={"events": [record(CODE, "9")]}, headers=headers
    )
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    view = await (await client.get(f"/api/dossiers/{CODE}")).json()
    assert view["status_label"] == "Đang xử lý"


async def test_without_a_configured_token_the_push_api_is_off(
    aiohttp_client, database: Path
) -> None:  # type: ignore[no-untyped-def]
    lookup = await SqliteLookup.open(database)
    client = await aiohttp_client(create_app(lookup, EventBus(), lambda: TODAY))
    response = await client.post(
        "/api/dossier-events", json={"events": []}, headers={"Authorization": "Bearer "}
    )
    assert response.status == 503
    await lookup.close()


async def test_malformed_bodies_get_a_reason(api: tuple[TestClient, EventBus]) -> None:
    client, _ = api
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for body, status in ((b"not json", 400), (b"[]", 400), (b'{"events": []}', 400)):
        response = await client.post(
            "/api/dossier-events", data=body, headers={**auth, "Content-Type": "application/json"}
        )
        assert response.status == status
        assert (await response.json())["error"]
    many = {"events": [record(CODE, "9")] * 201}
    assert (await client.post("/api/dossier-events", json=many, headers=auth)).status == 413


async def test_public_lookup_never_carries_personal_data(
    api: tuple[TestClient, EventBus],
) -> None:
    client, _ = api
    for dossier in demo.fixed_dossiers(TODAY):
        response = await client.get(f"/api/dossiers/{dossier.code}")
        text = await response.text()
        assert response.status == 200
        assert not any(value in text for value in PERSONAL), dossier.code
    kiosk = await (await client.get("/kiosk")).text()
    assert not any(value in kiosk for value in PERSONAL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_push_queues_the_reminder_at_once_in_the_running_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path: the console stores the change, the SMS side's reminder job (whose
    poll is an hour away) queues the "ready" SMS within seconds."""
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    settings = Settings(
        database=str(tmp_path / "tracuu.sqlite3"),
        demo=True,
        agi={"port": 0},
        http={"port": _free_port(), "api_token": TOKEN},
        sms={"demo_smsc_port": 0, "reminder_poll_s": 3600},
        sounds={"dir": tmp_path / "sounds", "engine": "espeak"},
    )
    await seed_demo(settings, count=0)
    today = datetime.now(settings.zone).date()
    code = demo.fixed_dossiers(today)[3].code
    bus = EventBus()
    stop = asyncio.Event()

    def ready_reminders() -> list[str]:
        rows = stores.rows(
            settings.sqlite_path,
            "SELECT dedup_key FROM sms_message WHERE kind = 'reminder' AND dedup_key LIKE ?",
            (f"ready:{code}:%",),
        )
        return [row[0] for row in rows]

    async with bus.subscribe() as events:
        running = asyncio.create_task(serve(settings, stop, bus))
        try:
            async with asyncio.timeout(60):
                while True:  # the SMS side is up (its first reminder run is under way)
                    event = await events.get()
                    if event.topic == "sms" and event.data.get("link") == "up":
                        break
            await asyncio.sleep(0.5)  # the first scan of the changes is done by now
            assert ready_reminders() == []
            url = f"http://127.0.0.1:{settings.http.port}/api/dossier-events"
            payload = {
                "events": [
                    record(
                        code,
                        "9",
                        due_on=today.isoformat(),
                        ready_on=today.isoformat(),
                        phones="0912345678",
                    )
                ]
            }
            async with (
                aiohttp.ClientSession() as session,
                asyncio.timeout(30),
                session.post(
                    url, json=payload, headers={"Authorization": f"Bearer {TOKEN}"}
                ) as response,
            ):
                assert response.status == 202, await response.text()
            async with asyncio.timeout(15):
                while not ready_reminders():
                    await asyncio.sleep(0.1)
        finally:
            stop.set()
            async with asyncio.timeout(60):
                await running
    assert ready_reminders() == [f"ready:{code}:{today.isoformat()}:84912345678"]


async def test_the_short_code_a_caller_keys_is_looked_up_across_agencies(
    api: tuple[TestClient, EventBus],
) -> None:
    """At the kiosk or on a site, "2411290002" (the date and sequence on the receipt, as the
    phone line takes it) finds its dossier; digits two agencies share ask for the whole code."""
    client, _ = api
    fixed = {d.code for d in demo.fixed_dossiers(TODAY)}
    assert "000.00.18.H26-241129-0002" in fixed
    for short in ("2411290002", "241129-0002", "241129 0002"):
        response = await client.get(f"/api/dossiers/{short}")
        assert response.status == 200, short
        assert (await response.json())["code"] == "000.00.18.H26-241129-0002"
    shared = await client.get("/api/dossiers/2411290001")
    assert shared.status == 409
    error = (await shared.json())["error"]
    assert "000.00.18.H26-241129-0001" in error
    assert "000.00.19.H26-241129-0001" in error
    assert error.endswith("Vui lòng nhập mã hồ sơ đầy đủ.")
    assert (await client.get("/api/dossiers/2411299999")).status == 404
    assert (await client.get("/api/dossiers/2413290001")).status == 400  # no 29/13


async def test_the_audit_log_names_a_push_in_vietnamese(api: tuple[TestClient, EventBus]) -> None:
    client, _ = api
    pushed = await client.post(
        "/api/dossier-events",
        json={"events": [record(CODE, "Đã xử lý xong", ready_on="2026-11-29")]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert pushed.status == 202
    await sign_in(client, Role.ADMIN)
    audit = await (await client.get("/audit")).text()
    assert '<td title="dossiers.push">Hệ thống một cửa gửi hồ sơ (API)</td>' in audit
    assert "<td>1 hồ sơ</td>" in audit
    assert f"mã hồ sơ: {CODE}" in audit
    assert "dossier(s)" not in audit
