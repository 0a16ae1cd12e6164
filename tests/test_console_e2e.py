"""The console end to end: the real gateway (FastAGI server, SMS with the test SMSC,
console) in a thread, driven by real headless Chromium. Each test saves a screenshot
under var/screenshots/.

- a simulated call appears on the live board and leaves it; the board comes back by
  itself after the gateway restarts;
- a prompt recorded in the browser (fake microphone) is heard as a draft, approved,
  and the next simulated call gets the new version;
- try-a-call shows and plays the prompts in order, with their words.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import wave
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

import gateway.app
from console.accounts import AccountStore
from console.passwords import hash_password_blocking
from console.roles import Role
from gateway.app import seed_demo, serve
from gateway.settings import Settings
from kernel.bus import EventBus
from peers.asterisk import CallRecord, SimulatedAsterisk
from prompts.catalog import load_catalog
from tests import chromium
from tests.console_auth import PASSWORD

pytestmark = [chromium.needs_chromium, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def silence(path: Path, seconds: float = 0.3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


class Gateway:
    """`tracuu serve` in demo mode on loopback ports, in a thread with its own loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._running: Future[None] | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http.port}"

    def start(self) -> None:
        async def begin() -> None:
            self._stop = asyncio.Event()

        asyncio.run_coroutine_threadsafe(begin(), self.loop).result(5)
        assert self._stop is not None
        self._running = asyncio.run_coroutine_threadsafe(
            serve(self.settings, self._stop, EventBus()), self.loop
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.settings.http.port)) == 0:
                    return
            assert not self._running.done(), self._running.exception()
            time.sleep(0.1)
        raise TimeoutError("the console did not start")

    def stop(self) -> None:
        assert self._stop is not None
        assert self._running is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._running.result(60)

    def call(self, keys: str, *, pace_s: float, uniqueid: str) -> Future[CallRecord]:
        peer = SimulatedAsterisk(keys, caller="0912345678", pace_s=pace_s, uniqueid=uniqueid)
        return asyncio.run_coroutine_threadsafe(
            peer.call("127.0.0.1", self.settings.agi.port, timeout_s=120), self.loop
        )

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    settings = Settings(
        database=str(tmp_path / "tracuu.sqlite3"),
        demo=True,
        agi={"port": free_port()},
        # A fixed session key: the signed-in board survives the gateway's restart.
        http={"port": free_port(), "session_key": "e2e-" + "k" * 40},
        sms={"demo_smsc_port": 0},
        sounds={"dir": tmp_path / "sounds", "engine": "espeak"},
    )
    # Every prompt has a live file (silence): the test does not wait for espeak-ng to
    # render the catalog, so the prompts component stays out of this gateway.
    for prompt_id in load_catalog().ids:
        silence(settings.sounds.live_dir / f"{prompt_id}.wav")
    components = gateway.app.components()
    monkeypatch.setattr(
        gateway.app, "components", lambda: {k: v for k, v in components.items() if k != "prompts"}
    )
    asyncio.run(seed_demo(settings, count=5))
    asyncio.run(_add_editor(settings))
    running = Gateway(settings)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.close()


EDITOR = "Nguyễn Thị Lan"


async def _add_editor(settings: Settings) -> None:
    store = await AccountStore.open(settings.sqlite_path)
    try:
        await store.add_user(EDITOR, Role.EDITOR, hash_password_blocking(PASSWORD))
    finally:
        await store.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = chromium.start(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def _rows(driver: Any) -> list[str]:
    # In one script: the board redraws its rows every second, and a row element found
    # just before a redraw would be stale when its text is asked for.
    rows: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#calls tbody tr')].map((r) => r.innerText)"
    )
    return rows


