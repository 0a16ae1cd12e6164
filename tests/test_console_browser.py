"""The console in a real headless Chromium: sign in, live lines appear, a look-up shows dates.

Skipped only when Chromium is not installed (scripts/bootstrap test installs it).
Each test saves a screenshot under var/screenshots/.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from console.access import ACCOUNTS
from console.app import create_app
from console.roles import Role
from console.signin import PASSWORDS
from kernel.bus import EventBus
from lookup import demo
from lookup.sqlite import DossierStore, SqliteLookup
from tests import chromium
from tests.console_auth import PASSWORD, cheap_passwords

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian chromium and chromium-driver"
)
TODAY = date(2026, 11, 29)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"


def screenshot(driver: object, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path


class ConsoleServer:
    """The real console on a loopback port, in a thread with its own event loop."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.bus = EventBus()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ConsoleServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self) -> None:
        self.lookup = await SqliteLookup.open(self.database)
        app = cheap_passwords(create_app(self.lookup, self.bus, lambda: TODAY))
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        hashed = await app[PASSWORDS].hash(PASSWORD)
        await app[ACCOUNTS].add_user("Nguyễn.Thị.Lan", Role.OPERATOR, hashed)
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def publish(self, topic: str, data: dict[str, str]) -> None:
        self.loop.call_soon_threadsafe(lambda: self.bus.publish(topic, data, key="k"))

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.lookup.close()

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ConsoleServer]:
    database = tmp_path / "tracuu.sqlite3"

    async def fill() -> None:
        store = await DossierStore.open(database)
        await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
        await store.close()

    asyncio.run(fill())
    with ConsoleServer(database) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    driver = chromium.start(tmp_path / "chromium")
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: object, port: int, name: str = "Nguyễn.Thị.Lan") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"http://127.0.0.1:{port}/")  # type: ignore[attr-defined]
    WebDriverWait(driver, 60).until(lambda d: "/login" in d.current_url)
    driver.find_element(By.ID, "name").send_keys(name)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "password").send_keys(PASSWORD + "\n")  # type: ignore[attr-defined]
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "sign-out"))


def test_sign_in_with_a_wrong_then_the_right_password(
    server: ConsoleServer, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver: object = browser
    driver.get(f"http://127.0.0.1:{server.port}/")  # type: ignore[attr-defined]
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: "/login" in d.current_url)
    driver.find_element(By.ID, "name").send_keys("Nguyễn.Thị.Lan")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "password").send_keys("sai mật khẩu\n")  # type: ignore[attr-defined]
    error = wait.until(lambda d: d.find_elements(By.ID, "error"))
    assert error[0].text == "Tên đăng nhập hoặc mật khẩu không đúng."
    font = driver.execute_script(  # type: ignore[attr-defined]
        "return document.fonts.check('16px \"Be Vietnam Pro\"', 'Tên đăng nhập hoặc mật khẩu')"
    )
    assert font is True
    screenshot(driver, "console-sign-in-refused")

    driver.find_element(By.ID, "password").send_keys(PASSWORD + "\n")  # type: ignore[attr-defined]
    who = wait.until(lambda d: d.find_elements(By.ID, "who"))
    assert who[0].text == "Nguyễn.Thị.Lan · Trực tổng đài"
    nav = driver.find_element(By.CSS_SELECTOR, "nav.main").text  # type: ignore[attr-defined]
    assert "Bảng trực" in nav
    assert "Người dùng" not in nav  # an operator sees no admin pages
    screenshot(driver, "console-signed-in")

    driver.find_element(By.ID, "sign-out").click()  # type: ignore[attr-defined]
    wait.until(lambda d: d.current_url.endswith("/login"))


