"""The admins' read-only /settings page: who may open it, where each value came from,
and that no secret's value ever reaches the page (issue 9: users, settings, exports)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from console.access import ACCOUNTS
from console.app import create_app
from console.config_view import Effective, describe
from console.roles import Role
from console.signin import PASSWORDS
from gateway.provenance import origins
from gateway.settings import Settings
from kernel.bus import EventBus
from lookup.sqlite import SqliteLookup
from tests.console_auth import PASSWORD, cheap_passwords, sign_in
from tests.test_console_browser import (  # noqa: F401  (browser: a fixture)
    CHROMEDRIVER,
    CHROMIUM,
    ConsoleServer,
    browser,
    screenshot,
)
from tests.test_console_browser import sign_in as browser_sign_in

TODAY = date(2026, 11, 29)
SECRETS = {
    "db": "pg-pass-Zq81vX",
    "smpp": "smpp-pass-Kd02",
    "viettel": "viettel-pass-Lm93",
    "ami": "ami-pass-Rt55",
    "lookup": "lookup-token-Hh77-abcdefgh",
    "session": "session-key-Wq31-" + "x" * 24,
    "api": "api-token-Pp64-" + "y" * 16,
}


def secret_settings() -> Settings:
    return Settings(
        database=f"postgresql://tracuu:{SECRETS['db']}@db.example:5432/tracuu",
        smpp={
            "host": "smsc.example",
            "system_id": "tracuu",
            "password": SECRETS["smpp"],
            "binds": [{"name": "viettel", "host": "10.0.0.5", "networks": ["viettel"]}],
            "passwords": {"viettel": SECRETS["viettel"]},
        },
        agi={"port": 4574},  # as the TOML file of config() says
        ami={"host": "127.0.0.1", "password": SECRETS["ami"]},
        lookup={"backend": "http", "http": {"token": SECRETS["lookup"]}},
        http={"session_key": SECRETS["session"], "api_token": SECRETS["api"]},
    )


def config(tmp_path: Path) -> Effective:
    toml = tmp_path / "tracuu.toml"
    toml.write_text('timezone = "Asia/Ho_Chi_Minh"\n[agi]\nport = 4574\n', encoding="utf-8")
    environ = {"TRACUU_SMPP_HOST": "smsc.example", "TRACUU_HTTP_API_TOKEN": "x"}
    settings = secret_settings()
    return settings, origins(settings, environ, toml)


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    lookup = await SqliteLookup.open(tmp_path / "tracuu.sqlite3", create=True)
    effective = config(tmp_path)
    app = create_app(lookup, EventBus(), lambda: TODAY, config=lambda: effective)
    app.on_cleanup.append(lambda _app: lookup.close())
    return await aiohttp_client(cheap_passwords(app))  # type: ignore[no-any-return]


async def test_an_admin_sees_every_section_and_where_each_value_came_from(
    client: TestClient,
) -> None:
    await sign_in(client, Role.ADMIN)
    response = await client.get("/settings")
    assert response.status == 200
    page = await response.text()
    for section in ("office", "agencies[000.00.18.H26]", "agi", "ami", "smpp", "sms"):
        assert f'data-section="{section}"' in page, section
    for section in ("smpp.binds[viettel]", "sounds", "http", "lookup.http"):
        assert f'data-section="{section}"' in page, section
    assert "tracuu.toml" in page
    assert "TRACUU_*" in page
    assert "khởi động lại" in page
    assert "db.example" in page  # the database host is readable, its password is not
    row = page.split('data-key="smpp.host"')[1].split("</tr>")[0]
    assert "biến môi trường" in row
    assert "TRACUU_SMPP_HOST" in row
    row = page.split('data-key="agi.port"')[1].split("</tr>")[0]
    assert "4574" in row
    assert "tệp TOML" in row
    row = page.split('data-key="ami.port"')[1].split("</tr>")[0]
    assert "mặc định" in row
    row = page.split('data-key="http.api_token"')[1].split("</tr>")[0]
    assert "đã đặt" in row
    assert "TRACUU_HTTP_API_TOKEN" in row
    row = page.split('data-key="smpp.passwords[viettel]"')[1].split("</tr>")[0]
    assert "đã đặt" in row


async def test_no_secret_value_reaches_the_page(client: TestClient) -> None:
    await sign_in(client, Role.ADMIN)
    page = await (await client.get("/settings")).text()
    for name, value in SECRETS.items():
        assert value not in page, name
    assert "***" in page or "(mật khẩu)" in page
    row = page.split('data-key="chung.database (mật khẩu)"')[1].split("</tr>")[0]
    assert "đã đặt" in row


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.EDITOR])
async def test_operators_and_editors_are_refused(client: TestClient, role: Role) -> None:
    await sign_in(client, role)
    response = await client.get("/settings")
    assert response.status == 403
    assert SECRETS["smpp"] not in await response.text()


async def test_signed_out_is_sent_to_sign_in(client: TestClient) -> None:
    response = await client.get("/settings", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/login?next=")


def test_a_whole_section_from_json_and_a_start_up_argument(tmp_path: Path) -> None:
    settings = Settings(demo=True)
    origin_of = origins(settings, {"TRACUU_OFFICE": '{"name": "x"}'}, tmp_path / "none.toml")
    assert origin_of(("demo",)) == ("start", "")
    assert origin_of(("office", "name")) == ("env", "TRACUU_OFFICE")
    assert origin_of(("office", "address")) == ("default", "")
    assert origin_of(("region",)) == ("default", "")
    sections = {s.name for s in describe(settings, origin_of)}
    assert {"chung", "office", "smpp", "http"} <= sections


class AdminServer(ConsoleServer):
    """The browser tests' console, with an admin and the running settings."""

    async def _start(self) -> None:
        self.lookup = await SqliteLookup.open(self.database, create=True)
        effective = config(self.database.parent)
        app = create_app(self.lookup, self.bus, lambda: TODAY, config=lambda: effective)
        cheap_passwords(app)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        hashed = await app[PASSWORDS].hash(PASSWORD)
        await app[ACCOUNTS].add_user("Trần.Quản.Trị", Role.ADMIN, hashed)
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]


@pytest.fixture
def admin_server(tmp_path: Path) -> Iterator[AdminServer]:
    with AdminServer(tmp_path / "tracuu.sqlite3") as running:
        yield running


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromedriver")
def test_the_settings_page_in_chromium(admin_server: AdminServer, browser: object) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    browser_sign_in(browser, admin_server.port, "Trần.Quản.Trị")
    nav = browser.find_element(By.CSS_SELECTOR, "nav.main").text  # type: ignore[attr-defined]
    assert "Cấu hình" in nav
    browser.get(f"http://127.0.0.1:{admin_server.port}/settings")  # type: ignore[attr-defined]
    text = browser.find_element(By.TAG_NAME, "main").text  # type: ignore[attr-defined]
    assert "Cấu hình đang chạy" in text
    assert "smpp.binds[viettel]" in text
    assert all(value not in text for value in SECRETS.values())
    screenshot(browser, "console-settings")