def test_a_simulated_call_appears_on_the_board_and_leaves_it(
    running: Gateway, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium.sign_in(browser, running.settings.http.port, EDITOR, PASSWORD)
    browser.get(running.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "trực tiếp" in d.find_element(By.ID, "status").text)
    call = running.call("1 2411290002# H", pace_s=0.4, uniqueid="1764400000.42")
    row = wait.until(lambda d: [r for r in _rows(d) if "1764400000.42" in r])[0]
    assert "0912345678" not in row  # the caller is masked
    assert "****" in row
    assert browser.find_element(By.ID, "total-calls").text == "1 cuộc gọi"
    # One gateway: no table of gateways (console/board_live.py has the one row anyway).
    assert not browser.find_element(By.ID, "gateways").is_displayed()
    chromium.screenshot(browser, "board-call")
    call.result(120)
    wait.until(lambda d: d.find_element(By.ID, "total-calls").text == "0 cuộc gọi")
    assert "SMSC: đã kết nối" in browser.find_element(By.ID, "sms").text


def test_the_board_comes_back_by_itself_after_a_gateway_restart(
    running: Gateway, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium.sign_in(browser, running.settings.http.port, EDITOR, PASSWORD)
    browser.get(running.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "trực tiếp" in d.find_element(By.ID, "status").text)
    running.stop()
    wait.until(lambda d: "Mất kết nối" in d.find_element(By.ID, "status").text)
    running.start()
    wait.until(lambda d: "trực tiếp" in d.find_element(By.ID, "status").text)
    call = running.call("1 2411290001# H", pace_s=0.4, uniqueid="1764400000.43")
    wait.until(lambda d: [r for r in _rows(d) if "1764400000.43" in r])
    chromium.screenshot(browser, "board-after-restart")
    call.result(120)


def test_record_a_prompt_hear_the_draft_approve_and_callers_get_it(
    running: Gateway, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium.sign_in(browser, running.settings.http.port, EDITOR, PASSWORD)
    browser.get(running.url + "/studio")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-prompts"))
    browser.find_element(By.CSS_SELECTOR, '#list tr[data-id="ivr_welcome"]').click()
    wait.until(lambda d: d.find_element(By.ID, "script").text.startswith("Xin chào"))

    browser.find_element(By.ID, "record").click()  # the fake microphone: a steady beep
    time.sleep(2.5)  # a person reading the script (the browser records in real time)
    browser.find_element(By.ID, "record").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-draft") == "1")
    # The draft plays as callers will hear it: the 8 kHz WAV of version 1.
    assert (
        browser.execute_script("return document.getElementById('player').src")
        .split("?")[0]
        .endswith("/api/studio/prompts/ivr_welcome/1.wav")
    )
    wait.until(
        lambda d: d.execute_script(
            "const p = document.getElementById('player'); return p.currentTime > 0 || p.ended;"
        )
    )
    browser.find_element(By.CSS_SELECTOR, '#versions tr[data-version="1"] button.approve').click()
    wait.until(lambda d: "đã được đưa vào sử dụng" in d.find_element(By.ID, "message").text)
    wait.until(lambda d: "bản thu" in d.find_element(By.ID, "now-playing").text)
    chromium.screenshot(browser, "studio-approved")

    record = running.call("H", pace_s=0, uniqueid="1764400000.44").result(60)
    assert record.heard[0].prompt == "tracuu/ivr_welcome"
    live = (running.settings.sounds.live_dir / "ivr_welcome.wav").read_bytes()
    version = running.settings.sounds.store_dir / "versions" / "ivr_welcome" / "1"
    assert live == (version / "ivr_welcome.wav").read_bytes()  # the next caller hears v1


def test_try_a_call_shows_and_plays_the_prompts_in_order(running: Gateway, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium.sign_in(browser, running.settings.http.port, EDITOR, PASSWORD)
    browser.get(running.url + "/try")
    wait = WebDriverWait(browser, 60)
    browser.find_element(By.ID, "dial").click()
    wait.until(lambda d: "Đang chờ bấm phím" in d.find_element(By.ID, "call-state").text)
    keypad = {b.text: b for b in browser.find_elements(By.CSS_SELECTOR, "#keypad button")}
    keypad["1"].click()
    wait.until(lambda d: "Mời nhập mã hồ sơ" in d.find_element(By.ID, "prompts").text)
    wait.until(lambda d: "Đang chờ bấm phím" in d.find_element(By.ID, "call-state").text)
    for key in "2411290002#":
        keypad[key].click()
    status = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '#prompts li[data-prompt="status_processing"]')
    )
    assert status[0].text.startswith("đang được giải quyết.")  # the words beside the prompt
    items = browser.find_elements(By.CSS_SELECTOR, "#prompts li")
    order = [i.get_attribute("data-prompt") for i in items]
    assert order[:4] == ["ivr_welcome", "ivr_menu_main_mine", "ivr_enter_code", "ivr_please_wait"]
    assert not browser.find_elements(By.CSS_SELECTOR, "#prompts li.missing")
    chromium.screenshot(browser, "try-a-call")
    browser.find_element(By.ID, "hangup").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-call-ended"))


def test_try_an_sms_and_print_the_recording_scripts(running: Gateway, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium.sign_in(browser, running.settings.http.port, EDITOR, PASSWORD)
    browser.get(running.url + "/try")
    wait = WebDriverWait(browser, 60)
    browser.find_element(By.ID, "sms-text").send_keys("HS 000.00.18.H26-241129-0001")
    browser.find_element(By.CSS_SELECTOR, "#sms button[type=submit]").click()
    wait.until(lambda d: d.find_element(By.ID, "sms-meta").text)
    assert "000.00.18.H26-241129-0001" in browser.find_element(By.ID, "sms-reply").text
    assert browser.find_element(By.ID, "sms-meta").text.startswith("Mã hoá: GSM-7 · ")
    chromium.screenshot(browser, "try-an-sms")

    browser.get(running.url + "/studio/print")
    count = wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-count"))
    assert int(count) > 100  # nothing is recorded yet: every spoken prompt is to be read
    assert "Xin chào, đây là tổng đài" in browser.find_element(By.ID, "scripts").text
    chromium.screenshot(browser, "studio-print")
