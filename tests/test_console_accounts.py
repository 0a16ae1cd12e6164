"""Console accounts: the admins' page, the audit log, the command line, client addresses."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from ipaddress import ip_network
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from console.accounts import AccountStore
from console.app import create_app
from console.clientaddr import client_address, forwarded_tls
from console.roles import Role
from console.settings import HttpSettings
from console.throttle import LoginThrottle
from kernel.bus import EventBus
from lookup.sqlite import SqliteLookup
from tests import stores
from tests.console_auth import PASSWORD, cheap_passwords, csrf_token, sign_in


@pytest.fixture
async def lookup(tmp_path: Path) -> AsyncIterator[SqliteLookup]:
    opened = await SqliteLookup.open(tmp_path / "tracuu.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
async def client(aiohttp_client, lookup: SqliteLookup, tmp_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    app = create_app(
        lookup,
        EventBus(),
        lambda: None,
        database=tmp_path / "tracuu.sqlite3",
        http=HttpSettings(trusted_proxies=["127.0.0.0/8"]),
    )
    return await aiohttp_client(cheap_passwords(app))  # type: ignore[no-any-return]


async def test_admin_adds_a_user_who_then_signs_in_and_the_audit_log_says_so(
    client: TestClient,
) -> None:
    token = await sign_in(client, Role.ADMIN, name="quantri")
    added = await client.post(
        "/users",
        data={"_csrf": token, "name": "Lan", "role": "editor", "password": "mật khẩu của Lan"},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    page = await added.text()
    assert "Đã thêm tài khoản Lan." in page
    assert "Biên tập lời thoại" in page

    audit = await (await client.get("/audit")).text()
    assert "quantri" in audit
    # In words an admin reads, the action id kept as the cell's title for a search.
    assert '<td title="user.add">Thêm người dùng</td>' in audit
    assert "vai trò: Biên tập lời thoại" in audit
    assert ">user.add<" not in audit
    assert "203.0.113.9" in audit  # the client behind the trusted proxy, not the proxy

    await client.post("/logout", data={"_csrf": token})
    token = await csrf_token(client)
    signed = await client.post(
        "/login",
        data={"name": "lan", "password": "mật khẩu của Lan", "_csrf": token},
        allow_redirects=False,
    )
    assert signed.status == 303
    who = await (await client.get("/account")).text()
    assert "Lan · Biên tập lời thoại" in who
    assert "/users" not in who  # an editor's menu has no admin entries


async def test_the_last_admin_cannot_be_disabled_or_demoted(client: TestClient) -> None:
    token = await sign_in(client, Role.ADMIN, name="quantri")
    for data in ({"what": "disable"}, {"what": "role", "role": "operator"}):
        response = await client.post("/users/quantri", data={"_csrf": token, **data})
        assert response.status == 400
        assert "Phải còn ít nhất một quản trị." in await response.text()


async def test_weak_passwords_and_duplicate_names_are_refused(client: TestClient) -> None:
    token = await sign_in(client, Role.ADMIN, name="quantri")
    short = await client.post(
        "/users", data={"_csrf": token, "name": "lan", "role": "operator", "password": "ngắn"}
    )
    assert short.status == 400
    assert "ít nhất 10 ký tự" in await short.text()
    again = await client.post(
        "/users", data={"_csrf": token, "name": "QuanTri", "role": "operator", "password": PASSWORD}
    )
    assert again.status == 400
    assert "đã có" in await again.text()


async def test_a_password_reset_ends_the_users_other_sessions(
    aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    token = await sign_in(client, Role.ADMIN, name="quantri")
    other = await aiohttp_client(client.server)  # a second browser, same server
    other_token = await csrf_token(other)
    await other.post("/login", data={"name": "quantri", "password": PASSWORD, "_csrf": other_token})
    assert (await other.get("/account", allow_redirects=False)).status == 200
    changed = await client.post(
        "/account/password", data={"_csrf": token, "current": PASSWORD, "new": "mật khẩu mới nhé"}
    )
    assert "Mật khẩu đã được đổi." in await changed.text()
    assert (await client.get("/account", allow_redirects=False)).status == 200  # this one stays
    assert (await other.get("/account", allow_redirects=False)).status == 303  # the other ends


async def test_english_is_the_second_language(client: TestClient) -> None:
    await client.get("/lang/en?next=/login")
    page = await (await client.get("/login")).text()
    assert '<html lang="en">' in page
    assert "Sign in" in page
    assert "Tiếng Việt" in page


def test_client_address_trusts_forwarded_for_only_from_trusted_proxies() -> None:
    proxies = (ip_network("10.0.0.0/8"), ip_network("::1/128"))
    assert client_address("203.0.113.5", ["198.51.100.7"], proxies) == "203.0.113.5"
    assert client_address("10.0.0.2", ["198.51.100.7"], proxies) == "198.51.100.7"
    # The client may send its own X-Forwarded-For: only the hop our proxy added counts.
    assert client_address("10.0.0.2", ["1.2.3.4, 198.51.100.7"], proxies) == "198.51.100.7"
    assert client_address("10.0.0.2", ["198.51.100.7, 10.0.0.9"], proxies) == "198.51.100.7"
    assert client_address("10.0.0.2", ["1.2.3.4", "198.51.100.7"], proxies) == "198.51.100.7"
    assert client_address("::1", ["[2001:db8::7]:4431"], proxies) == "2001:db8::7"
    assert client_address("10.0.0.2", [], proxies) == "10.0.0.2"
    assert client_address("10.0.0.2", ["garbage"], proxies) == "10.0.0.2"
    assert forwarded_tls("10.0.0.2", "https", proxies)
    assert not forwarded_tls("203.0.113.5", "https", proxies)


async def test_rate_limits_key_on_the_forwarded_client(client: TestClient) -> None:
    code = "/api/dossiers/000.00.18.H26-241129-0001"
    first = [
        (await client.get(code, headers={"X-Forwarded-For": "198.51.100.1"})).status
        for _ in range(31)
    ]
    assert first[-1] == 429
    other = await client.get(code, headers={"X-Forwarded-For": "198.51.100.2"})
    assert other.status != 429  # another citizen behind the same proxy is not held back


def test_login_throttle_forgets_after_its_window() -> None:
    throttle = LoginThrottle(per_user=2, per_client=100, window_s=60)
    throttle.failed("lan", "a", 0.0)
    throttle.failed("lan", "b", 1.0)
    assert throttle.retry_after_s("Lan", "c", 2.0) == pytest.approx(58.0)
    assert throttle.retry_after_s("lan", "c", 61.0) == 0.0


def _cli(database: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`tracuu ARGS` in a process of its own on the stores at `database`."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"TRACUU_DATABASE": database, "PATH": "/usr/bin:/bin", "TRACUU_CONFIG": "none"},
        cwd=Path(__file__).parent.parent,
        timeout=60,
        check=False,
    )


@pytest.mark.sqlite_only("a SQLite file that does not exist yet")
def test_user_add_before_db_init_is_refused(tmp_path: Path) -> None:
    database = str(tmp_path / "tracuu.sqlite3")
    added = _cli(database, "user", "add", "quantri", "--role", "admin", stdin=PASSWORD + "\n")
    assert added.returncode == 3
    assert not (tmp_path / "tracuu.sqlite3").exists()


def test_user_add_from_the_command_line(tmp_path: Path) -> None:
    database = tmp_path / "tracuu.sqlite3"

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return _cli(stores.url(database), *args, stdin=stdin)

    assert run("db", "init").returncode == 0
    added = run("user", "add", "quantri", "--role", "admin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert run("user", "add", "quantri", stdin=PASSWORD + "\n").returncode == 1
    assert run("user", "add", "lan", stdin="ngắn\n").returncode == 1
    assert run("user", "disable", "quantri").returncode == 0
    listed = run("user", "list")
    assert listed.stdout == "quantri\tadmin\tdisabled\n"
    assert run("user", "passwd", "nobody", stdin=PASSWORD + "\n").returncode == 1

    async def check() -> None:
        store = await AccountStore.open(database)
        try:
            log = await store.audit_log()
            assert [(e.actor, e.action) for e in log] == [
                ("cli", "user.disable"),
                ("cli", "user.add"),
            ]
        finally:
            await store.close()

    asyncio.run(check())


async def test_accounts_survive_in_the_database_file(tmp_path: Path) -> None:
    store = await AccountStore.open(tmp_path / "a.sqlite3")
    await store.add_user("Hà", Role.OPERATOR, "x")
    await store.close()
    store = await AccountStore.open(tmp_path / "a.sqlite3")
    found = await store.by_name("HÀ")
    await store.close()
    assert found is not None
    assert found[0].name == "Hà"
