"""The board of several gateways in a real headless Chromium: a call on gateway B shows
on gateway A's page with where it is, and each gateway's row says in Vietnamese whether
it is up, stopped or silent. Saves a screenshot under var/screenshots/."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from console import board_registry
from console.access import ACCOUNTS
from console.app import create_app
from console.board_instances import Instance
from console.board_registry import Identity
from console.roles import Role
from console.signin import PASSWORDS
from kernel.bus import EventBus
from kernel.db import Database
from lookup.sqlite import SqliteLookup
from tests import chromium
from tests.console_auth import PASSWORD, cheap_passwords

pytestmark = chromium.needs_chromium
TODAY = date(2026, 12, 3)
OPERATOR = "Trần.Văn.Bình"
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


class TwoGateways:
    """Gateways A (with its console on a loopback port) and B (no site: its console is
    not what the test looks at) on one SQLite file, in a thread with its own loop."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.store = str(tmp / "tracuu.sqlite3")
        self.bus_a, self.bus_b = EventBus(), EventBus()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0
        self.b_stopped = False

    def __enter__(self) -> TwoGateways:
        self._thread.start()
        self.run(self._start())
        return self

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def _app(self, bus: EventBus, name: str) -> web.Application:
        me = Identity(name, f"may-{name}", "1.4.0", time.time())
        return cheap_passwords(
            create_app(
                self.lookup,
                bus,
                lambda: TODAY,
                line_limit=60,
                database=self.store,
                zone=ZONE,
                instance=Instance(me, beat_s=0.5, poll_s=0.5, down_after_s=10.0),
            )
        )

    async def _start(self) -> None:
        self.lookup = await SqliteLookup.open(self.tmp / "dossiers.sqlite3")
        app_a = self._app(self.bus_a, "gw-a")
        self.runner_a = web.AppRunner(app_a)
        await self.runner_a.setup()
        await app_a[ACCOUNTS].add_user(
            OPERATOR, Role.OPERATOR, await app_a[PASSWORDS].hash(PASSWORD)
        )
        site = web.TCPSite(self.runner_a, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner_a.addresses[0][1]
        self.runner_b = web.AppRunner(self._app(self.bus_b, "gw-b"))
        await self.runner_b.setup()

    async def silent_gateway(self) -> None:
        """A third gateway whose last heartbeat was a minute ago (killed, machine gone)."""
        db = await Database.open(self.store)
        try:
            me = Identity("gw-c", "may-gw-c", "1.3.2", time.time() - 3600)
            await board_registry.write(db, me, 7, {"ivr": {"total": 3}}, time.time() - 60)
        finally:
            await db.close()

    def publish_b(self, topic: str, data: dict[str, Any], key: str) -> None:
        self.loop.call_soon_threadsafe(lambda: self.bus_b.publish(topic, data, key=key))

    async def stop_b(self) -> None:
        if not self.b_stopped:
            self.b_stopped = True
            await self.runner_b.cleanup()

    async def _stop(self) -> None:
        await self.runner_a.cleanup()
        await self.stop_b()
        await self.lookup.close()

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[TwoGateways]:
    with TwoGateways(tmp_path) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = chromium.start(tmp_path / "chromium")
    try:
        yield driver
    finally:
        driver.quit()


def _instance_rows(driver: Any) -> dict[str, str]:
    # In one script: the board redraws its rows with every frame, and a row element found
    # just before a redraw would be stale when its text is asked for.
    rows: list[list[str]] = driver.execute_script(
        "return [...document.querySelectorAll('#instances tbody tr')]"
        ".map((r) => [r.dataset.instance, r.innerText])"
    )
    return {name: " ".join(text.split()) for name, text in rows}  # cells apart by tabs


def _call_rows(driver: Any) -> list[str]:
    rows: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#calls tbody tr')].map((r) => r.innerText)"
    )
    return [" ".join(row.split()) for row in rows]


def test_a_call_on_gateway_b_shows_on_gateway_as_page(gateways: TwoGateways, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    gateways.run(gateways.silent_gateway())
    chromium.sign_in(browser, gateways.port, OPERATOR, PASSWORD)
    browser.get(f"http://127.0.0.1:{gateways.port}/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "trực tiếp" in d.find_element(By.ID, "status").text)

    call = {
        "uniqueid": "1764750000.31",
        "caller": "091****678",
        "stage": "result",
        "since": "2026-12-03T10:00:05+07:00",
    }
    gateways.publish_b("ivr_call", call, call["uniqueid"])
    gateways.publish_b(
        "sms",
        {
            "bind": "viettel",
            "state": "up",
            "detail": "",
            "tps": 30,
            "throttled": 0,
            "reconnects": 0,
        },
        "bind:viettel",
    )
    row = wait.until(lambda d: [r for r in _call_rows(d) if "1764750000.31" in r])[0]
    assert "gw-b" in row  # the "Máy chủ" column, shown now that there are several
    assert "Nghe kết quả" in row
    header = browser.find_element(By.CSS_SELECTOR, "#calls thead").text
    assert "Máy chủ" in header

    rows = wait.until(lambda d: _instance_rows(d) if len(_instance_rows(d)) == 3 else None)
    assert rows["gw-a"].startswith("gw-a (máy này) Đang hoạt động")
    assert "Đang hoạt động" in rows["gw-b"]
    assert "1.4.0" in rows["gw-b"]
    assert "1/1 đã kết nối" in rows["gw-b"]  # its one SMSC bind
    assert "+07:00" in rows["gw-b"]  # when it last reported, on the office's clock
    assert "Mất liên lạc" in rows["gw-c"]
    totals = browser.find_element(By.ID, "gateway-totals").text
    assert totals == "3 máy chủ: 2 đang hoạt động, 1 mất liên lạc"
    assert browser.execute_script(
        "return document.fonts.check('16px \"Be Vietnam Pro\"', arguments[0])", totals
    )
    chromium.screenshot(browser, "console-board-gateways")

    gateways.run(gateways.stop_b())  # B stops cleanly (an upgrade, Ctrl-C)
    wait.until(lambda d: "Đã dừng" in _instance_rows(d).get("gw-b", ""))
    assert browser.find_element(By.ID, "total-calls").text == "0 cuộc gọi"
