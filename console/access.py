"""Who may open each route: every handler declares it, and a middleware enforces it.

Declare on the handler, next to its code:

    @requires(Role.EDITOR)          # signed in, with this role or a higher one
    async def approve(request): ...

    @public                         # anyone (kiosk, public look-up, health, sign-in)
    async def kiosk(request): ...

    @token_only                     # the push API: a bearer token, no cookie, no CSRF
    async def dossier_events(request): ...

    @token_or(Role.OPERATOR)        # /metrics: Prometheus's bearer token, or a signed-in
    async def metrics(request): ...  # user with the role (no redirect: 401 to a scraper)

A route whose handler declares nothing is refused (403) for everyone and logged:
a forgotten declaration fails closed. Static files (/static/) are public: they
hold no data. A signed-out visitor of a page is sent to /login?next=...; an
API call gets 401 (JSON), a signed-in user without the role 403.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar
from urllib.parse import quote

from aiohttp import web
from aiohttp.web_urldispatcher import StaticResource
from aiohttp_session import get_session
from pydantic import SecretStr

from console.accounts import AccountStore, User
from console.roles import Role

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

ACCOUNTS = web.AppKey("accounts", AccountStore)
USER = web.RequestKey[User | None]("user")
CLIENT = web.RequestKey("client", str)  # the client's address (console/clientaddr.py)
SESSION_USER = "uid"
SESSION_EPOCH = "epoch"
# The bearer token of @token_or routes (settings.http.metrics_token); absent: only the role.
SCRAPE_TOKEN = web.AppKey("scrape_token", SecretStr)


@dataclass(frozen=True, slots=True)
class Access:
    kind: Literal["public", "role", "token", "token_or_role"]
    role: Role | None = None


_ATTRIBUTE = "__console_access__"
PUBLIC = Access("public")
TOKEN = Access("token")


def requires(role: Role) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, Access("role", role))
        return handler

    return mark


def public(handler: H) -> H:
    setattr(handler, _ATTRIBUTE, PUBLIC)
    return handler


def token_only(handler: H) -> H:
    setattr(handler, _ATTRIBUTE, TOKEN)
    return handler


def token_or(role: Role) -> Callable[[H], H]:
    """A machine with the bearer token (a Prometheus scrape), or a signed-in user with `role`."""

    def mark(handler: H) -> H:
        setattr(handler, _ATTRIBUTE, Access("token_or_role", role))
        return handler

    return mark


def bearer_matches(request: web.Request, secret: SecretStr) -> bool:
    """Whether the request carries `Authorization: Bearer <secret>` (constant-time compare)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = secret.get_secret_value().encode("utf-8")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode("utf-8"), expected
    )


def access_of(route: web.AbstractRoute) -> Access | None:
    """The declared access of a route (None: not declared, refused)."""
    if isinstance(route.resource, StaticResource):
        return PUBLIC
    return getattr(route.handler, _ATTRIBUTE, None)


def current_user(request: web.Request) -> User | None:
    return request.get(USER)


def client_of(request: web.Request) -> str:
    return request.get(CLIENT) or request.remote or "-"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


def deny(request: web.Request, status: int, message: str) -> web.Response:
    if wants_json(request):
        return web.json_response({"error": message}, status=status, dumps=_dumps)
    return web.Response(status=status, text=message, content_type="text/plain", charset="utf-8")


async def load_user(request: web.Request) -> User | None:
    """The signed-in user of this request's session, if the account still allows it."""
    session = await get_session(request)
    user_id = session.get(SESSION_USER)
    if not isinstance(user_id, int):
        return None
    user = await request.app[ACCOUNTS].user(user_id)
    if user is None or user.disabled or user.session_epoch != session.get(SESSION_EPOCH):
        session.pop(SESSION_USER, None)  # a password change or disabling ended this session
        session.pop(SESSION_EPOCH, None)
        return None
    return user


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    access = access_of(route)
    if request.match_info.http_exception is not None:  # 404/405: nothing to guard
        request[USER] = None
        return await handler(request)
    if access is None:
        log.error("console: route %s %s declares no access; refused", request.method, request.path)
        request[USER] = None
        return deny(request, 403, "Không được phép.")
    if access.kind == "token":
        request[USER] = None  # never a cookie session on the token API
        return await handler(request)
    if access.kind == "token_or_role":
        return await _token_or_role(request, handler, access)
    request[USER] = await load_user(request)
    if access.kind == "role":
        assert access.role is not None
        user = request[USER]
        if user is None:
            if wants_json(request) or request.method != "GET":
                return deny(request, 401, "Cần đăng nhập.")
            raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))
        if not user.can(access.role):
            return deny(request, 403, "Tài khoản của bạn không có quyền mở trang này.")
    return await handler(request)


def _unauthorised(request: web.Request) -> web.Response:
    response = deny(request, 401, "Cần đăng nhập hoặc mã truy cập (Bearer).")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _token_or_role(
    request: web.Request, handler: Handler, access: Access
) -> web.StreamResponse:
    # A scraper is never redirected to the sign-in page: it would read the page as a
    # malformed scrape. It gets 401 and says so in its target's state.
    if "Authorization" in request.headers:
        request[USER] = None  # a machine: no cookie session beside the token
        secret = request.app.get(SCRAPE_TOKEN)
        if secret is not None and bearer_matches(request, secret):
            return await handler(request)
        log.warning("console: refused %s %s (bearer token)", request.method, request.path)
        return _unauthorised(request)
    request[USER] = user = await load_user(request)
    assert access.role is not None
    if user is None:
        return _unauthorised(request)
    if not user.can(access.role):
        return deny(request, 403, "Tài khoản của bạn không có quyền mở trang này.")
    return await handler(request)
