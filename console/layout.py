"""Pages: Jinja2 templates (aiohttp-jinja2), the navigation by role, two languages.

A page handler renders a template that extends "base.html":

    @requires(Role.OPERATOR)
    async def stats_page(request: web.Request) -> web.Response:
        return await render(request, "stats.html", {"days": 30})

and registers its navigation entry once, when its routes are added:

    add_nav(app, NavEntry("/stats", "Thống kê", "Statistics", Role.OPERATOR, order=30))

The menu shows only the entries the signed-in user's role reaches. Templates
live in console/templates/ and see `user`, `nav`, `lang`, `csrf` (the token),
`csrf_field()` (a hidden input for forms) and `_("Vietnamese text")`, which
gives the English of platform texts when the user picked English
(TRANSLATIONS; add your page's texts with `add_translations`).
Vietnamese comes first: a text without a translation stays Vietnamese.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session
from markupsafe import Markup, escape

from console.access import current_user
from console.csrf import FORM_FIELD, csrf_token
from console.roles import Role
from messages import formats

LANGS = ("vi", "en")
SESSION_LANG = "lang"


@dataclass(frozen=True, slots=True)
class NavEntry:
    path: str
    label: str  # Vietnamese
    label_en: str
    role: Role | None  # None: shown to everyone, signed in or not
    order: int = 50

    def text(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label


NAV = web.AppKey("nav", list[NavEntry])
TRANSLATIONS = web.AppKey("translations", dict[str, str])
ZONE = web.AppKey("layout_zone", tzinfo)

PLATFORM_TRANSLATIONS = {
    "Tổng đài tra cứu hồ sơ": "Dossier status switchboard",
    "Đăng nhập": "Sign in",
    "Đăng xuất": "Sign out",
    "Tên đăng nhập": "User name",
    "Mật khẩu": "Password",
    "Bảng trực": "Live board",
    "Người dùng": "Users",
    "Nhật ký thao tác": "Audit log",
    "Tra cứu tại quầy": "Counter kiosk",
    "Vai trò": "Role",
    "Trạng thái": "State",
    "Đang hoạt động": "Active",
    "Đã khoá": "Disabled",
    "Thêm người dùng": "Add a user",
    "Lưu": "Save",
    "Khoá": "Disable",
    "Mở khoá": "Enable",
    "Đặt lại mật khẩu": "Reset the password",
    "Mật khẩu mới": "New password",
    "Đổi mật khẩu": "Change password",
    "Mật khẩu hiện tại": "Current password",
    "Thời gian": "Time",
    "Người thực hiện": "Who",
    "Thao tác": "Action",
    "Đối tượng": "Target",
    "Chi tiết": "Details",
    "Địa chỉ": "Address",
    "Tên đăng nhập hoặc mật khẩu không đúng.": "Wrong user name or password.",
    "Mật khẩu đã được đổi.": "The password was changed.",
}


def add_nav(app: web.Application, entry: NavEntry) -> None:
    app[NAV].append(entry)
    app[NAV].sort(key=lambda e: (e.order, e.path))


def add_translations(app: web.Application, texts: Mapping[str, str]) -> None:
    app[TRANSLATIONS].update(texts)


async def lang_of(request: web.Request) -> str:
    session = await get_session(request)
    lang = session.get(SESSION_LANG)
    return lang if lang in LANGS else "vi"


def office_time(moment: datetime, zone: tzinfo) -> str:
    """'03/12/2026 15:40 +07:00': the one way the console shows a time (messages/formats)."""
    return formats.moment(moment, zone)


async def _context(request: web.Request) -> dict[str, Any]:
    user = current_user(request)
    lang = await lang_of(request)
    token = await csrf_token(request)
    texts = request.app[TRANSLATIONS]
    zone = request.app[ZONE]

    def translate(text: str) -> str:
        return texts.get(text, text) if lang == "en" else text

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(FORM_FIELD, token)

    nav = [
        entry
        for entry in request.app[NAV]
        if entry.role is None or (user is not None and user.can(entry.role))
    ]
    return {
        "user": user,
        "nav": nav,
        "lang": lang,
        "csrf": token,
        "csrf_field": csrf_field,
        "_": translate,
        "path": request.path,
        "when": lambda moment: office_time(moment, zone),
        "Role": Role,
    }


def setup_layout(app: web.Application, zone: tzinfo) -> None:
    app[NAV] = []
    app[TRANSLATIONS] = dict(PLATFORM_TRANSLATIONS)
    app[ZONE] = zone
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("console", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )


async def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """The template, with the page context (user, nav, lang, csrf…) filled in."""
    # The page context is made here, not by a context-processor middleware: that one
    # would run (and touch the session) on every API call and static file too.
    page = await _context(request)
    page.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, page, status=status)
    # Pages change with the user and carry the CSRF token: never cached by a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


async def static_page(request: web.Request, name: str) -> web.Response:
    """A page kept as plain HTML in console/static (no layout yet): served with the
    session's CSRF token and console.js, so its fetch() calls pass the CSRF check."""
    from importlib import resources

    html = resources.files("console").joinpath(f"static/{name}").read_text("utf-8")
    token = await csrf_token(request)
    head = (
        f'<meta name="csrf-token" content="{escape(token)}">'
        '<link rel="stylesheet" href="/static/fonts/fonts.css">'
        '<script src="/static/console.js"></script>'
    )
    html = html.replace("</head>", head + "</head>", 1)
    response = web.Response(text=html, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


__all__ = [
    "NavEntry",
    "add_nav",
    "add_translations",
    "escape",
    "render",
    "setup_layout",
    "static_page",
]
