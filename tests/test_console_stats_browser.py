"""The statistics page in real headless Chromium: a range of days drawn by uPlot, the
funnel and the CSV export the browser downloads."""

from __future__ import annotations

import asyncio
import threading
import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from console.access import ACCOUNTS
from console.app import create_app
from console.roles import Role
from console.signin import PASSWORDS
from kernel.bus import EventBus
from lookup.sqlite import SqliteLookup
from tests import chromium, stores
from tests import console_year as year
from tests.console_auth import PASSWORD, cheap_passwords

pytestmark = chromium.needs_chromium
DAY = date(2026, 11, 28)


class Console:
    """The console app with statistics over a real file, on a loopback port in a thread."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Console:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(20)
        return self

    async def _start(self) -> None:
        self.lookup = await SqliteLookup.open(self.database, create=True)
        app = create_app(
            self.lookup, EventBus(), lambda: DAY, database=self.database, zone=year.ZONE
        )
        cheap_passwords(app)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        # The CSV export is the admins' (an operator sees the charts only).
        hashed = await app[PASSWORDS].hash(PASSWORD)
        await app[ACCOUNTS].add_user("quantri", Role.ADMIN, hashed)
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.lookup.close()

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    database = tmp_path / "tracuu.sqlite3"
    asyncio.run(year.schemas(database))
    rows = []
    for n, day in enumerate((DAY - timedelta(days=1), DAY)):
        for i in range(10 + 10 * n):
            at = datetime.combine(day, time(8 + i % 9, 15), year.ZONE).isoformat()
            rows += [(f"{day}.{i}", at, e) for e in year.PATTERNS[i % 10]]
    stores.executemany(
        database, "INSERT INTO ivr_call_event (uniqueid, at, event) VALUES (?, ?, ?)", rows
    )
    with Console(database) as running:
        yield running


def test_statistics_are_drawn_and_exported_as_csv(console: Console, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver: Any = chromium.start(tmp_path / "profile", downloads)
    try:
        first = (DAY - timedelta(days=1)).isoformat()
        chromium.sign_in(driver, console.port, "quantri", PASSWORD)
        driver.get(f"http://127.0.0.1:{console.port}/stats?from={first}&to={DAY.isoformat()}")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))
        totals = driver.find_element(By.ID, "totals").text
        assert "30\ncuộc gọi" in totals
        assert "21\nđược phục vụ" in totals
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-days canvas")) == 1
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-hours canvas")) == 1
        funnel = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#funnel tbody tr")]
        assert funnel[0] == "Vào menu 30 100,0 %"  # the decimal comma Vietnamese writes
        assert funnel[2] == "Tìm thấy hồ sơ 15 50,0 %"
        chromium.screenshot(driver, "stats")

        driver.find_element(By.ID, "csv").click()
        name = f"thong-ke-{first}-{DAY.isoformat()}.csv"
        deadline = clock.monotonic() + 60
        while not (downloads / name).exists() and clock.monotonic() < deadline:
            clock.sleep(0.2)
        text = (downloads / name).read_text("utf-8-sig")
    finally:
        driver.quit()
    lines = text.splitlines()
    assert lines[0].startswith("Ngày,Cuộc gọi,Được phục vụ")
    assert lines[1].startswith("27/11/2026,10,7,3")
    assert lines[-1].startswith("Tổng,30,21,9")


def test_a_month_with_two_busy_days_is_drawn_over_the_whole_month(console: Console) -> None:
    """The axis spans the range asked for, a quiet day drawn as 0 (not two points stretched
    over years, nor a line joining the busy days across the quiet ones)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver: Any = chromium.start(console.database.parent / "profile")
    try:
        first = DAY - timedelta(days=29)
        chromium.sign_in(driver, console.port, "quantri", PASSWORD)
        driver.get(f"http://127.0.0.1:{console.port}/stats?from={first}&to={DAY.isoformat()}")
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"))
        drawn = driver.execute_script(
            "const u = charts['chart-days'];"
            "return {days: u.data[0], calls: u.data[1], min: u.scales.x.min, max: u.scales.x.max};"
        )
        chromium.screenshot(driver, "stats-month")
    finally:
        driver.quit()
    start = datetime.combine(first, time(), UTC).timestamp()
    end = datetime.combine(DAY, time(), UTC).timestamp()
    assert len(drawn["days"]) == 30
    assert (drawn["days"][0], drawn["days"][-1]) == (start, end)
    assert (drawn["min"], drawn["max"]) == (start, end)
    assert drawn["calls"] == [0] * 28 + [10, 20]
