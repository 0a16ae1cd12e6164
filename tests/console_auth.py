"""Signing a test client into the console as a user of some role (real sign-in form)."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from console.access import ACCOUNTS
from console.passwords import Passwords
from console.roles import Role
from console.signin import PASSWORDS

PASSWORD = "mật khẩu thử nghiệm"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def cheap_passwords(app: web.Application) -> web.Application:
    """Argon2id at its cheapest for tests that sign in many times (before the app starts)."""
    app[PASSWORDS] = Passwords(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    return app


async def add_user(client: TestClient, name: str, role: Role, password: str = PASSWORD) -> None:
    app = client.server.app
    hashed = await app[PASSWORDS].hash(password)
    await app[ACCOUNTS].add_user(name, role, hashed)


async def csrf_token(client: TestClient, path: str = "/login") -> str:
    """The session's CSRF token, as a page gives it to its scripts."""
    page = await client.get(path)
    found = _META.search(await page.text())
    assert found, f"no csrf-token meta on {path} ({page.status})"
    return found.group(1)


async def sign_in(
    client: TestClient,
    role: Role = Role.OPERATOR,
    name: str | None = None,
    *,
    send_token: bool = False,
) -> str:
    """Create a user of `role` and sign in through the form; return the CSRF token.

    send_token: every later request of this client carries the token as the
    X-CSRF-Token header, as console.js does for a page's fetch() calls."""
    name = name or f"{role.key}1"
    await add_user(client, name, role)
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        data={"name": name, "password": PASSWORD, "next": "/", "_csrf": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    token = await csrf_token(client, "/account")
    if send_token:
        client.session.headers["X-CSRF-Token"] = token
    return token
