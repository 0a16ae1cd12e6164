"""Console security: every route's access is declared and holds; CSRF; throttling; cookies.

ROUTES is the table of every route the console serves and who may open it. A new
route fails `test_every_route_is_in_the_table` until it is added here with its
access, and then every role is tried against it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from console.access import ACCOUNTS, PUBLIC, TOKEN, Access, access_of
from console.app import create_app
from console.roles import Role
from console.settings import HttpSettings
from console.trycall import TryConfig
from gateway.settings import Settings
from kernel.bus import EventBus
from lookup import demo
from lookup.sqlite import DossierStore, SqliteLookup
from tests.console_auth import PASSWORD, add_user, cheap_passwords, csrf_token, sign_in

TODAY = date(2026, 11, 29)
OPERATOR, EDITOR, ADMIN = (Access("role", r) for r in Role)

# (method, path pattern) -> access. Static files (/static/) are public and hold no data.
ROUTES: dict[tuple[str, str], Access] = {
    ("GET", "/"): OPERATOR,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/api/lines"): OPERATOR,
    ("GET", "/api/dossiers/{code}"): PUBLIC,
    ("GET", "/events"): OPERATOR,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/lang/{lang}"): PUBLIC,
    ("GET", "/account"): OPERATOR,
    ("POST", "/account/password"): OPERATOR,
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("POST", "/users/{name}"): ADMIN,
    ("GET", "/audit"): ADMIN,
    ("GET", "/settings"): ADMIN,  # read-only, secrets as set/not set (console/config_view.py)
    ("GET", "/kiosk"): PUBLIC,
    ("POST", "/api/dossier-events"): TOKEN,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # Prometheus with the bearer token (settings.http.metrics_token), or an operator
    ("GET", "/metrics"): Access("token_or_role", Role.OPERATOR),
    # history and statistics (console/history.py); exports are the admins'
    ("GET", "/stats"): OPERATOR,
    ("GET", "/api/stats"): OPERATOR,
    ("GET", "/api/stats.csv"): ADMIN,
    # try a call, try an SMS (console/trycall.py)
    ("GET", "/try"): OPERATOR,
    ("GET", "/api/try/call"): OPERATOR,
    ("GET", "/api/try/audio/{prompt}.wav"): OPERATOR,
    ("POST", "/api/try/sms"): OPERATOR,
    # the prompt studio (console/studio.py)
    ("GET", "/studio"): EDITOR,
    ("GET", "/studio/print"): EDITOR,
    ("GET", "/api/studio/prompts"): EDITOR,
    ("GET", "/api/studio/prompts/{prompt}"): EDITOR,
    ("GET", "/api/studio/prompts/{prompt}/{number}.wav"): EDITOR,
    ("POST", "/api/studio/prompts/{prompt}/recordings"): EDITOR,
    ("POST", "/api/studio/prompts/{prompt}/approve"): EDITOR,
    ("POST", "/api/studio/prompts/{prompt}/rollback"): EDITOR,
}
# A concrete path for each pattern.
EXAMPLES = {
    "{code}": "000.00.18.H26-241129-0001",
    "{lang}": "en",
    "{name}": "nobody",
    "{prompt}": "apology",
    "{number}": "1",
}


def concrete(pattern: str) -> str:
    for placeholder, value in EXAMPLES.items():
        pattern = pattern.replace(placeholder, value)
    return pattern


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    path = tmp_path / "tracuu.sqlite3"
    store = await DossierStore.open(path)
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.close()
    return path


@pytest.fixture
async def lookup(database: Path) -> AsyncIterator[SqliteLookup]:
    opened = await SqliteLookup.open(database)
    yield opened
    await opened.close()


def make_app(lookup: SqliteLookup, database: Path, **http: object) -> web.Application:
    """The console with every page: history, try-a-call (its AGI peer is never called
    here) and the prompt studio."""
    settings = Settings(
        database=str(database),
        sounds={"dir": database.parent / "sounds", "engine": "espeak"},
    )
    app = create_app(
        lookup,
        EventBus(),
        lambda: TODAY,
        database=database,
        http=HttpSettings(**http),
        try_config=TryConfig(settings, lookup, lambda: ("127.0.0.1", 9)),
        sounds=settings.sounds,
    )
    return cheap_passwords(app)


@pytest.fixture
async def client(aiohttp_client, lookup: SqliteLookup, database: Path) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(make_app(lookup, database))  # type: ignore[no-any-return]


def _declared(app: web.Application) -> dict[tuple[str, str], Access | None]:
    routes: dict[tuple[str, str], Access | None] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        if "prefix" in info:  # static files
            continue
        if route.method == "HEAD":  # aiohttp adds one beside each GET
            continue
        path = str(info.get("path") or info.get("formatter"))
        routes[(route.method, path)] = access_of(route)
    return routes


async def test_every_route_is_in_the_table(client: TestClient) -> None:
    declared = _declared(client.server.app)
    assert declared == ROUTES


@pytest.mark.parametrize(("method", "pattern"), sorted(k for k, v in ROUTES.items() if v.role))
@pytest.mark.parametrize("role", [None, *Role])
async def test_each_role_reaches_exactly_its_routes(
    client: TestClient, method: str, pattern: str, role: Role | None
) -> None:
    needed = ROUTES[(method, pattern)].role
    assert needed is not None
    token = await sign_in(client, role) if role else await csrf_token(client)
    response = await client.request(
        method,
        concrete(pattern),
        data={"_csrf": token} if method == "POST" else None,
        allow_redirects=False,
        timeout=None,
    )
    if method == "GET" and pattern == "/events" and response.status == 200:
        response.close()  # an endless stream: its headers are the answer
    if role is None:
        # A scrape target answers 401 (a scraper must not be sent to the sign-in page).
        scraped = ROUTES[(method, pattern)].kind == "token_or_role"
        api = pattern.startswith("/api/") or method != "GET" or scraped
        assert response.status == (401 if api else 303)
        if not api:
            assert response.headers["Location"].startswith("/login?next=")
    elif role < needed:
        assert response.status == 403
        assert "quyền" in await response.text()
    else:
        assert response.status not in (401, 403), await response.text()


async def test_an_undeclared_route_is_refused_to_everyone(
    aiohttp_client, lookup: SqliteLookup, database: Path
) -> None:  # type: ignore[no-untyped-def]
    app = make_app(lookup, database)

    async def forgotten(request: web.Request) -> web.Response:
        return web.Response(text="secret")

    app.router.add_get("/forgotten", forgotten)
    client = await aiohttp_client(app)
    await sign_in(client, Role.ADMIN)
    response = await client.get("/forgotten")
    assert response.status == 403
    assert "secret" not in await response.text()


@pytest.mark.parametrize("path", ["/logout", "/users", "/account/password", "/users/admin1"])
async def test_a_post_without_the_csrf_token_is_refused(client: TestClient, path: str) -> None:
    await sign_in(client, Role.ADMIN, name="admin1")
    for data in ({}, {"_csrf": "forged"}):
        response = await client.post(
            path,
            data={**data, "what": "disable", "name": "x", "role": "admin"},
            allow_redirects=False,
        )
        assert response.status == 403
        assert "không hợp lệ" in await response.text()
    users = await client.get("/users")
    assert "Đã khoá" not in await users.text()  # the forged "disable admin1" did nothing


async def test_fetch_style_header_token_is_accepted(client: TestClient) -> None:
    token = await sign_in(client, Role.ADMIN)
    response = await client.post(
        "/users",
        data={"name": "lan", "role": "operator", "password": "mật khẩu của Lan"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 200
    assert "Đã thêm tài khoản lan." in await response.text()


async def test_sign_in_without_the_csrf_token_is_refused(client: TestClient) -> None:
    await add_user(client, "lan", Role.OPERATOR)
    response = await client.post(
        "/login", data={"name": "lan", "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 403


async def test_sign_in_throttling_holds_per_user_and_per_address(client: TestClient) -> None:
    await add_user(client, "lan", Role.OPERATOR)
    token = await csrf_token(client)

    async def attempt(name: str, password: str) -> int:
        response = await client.post(
            "/login",
            data={"name": name, "password": password, "_csrf": token},
            allow_redirects=False,
        )
        return response.status

    assert [await attempt("lan", "sai mật khẩu rồi") for _ in range(5)] == [401] * 5
    # Held back now, even with the right password: the guesser learns nothing more.
    assert await attempt("lan", PASSWORD) == 429
    assert await attempt("LAN", PASSWORD) == 429  # the same account, however typed
    # Per address: many names from one client stop too (20 failures in the window).
    statuses = [await attempt(f"khach{i}", "sai mật khẩu rồi") for i in range(15)]
    assert statuses == [401] * 15
    assert await attempt("khach99", "sai mật khẩu rồi") == 429
    page = await client.post(
        "/login", data={"name": "x", "password": "y", "_csrf": token}, allow_redirects=False
    )
    assert "Đăng nhập sai quá nhiều lần" in await page.text()
    assert int(page.headers["Retry-After"]) > 0


async def test_session_cookie_flags(client: TestClient) -> None:
    await add_user(client, "lan", Role.OPERATOR)
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"name": "lan", "password": PASSWORD, "_csrf": token},
        allow_redirects=False,
    )
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("tracuu_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback, no trusted proxy


async def test_cookie_is_secure_behind_a_trusted_tls_proxy(
    aiohttp_client, lookup: SqliteLookup, database: Path
) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app(lookup, database, trusted_proxies=["127.0.0.1"]))
    page = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in page.headers["Set-Cookie"]
    assert "HttpOnly" in page.headers["Set-Cookie"]


async def test_forwarded_proto_from_an_untrusted_peer_changes_nothing(client: TestClient) -> None:
    page = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in page.headers["Set-Cookie"]


async def test_a_disabled_user_is_signed_out_at_once(client: TestClient) -> None:
    await sign_in(client, Role.OPERATOR, name="lan")
    assert (await client.get("/account")).status == 200
    await client.server.app[ACCOUNTS].set_disabled("lan", True)
    response = await client.get("/account", allow_redirects=False)
    assert response.status == 303


async def test_sign_out_ends_the_session(client: TestClient) -> None:
    token = await sign_in(client, Role.OPERATOR)
    response = await client.post("/logout", data={"_csrf": token}, allow_redirects=False)
    assert response.status == 303
    assert (await client.get("/account", allow_redirects=False)).status == 303


async def test_next_never_leads_off_the_console(client: TestClient) -> None:
    await add_user(client, "lan", Role.OPERATOR)
    token = await csrf_token(client)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = await client.post(
            "/login",
            data={"name": "lan", "password": PASSWORD, "_csrf": token, "next": target},
            allow_redirects=False,
        )
        assert response.headers["Location"] == "/"
        token = await csrf_token(client, "/account")
        await client.post("/logout", data={"_csrf": token})
        token = await csrf_token(client)


async def test_pages_carry_protective_headers(client: TestClient) -> None:
    page = await client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    assert re.search(r'<meta name="csrf-token" content="[^"]{20,}">', await page.text())
