"""Settings of the operator console: where it listens, sessions, proxies, the push API.

Everything lives under [http]: TRACUU_HTTP_PORT=8080,
TRACUU_HTTP_SESSION_KEY=<a long random string>, TRACUU_HTTP_TRUSTED_PROXIES='["127.0.0.1"]',
TRACUU_HTTP_API_TOKEN=<the one-stop system's token>,
TRACUU_HTTP_METRICS_TOKEN=<Prometheus's bearer token for /metrics>.
Secrets come from the environment only.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Protocol

from pydantic import Field, SecretStr, field_validator

from ivr.settings import VoiceConfig
from kernel.section import Section
from sms.settings import SmsConfig

Network = IPv4Network | IPv6Network


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (tests)
    # Encrypts the session cookies (any random string of 32+ characters, e.g.
    # `python3 -c "import secrets; print(secrets.token_urlsafe(32))"`). Unset: a new key
    # at every start, so everyone signs in again after a restart.
    session_key: SecretStr | None = None
    session_max_age_s: int = Field(12 * 3600, ge=60)
    # Secure cookies: None = when the request came over TLS (directly, or through a
    # trusted proxy that says X-Forwarded-Proto: https); True/False to force.
    cookie_secure: bool | None = None
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (addresses or networks). Everyone else is taken as the client itself.
    trusted_proxies: tuple[Network, ...] = ()
    # Bearer token of the one-stop system that pushes dossier events
    # (POST /api/dossier-events). Unset: that endpoint refuses every request.
    api_token: SecretStr | None = None
    # Bearer token Prometheus sends for /metrics (its scrape config's
    # `authorization: {credentials_file: ...}`). Unset: only signed-in operators see it.
    metrics_token: SecretStr | None = None
    # Public look-ups (kiosk, GET /api/dossiers/{code}) per client address and minute.
    public_lookups_per_minute: int = Field(30, ge=1)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.replace(",", " ").split() if part]
        if isinstance(value, list | tuple):
            return tuple(ip_network(str(item), strict=False) for item in value)
        return value

    @field_validator("session_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("session_key needs at least 32 characters")
        return value

    @field_validator("api_token", "metrics_token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 24:
            raise ValueError("the token needs at least 24 characters")
        return value


class ConsoleConfig(VoiceConfig, SmsConfig, Protocol):
    """What the console and `tracuu user` read of the settings aggregate
    (gateway.settings.Settings fits): its own [http], and what try-a-call and
    try-an-SMS hand to the voice and SMS sides."""

    @property
    def http(self) -> HttpSettings: ...
