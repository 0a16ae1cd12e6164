"""The admins' read-only view of the configuration the gateway runs with (/settings).

The console never imports the settings aggregate (gateway/ does): it walks any
pydantic model it is handed, section by section, and asks `origin` where each value
came from. Secrets (SecretStr, a database URL's password, names that say password,
token, secret or key) are shown only as set / not set, never their value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, SecretStr

from console.access import requires
from console.layout import NavEntry, add_nav, add_translations, render
from console.roles import Role

# (kind, detail): kind is "env", "toml", "start" or "default"; detail names the variable
# or file. None: where it came from is not known (a settings object built in a test).
Origin = tuple[str, str]
OriginOf = Callable[[tuple[str, ...]], Origin | None]
Effective = tuple[BaseModel, OriginOf]

CONFIG = web.AppKey[Callable[[], Effective] | None]("config")
SET, NOT_SET = "đã đặt", "chưa đặt"
_SECRET_WORDS = ("password", "token", "secret", "session_key", "api_key")
GENERAL = "chung"
ORIGIN_LABELS = {
    "env": "biến môi trường",
    "toml": "tệp TOML",
    "start": "tham số khởi động",
    "default": "mặc định",
}


@dataclass(frozen=True)
class Row:
    key: str
    value: str
    secret: bool
    origin: Origin | None


@dataclass
class Section:
    name: str
    rows: list[Row] = field(default_factory=list)


def _secret_name(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _shown(value: Any) -> tuple[str, bool]:
    """The value as the page shows it, and whether it is a secret (then only set/not set)."""
    if isinstance(value, SecretStr):
        return (SET if value.get_secret_value() else NOT_SET), True
    if value is None:
        return "—", False
    if isinstance(value, bool):
        return ("true" if value else "false"), False
    if isinstance(value, str | int | float):
        return str(value), False
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), ensure_ascii=False), False
    if isinstance(value, tuple | list | set | frozenset):
        return ", ".join(_shown(item)[0] for item in value) or "—", False
    if isinstance(value, Mapping):
        shown = {str(k): _shown(v)[0] for k, v in value.items()}
        return json.dumps(shown, ensure_ascii=False), False
    return str(value), False  # a DatabaseUrl, a network, a path: their str is safe


def _rows(
    prefix: tuple[str, ...], model: BaseModel, origin_of: OriginOf, rows: list[Row]
) -> list[Section]:
    """Rows of `model`'s plain fields; nested models and lists of models come back as
    sections of their own (an SMSC bind, an agency)."""
    nested: list[Section] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = (*prefix, name)
        key = name  # the section's heading says where it sits
        origin = origin_of(path)
        if isinstance(value, BaseModel):
            sub = Section(".".join(path))
            nested.append(sub)
            nested.extend(_rows(path, value, origin_of, sub.rows))
        elif isinstance(value, tuple) and value and all(isinstance(v, BaseModel) for v in value):
            for index, item in enumerate(value):
                label = getattr(item, "id", None) or getattr(item, "name", None) or str(index)
                sub = Section(f"{'.'.join(path)}[{label}]")
                nested.append(sub)
                nested.extend(_rows((*path, str(index)), item, _fixed(origin), sub.rows))
        elif isinstance(value, Mapping) and any(isinstance(v, SecretStr) for v in value.values()):
            for item, secret in value.items():
                rows.append(Row(f"{key}[{item}]", _shown(secret)[0], True, origin))
            if not value:
                rows.append(Row(key, "—", False, origin))
        else:
            shown, secret = _shown(value)
            if not secret and isinstance(value, str) and _secret_name(name):
                shown, secret = (SET if value else NOT_SET), True
            rows.append(Row(key, shown, secret, origin))
            if getattr(value, "is_sqlite", True) is False:  # a PostgreSQL DatabaseUrl
                word = SET if value.masked() != value.get_secret_value() else NOT_SET
                rows.append(Row(f"{key} (mật khẩu)", word, True, origin))
    return nested


def _fixed(origin: Origin | None) -> OriginOf:
    """A list item's fields came from wherever the whole list did."""
    return lambda _path: origin


def describe(settings: BaseModel, origin_of: OriginOf) -> list[Section]:
    """The settings as sections: the top-level plain values first ("chung"), then each
    section and its nested parts in the order the settings declare them."""
    general = Section(GENERAL)
    nested = _rows((), settings, origin_of, general.rows)
    return [general, *nested]


@requires(Role.ADMIN)
async def settings_page(request: web.Request) -> web.StreamResponse:
    config = request.app.get(CONFIG)
    sections = describe(*config()) if config is not None else None
    return await render(
        request, "settings.html", {"sections": sections, "origin_labels": ORIGIN_LABELS}
    )


def add_routes(app: web.Application, config: Callable[[], Effective] | None) -> None:
    app[CONFIG] = config
    app.router.add_get("/settings", settings_page)
    add_nav(app, NavEntry("/settings", "Cấu hình", "Settings", Role.ADMIN, order=85))
    add_translations(
        app,
        {
            "Cấu hình": "Settings",
            "Cấu hình đang chạy": "Effective configuration",
            "Thiết lập": "Setting",
            "Giá trị": "Value",
            "Nguồn": "Source",
            "biến môi trường": "environment",
            "tệp TOML": "TOML file",
            "mặc định": "default",
            "tham số khởi động": "start-up argument",
            "không rõ": "unknown",
            "đã đặt": "set",
            "chưa đặt": "not set",
            "Không có thông tin cấu hình.": "No configuration information.",
        },
    )
