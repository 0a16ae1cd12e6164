"""Statistics over a year of generated traffic (1,000 calls a day) in the real tables:
the rollup gives the exact counts per day, per hour of day and in total, a second run
counts nothing twice, and the CSV export carries them. Timing: bench/console_bench.py."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from console.stats import StatsStore, to_csv
from tests import console_year as year
from tests import stores

NOW = datetime.combine(year.FIRST_DAY + timedelta(days=year.DAYS), time(12), year.ZONE)
LAST_DAY = year.FIRST_DAY + timedelta(days=year.DAYS - 1)


@pytest.fixture(scope="module")
def year_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("year") / "tracuu.sqlite3"
    year.build(database)
    return database


async def test_a_year_of_traffic_adds_up_per_day_hour_and_in_total(year_db: Path) -> None:
    store = await StatsStore.open(year_db)
    try:
        await store.rollup(NOW)
        summary = await store.summary(year.FIRST_DAY, LAST_DAY, year.ZONE)
    finally:
        await store.close()

    per_day = year.expected_per_day()
    assert len(summary.days) == year.DAYS
    assert summary.days[date(2026, 3, 15)] == per_day
    assert summary.totals == {m: n * year.DAYS for m, n in per_day.items()}
    assert summary.total("calls") == 365_000
    # 1,000 calls spread 86 s apart over each day, by the office's hour of day.
    calls_by_hour = [h.get("calls", 0) for h in summary.hours]
    assert calls_by_hour == [year.calls_in_hour(h) * year.DAYS for h in range(24)]
    # The SMS replies and reminders are written at noon, office time.
    assert summary.hours[12]["sms_in"] == 50 * year.DAYS
    assert summary.delivery_rate == pytest.approx(43 / 46)
    assert summary.reminder_kinds() == ["ready", "soon"]


async def test_rolling_up_again_counts_nothing_twice_and_picks_up_new_calls(
    tmp_path: Path,
) -> None:
    # The year's last two days, in a database of its own: the module's stays as built.
    database = tmp_path / "tracuu.sqlite3"
    await asyncio.to_thread(year.build, database, LAST_DAY - timedelta(days=1), 2)
    store = await StatsStore.open(database)
    try:
        await store.rollup(NOW)
        await store.rollup(NOW + timedelta(minutes=5))
        day = (await store.summary(LAST_DAY, LAST_DAY, year.ZONE)).days[LAST_DAY]
        assert day == year.expected_per_day()

        ended = (NOW + timedelta(minutes=6)).isoformat()
        stores.executemany(
            database,
            "INSERT INTO ivr_call_event (uniqueid, at, event) VALUES ('new.1', ?, ?)",
            [(ended, "menu"), (ended, "hung_up")],
        )
        await store.rollup(NOW + timedelta(minutes=6, seconds=30))  # too fresh: waits
        await store.rollup(NOW + timedelta(minutes=8))
        today = NOW.date()
        counts = (await store.summary(today, today, year.ZONE)).days[today]
    finally:
        await store.close()
    assert counts == {"calls": 1, "abandoned": 1, "funnel_menu": 1}


async def test_web_and_kiosk_lookups_and_sms_lookups_are_counted(tmp_path: Path) -> None:
    database = tmp_path / "tracuu.sqlite3"
    await year.schemas(database)
    at = NOW.timestamp()
    stores.executemany(
        database, "INSERT INTO sms_lookup_log VALUES ('84912345678', ?)", [(at - 60,), (at - 7200,)]
    )
    store = await StatsStore.open(database)
    try:
        await store.count("lookup_web", NOW)
        await store.count("lookup_kiosk", NOW)
        await store.count("lookup_kiosk", NOW - timedelta(days=1))
        await store.rollup(NOW)
        await store.rollup(NOW)
        summary = await store.summary(NOW.date() - timedelta(days=1), NOW.date(), year.ZONE)
    finally:
        await store.close()
    assert summary.days[NOW.date()] == {"lookup_web": 1, "lookup_kiosk": 1, "lookup_sms": 2}
    assert summary.total("lookup_kiosk") == 2


async def test_the_csv_has_a_row_per_office_day_in_vietnamese_dates(year_db: Path) -> None:
    store = await StatsStore.open(year_db)
    try:
        await store.rollup(NOW)
        summary = await store.summary(date(2026, 3, 14), date(2026, 3, 16), year.ZONE)
    finally:
        await store.close()

    rows = list(csv.reader(io.StringIO(to_csv(summary))))
    header, *days, total = rows
    assert header[:4] == ["Ngày", "Cuộc gọi", "Được phục vụ", "Bỏ máy giữa chừng"]
    assert "Nhắc có kết quả — đã gửi" in header
    assert "Nhắc sắp đến hẹn — hoãn" in header
    assert [d[0] for d in days] == ["14/03/2026", "15/03/2026", "16/03/2026"]
    assert days[1][1:4] == ["1000", "700", "300"]
    assert total[:2] == ["Tổng", "3000"]