def test_operator_sees_a_call_appear_and_leave(server: ConsoleServer, browser: object) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver: object = browser
    sign_in(driver, server.port)
    # The board redraws its rows every second: a row found just before a redraw is stale.
    wait = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: "trực tiếp" in d.find_element(By.ID, "status").text)

    call = {
        "uniqueid": "1764400000.7",
        "caller": "091****678",
        "stage": "code",
        "since": "2026-11-29T10:00:05+07:00",  # the office's clock, whatever the browser's
    }
    server.publish("ivr_call", call)
    row = wait.until(
        lambda d: [
            r.text
            for r in d.find_elements(By.CSS_SELECTOR, "#calls tbody tr")
            if "1764400000.7" in r.text
        ]
    )
    assert "Nhập mã hồ sơ" in row[0]
    assert "091****678" in row[0]
    assert "10:00:05 +07:00" in row[0]
    assert driver.find_element(By.ID, "total-calls").text == "1 cuộc gọi"  # type: ignore[attr-defined]

    server.publish("lines", {"channels": "4", "in_ivr": "1", "waiting": "2"})
    wait.until(lambda d: "Đang chờ cán bộ: 2" in d.find_element(By.ID, "asterisk").text)
    server.publish("sms", {"link": "down", "detail": "retry in 4 s"})
    wait.until(
        lambda d: (
            d.find_element(By.ID, "sms").text
            == "SMSC: mất kết nối, đang kết nối lại (retry in 4 s)"
        )
    )

    screenshot(driver, "console-board-call")
    server.publish("ivr_call_ended", {"uniqueid": "1764400000.7"})
    wait.until(lambda d: d.find_element(By.ID, "total-calls").text == "0 cuộc gọi")


def test_operator_looks_up_a_code_and_reads_vietnamese_dates(
    server: ConsoleServer, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver: object = browser
    sign_in(driver, server.port)
    box = driver.find_element(By.ID, "code")  # type: ignore[attr-defined]
    box.send_keys("000.00.18.h26 - 241129 - 0002\n")
    result = WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "result").text or None)
    assert "Mã hồ sơ: 000.00.18.H26-241129-0002" in result
    assert "Trạng thái: Đang xử lý (quá hạn)" in result
    assert "Ngày hẹn trả: 26/11/2026" in result  # due three days before TODAY
    assert "0912345678" not in result
    screenshot(driver, "console-board-lookup")

    box.clear()
    box.send_keys("000.00.18.H26-241129-0999\n")
    WebDriverWait(driver, 60).until(
        lambda d: d.find_element(By.ID, "result").text == "Không tìm thấy hồ sơ."
    )


def test_kiosk_scan_shows_the_public_status_large_and_resets(
    server: ConsoleServer, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver: Any = browser
    driver.get(f"http://127.0.0.1:{server.port}/kiosk?reset_s=3")  # no sign-in
    wait = WebDriverWait(driver, 60)
    assert driver.switch_to.active_element.get_attribute("id") == "code"  # ready for a scan
    # A barcode scanner types the code and Enter into whatever has focus.
    driver.switch_to.active_element.send_keys("000.00.18.H26-241129-0001\n")
    status = wait.until(lambda d: d.find_element(By.ID, "status").text or None)
    assert status == "Đã xử lý xong"
    facts = driver.find_element(By.ID, "facts").text
    assert "000.00.18.H26-241129-0001" in facts
    assert "Ngày hẹn trả" in facts
    size = driver.execute_script(
        "return parseFloat(getComputedStyle(document.getElementById('status')).fontSize)"
    )
    assert size >= 32  # large text, readable from a step away
    page = driver.page_source
    assert not any(value in page for value in ("0912345678", "Nguyễn Thị Lan", "001190012345"))
    screenshot(driver, "kiosk-scan")
    # Cleared for the next citizen, focus back on the input.
    wait.until(lambda d: not d.find_element(By.ID, "answer").is_displayed())
    assert driver.switch_to.active_element.get_attribute("id") == "code"

    driver.switch_to.active_element.send_keys("000.00.18.H26-241129-0999\n")
    wait.until(lambda d: d.find_element(By.ID, "message").text == "Không tìm thấy hồ sơ.")

    driver.set_window_size(390, 844)  # a phone or a small tablet at the counter
    driver.switch_to.active_element.send_keys("000.00.18.H26-241129-0002\n")
    wait.until(lambda d: "quá hạn" in d.find_element(By.ID, "status").text)
    screenshot(driver, "kiosk-phone")
