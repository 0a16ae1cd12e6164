"""The statistics pages through aiohttp's test client, over the real tables."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from console.app import create_app
from console.history import STATS
from console.roles import Role
from kernel.bus import EventBus
from lookup import demo
from lookup.sqlite import DossierStore, SqliteLookup
from tests import console_year as year
from tests import stores
from tests.console_auth import cheap_passwords, sign_in

TODAY = date(2026, 11, 29)


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    database = tmp_path / "tracuu.sqlite3"
    await year.schemas(database)
    store = await DossierStore.open(database)
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.close()
    # Two calls that ended yesterday, office time: one served, one abandoned.
    ended = datetime.combine(TODAY - timedelta(days=1), time(9, 30), year.ZONE).isoformat()
    stores.executemany(
        database,
        "INSERT INTO ivr_call_event (uniqueid, at, event) VALUES (?, ?, ?)",
        [
            ("a", ended, "menu"),
            ("a", ended, "code_keyed"),
            ("a", ended, "found"),
            ("a", ended, "status_spoken"),
            ("b", ended, "menu"),
            ("b", ended, "hung_up"),
        ],
    )
    lookup = await SqliteLookup.open(database)
    app = create_app(lookup, EventBus(), lambda: TODAY, database=database, zone=year.ZONE)
    test_client = await aiohttp_client(cheap_passwords(app))
    await sign_in(test_client, Role.ADMIN, send_token=True)
    yield test_client
    await lookup.close()


async def test_the_summary_of_a_range_counts_the_calls_of_its_days(client: TestClient) -> None:
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    response = await client.get(f"/api/stats?from={yesterday}&to={TODAY.isoformat()}")
    body = await response.json()
    assert response.status == 200
    assert body["days"][0]["day"] == yesterday
    assert body["totals"]["calls"] == 2
    assert body["totals"]["answered"] == 1
    assert body["totals"]["abandoned"] == 1
    assert body["hours"][9]["calls"] == 2  # 09:30 office time


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01&to=2026-12-01", "Ngày không hợp lệ (dạng 2026-12-03)."),
        ("from=2026-12-02&to=2026-12-01", "Ngày bắt đầu phải trước ngày kết thúc."),
        ("from=2020-01-01&to=2026-12-01", "Khoảng thời gian tối đa là 3 năm."),
    ],
)
async def test_a_wrong_range_gets_a_vietnamese_answer(
    client: TestClient, query: str, message: str
) -> None:
    response = await client.get(f"/api/stats?{query}")
    assert response.status == 400
    assert await response.json() == {"error": message}


async def test_the_csv_export_opens_in_excel_with_vietnamese_headers(client: TestClient) -> None:
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    response = await client.get(f"/api/stats.csv?from={yesterday}&to={yesterday}")
    assert response.status == 200
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="thong-ke-{yesterday}-{yesterday}.csv"'
    )
    text = (await response.read()).decode("utf-8")
    assert text.startswith("\ufeffNgày,Cuộc gọi,")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[1][:4] == ["28/11/2026", "2", "1", "1"]


async def test_web_lookups_are_counted_by_channel(client: TestClient) -> None:
    await client.get("/api/dossiers/000.00.18.H26-241129-0001")
    await client.get("/api/dossiers/000.00.18.H26-241129-0999")
    store = client.app[STATS]
    today = datetime.now(year.ZONE).date()
    summary = await store.summary(today, today, year.ZONE)
    assert summary.total("lookup_web") == 2


async def test_the_page_loads_the_vendored_chart_library(client: TestClient) -> None:
    page = await (await client.get("/stats")).text()
    assert "Lịch sử và thống kê" in page
    script = await client.get("/static/vendor/uplot/uPlot.iife.min.js")
    assert script.status == 200
    assert "uPlot" in await script.text()
    licence = await (await client.get("/static/vendor/uplot/LICENSE")).text()
    assert "MIT" in licence
    assert 'id="csv"' in page  # an admin may export


async def test_an_operator_sees_no_csv_export_and_cannot_fetch_it(client: TestClient) -> None:
    await client.post("/logout", allow_redirects=False)
    client.session.headers.pop("X-CSRF-Token", None)  # the admin's session's token
    await sign_in(client, Role.OPERATOR, send_token=True)
    page = await (await client.get("/stats")).text()
    assert "Lịch sử và thống kê" in page
    assert 'id="csv"' not in page
    assert (await client.get("/api/stats.csv")).status == 403
