"""The console's platform: sessions, who the client is, access by role, CSRF, the layout,
accounts and their pages. `setup_platform` wires it into an app before any page.

For a page module (see console/layout.py and console/access.py):

    from console.access import requires, public
    from console.audit import audit
    from console.layout import NavEntry, add_nav, render
    from console.roles import Role

    @requires(Role.OPERATOR)
    async def stats_page(request): return await render(request, "stats.html", {...})

    def add_routes(app):
        app.router.add_get("/stats", stats_page)
        add_nav(app, NavEntry("/stats", "Thống kê", "Statistics", Role.OPERATOR, order=30))

A route without @requires/@public/@token_only is refused for everyone, and
tests/test_console_security.py fails until it is declared and tabled there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import tzinfo
from pathlib import Path

import aiohttp_session
from aiohttp import web

from console import audit, signin, users
from console.access import ACCOUNTS, CLIENT, SCRAPE_TOKEN, Handler, access_middleware
from console.accounts import AccountStore
from console.clientaddr import client_address
from console.csrf import csrf_middleware
from console.layout import NavEntry, add_nav, setup_layout
from console.passwords import Passwords
from console.roles import Role
from console.sessions import ConsoleCookieStorage
from console.settings import HttpSettings
from console.throttle import LoginThrottle
from kernel.db import Database

HTTP = web.AppKey("http_settings", HttpSettings)


@web.middleware
async def client_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    proxies = request.app[HTTP].trusted_proxies
    request[CLIENT] = client_address(
        request.remote, request.headers.getall("X-Forwarded-For", []), proxies
    )
    return await handler(request)


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _harden(exc)
        raise
    _harden(response)
    return response


def _harden(response: web.StreamResponse) -> None:
    if response.prepared:  # a stream (server-sent events) already sent its headers
        return
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")  # no console page inside another site
    headers.setdefault("Referrer-Policy", "same-origin")


def setup_platform(
    app: web.Application,
    http: HttpSettings,
    accounts: Path | str | Callable[[], Database],
    zone: tzinfo,
) -> None:
    """`accounts`: where users and the audit log live: the app's Database (a callable
    giving it once the app starts), or a file of their own (":memory:" in some tests)."""
    app[HTTP] = http
    if http.metrics_token is not None:
        app[SCRAPE_TOKEN] = http.metrics_token
    app[signin.PASSWORDS] = Passwords()
    app[signin.THROTTLE] = LoginThrottle()
    app.middlewares.append(headers_middleware)
    app.middlewares.append(aiohttp_session.session_middleware(ConsoleCookieStorage(http)))
    app.middlewares.append(client_middleware)
    app.middlewares.append(access_middleware)
    app.middlewares.append(csrf_middleware)
    setup_layout(app, zone)
    app.cleanup_ctx.append(_account_store(accounts))

    router = app.router
    router.add_get("/login", signin.login_page)
    router.add_post("/login", signin.login)
    router.add_post("/logout", signin.logout)
    router.add_get("/lang/{lang}", signin.switch_lang)
    router.add_get("/account", signin.account_page)
    router.add_post("/account/password", signin.change_own_password)
    router.add_get("/users", users.users_page)
    router.add_post("/users", users.add_user)
    router.add_post("/users/{name}", users.change_user)
    router.add_get("/audit", audit.audit_page)
    add_nav(app, NavEntry("/users", "Người dùng", "Users", Role.ADMIN, order=80))
    add_nav(app, NavEntry("/audit", "Nhật ký thao tác", "Audit log", Role.ADMIN, order=90))


def _account_store(
    where: Path | str | Callable[[], Database],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        if callable(where):
            store = await AccountStore.on(where())
        else:
            store = await AccountStore.open(where)
        app[ACCOUNTS] = store
        try:
            yield
        finally:
            await store.close()

    return context
