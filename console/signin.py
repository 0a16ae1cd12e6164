"""Signing in and out, the user's own password, the language switch."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp_session import get_session, new_session

from console.access import (
    ACCOUNTS,
    SESSION_EPOCH,
    SESSION_USER,
    client_of,
    current_user,
    public,
    requires,
)
from console.audit import audit
from console.csrf import SESSION_KEY as CSRF_SESSION_KEY
from console.layout import LANGS, SESSION_LANG, lang_of, render
from console.passwords import Passwords, WeakPassword
from console.roles import Role
from console.throttle import LoginThrottle

log = logging.getLogger(__name__)

PASSWORDS = web.AppKey("passwords", Passwords)
THROTTLE = web.AppKey("login_throttle", LoginThrottle)
MAX_FIELD = 256


def safe_next(value: object) -> str:
    """Only a path on this console: never an open redirect to another site."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return "/"
    return value


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    target = safe_next(request.query.get("next", "/"))
    if current_user(request) is not None:
        raise web.HTTPSeeOther(target)
    return await render(request, "login.html", {"next": target, "name": "", "error": None})


@public
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", ""))[:MAX_FIELD].strip()
    password = str(form.get("password", ""))[:MAX_FIELD]
    target = safe_next(form.get("next", "/"))
    client = client_of(request)
    throttle = request.app[THROTTLE]
    now = asyncio.get_running_loop().time()
    lang = await lang_of(request)

    wait_s = throttle.retry_after_s(name, client, now)
    if wait_s > 0:
        log.warning("console: sign-in held back for %r from %s", name, client)
        throttle.held_back += 1
        minutes = max(1, math.ceil(wait_s / 60))
        message = (
            f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút."
            if lang == "vi"
            else f"Too many failed sign-ins. Try again in {minutes} min."
        )
        response = await render(
            request, "login.html", {"next": target, "name": name, "error": message}, status=429
        )
        response.headers["Retry-After"] = str(math.ceil(wait_s))
        return response

    found = await request.app[ACCOUNTS].by_name(name) if name else None
    stored = found[1] if found else None
    ok = await request.app[PASSWORDS].verify(stored, password)
    if not ok or found is None or found[0].disabled:
        throttle.failed(name, client, now)
        log.warning("console: failed sign-in for %r from %s", name, client)
        message = "Tên đăng nhập hoặc mật khẩu không đúng."
        if lang == "en":
            message = "Wrong user name or password."
        return await render(
            request, "login.html", {"next": target, "name": name, "error": message}, status=401
        )

    user = found[0]
    throttle.succeeded(name)
    # A fresh session (and CSRF token) at every sign-in: nothing from before carries over.
    session = await new_session(request)
    session[SESSION_USER] = user.id
    session[SESSION_EPOCH] = user.session_epoch
    session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    session[SESSION_LANG] = lang
    log.info("console: %s signed in from %s", user.name, client)
    raise web.HTTPSeeOther(target)


@public
async def logout(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    lang = session.get(SESSION_LANG)
    session.clear()
    if lang in LANGS:
        session[SESSION_LANG] = lang
    raise web.HTTPSeeOther("/login")


@public
async def switch_lang(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    if lang not in LANGS:
        raise web.HTTPNotFound()
    session = await get_session(request)
    session[SESSION_LANG] = lang
    raise web.HTTPSeeOther(safe_next(request.query.get("next", "/")))


@requires(Role.OPERATOR)
async def account_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "account.html", {"error": None, "notice": None})


@requires(Role.OPERATOR)
async def change_own_password(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    assert user is not None
    form = await request.post()
    current = str(form.get("current", ""))[:MAX_FIELD]
    new = str(form.get("new", ""))[:MAX_FIELD]
    accounts, passwords = request.app[ACCOUNTS], request.app[PASSWORDS]
    found = await accounts.by_name(user.name)
    if found is None or not await passwords.verify(found[1], current):
        return await render(
            request,
            "account.html",
            {"error": "Mật khẩu hiện tại không đúng.", "notice": None},
            status=400,
        )
    try:
        hashed = await passwords.hash(new)
    except WeakPassword as exc:
        return await render(
            request, "account.html", {"error": str(exc), "notice": None}, status=400
        )
    changed = await accounts.set_password(user.name, hashed)
    await audit(request, "user.password", user.name, {"by": "self"})
    # Other sessions end (the epoch moved); this one goes on with the new epoch.
    session = await get_session(request)
    session[SESSION_EPOCH] = changed.session_epoch
    return await render(request, "account.html", {"error": None, "notice": "Mật khẩu đã được đổi."})
