"""CSRF protection for every state-changing request of a signed-in browser.

Each session holds a random token. Pages put it in a hidden form field
(`_csrf`, see templates/base.html's `csrf_field()`) and in
`<meta name="csrf-token">`, which static/console.js adds to every fetch() as the
X-CSRF-Token header. A POST, PUT, PATCH or DELETE without the session's token is
refused with 403, whatever its route, except the token-authenticated push API
(it carries no cookie, so a forged request has nothing to ride on).
SameSite=Lax cookies are the second line, not the only one.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web
from aiohttp_session import get_session

from console.access import TOKEN, Handler, access_of, deny

SESSION_KEY = "csrf"
FORM_FIELD = "_csrf"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def csrf_token(request: web.Request) -> str:
    """This session's token (made on first use)."""
    session = await get_session(request)
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


async def _sent_token(request: web.Request) -> str:
    header = request.headers.get(HEADER)
    if header:
        return header
    if request.content_type in _FORMS:
        form = await request.post()  # cached: the handler reads the same form again
        value = form.get(FORM_FIELD)
        if isinstance(value, str):
            return value
    return ""


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS or request.match_info.http_exception is not None:
        return await handler(request)
    if access_of(request.match_info.route) == TOKEN:
        return await handler(request)
    session = await get_session(request)
    expected = session.get(SESSION_KEY)
    sent = await _sent_token(request)
    if not isinstance(expected, str) or not hmac.compare_digest(
        sent.encode("utf-8"), expected.encode("utf-8")
    ):
        return deny(
            request, 403, "Phiên làm việc đã hết hạn hoặc yêu cầu không hợp lệ. Hãy tải lại trang."
        )
    return await handler(request)
