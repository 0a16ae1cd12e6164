"""Session cookies: aiohttp-session's EncryptedCookieStorage (Fernet), with our flags.

The cookie is encrypted and authenticated with a key derived from
settings.http.session_key, HttpOnly (no script reads it), SameSite=Lax (a link
from elsewhere still opens the console signed in, but no other site's form or
fetch carries it), and Secure when the request came over TLS — directly, or
through a trusted proxy that says so — or when settings force it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import warnings

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from console.clientaddr import forwarded_tls
from console.settings import HttpSettings

log = logging.getLogger(__name__)
# aiohttp-session 2.12 keeps its storage under plain string request keys; aiohttp
# recommends RequestKey and warns once per key. Nothing to act on: ours are typed.
warnings.filterwarnings("ignore", category=NotAppKeyWarning, module="aiohttp_session")

COOKIE_NAME = "tracuu_session"


def fernet_key(secret: str) -> bytes:
    """The 32 bytes of a Fernet key from any long random string (the storage encodes them)."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def request_is_tls(request: web.Request, settings: HttpSettings) -> bool:
    if request.secure:
        return True
    return forwarded_tls(
        request.remote, request.headers.get("X-Forwarded-Proto"), settings.trusted_proxies
    )


class ConsoleCookieStorage(EncryptedCookieStorage):
    def __init__(self, settings: HttpSettings) -> None:
        if settings.session_key is None:
            # Safe (nobody knows it) but forgotten at exit: everyone signs in again.
            log.warning(
                "console: TRACUU_HTTP_SESSION_KEY is not set; sessions end when the gateway stops"
            )
            secret = secrets.token_urlsafe(32)
        else:
            secret = settings.session_key.get_secret_value()
        super().__init__(
            fernet_key(secret),
            cookie_name=COOKIE_NAME,
            max_age=settings.session_max_age_s,
            httponly=True,
            samesite="Lax",
            secure=settings.cookie_secure,
        )
        self._settings = settings

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        await super().save_session(request, response, session)
        morsel = response.cookies.get(self.cookie_name)
        if morsel is None:
            return
        secure = self._settings.cookie_secure
        if secure is None:
            secure = request_is_tls(request, self._settings)
        morsel["secure"] = secure
