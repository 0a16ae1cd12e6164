"""Where the data lives: a SQLite path or a PostgreSQL URL, whose password is never shown.

`settings.database` is one of these. Printing it, logging it, `repr` of the
settings and their JSON all show `postgresql://tracuu:***@db/tracuu`; only
`get_secret_value()` gives the whole URL, for the driver that connects (like
pydantic's SecretStr, but the rest of the URL stays readable: which database a
message is about matters to the person reading it). Refuses: connecting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_PREFIX = "sqlite:///"


class DatabaseUrl:
    """A SQLite file path (optionally sqlite:///path) or a postgresql:// URL."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Path) -> None:
        self._value = str(value)

    def get_secret_value(self) -> str:
        """The whole URL, password included: for the driver, never for a message."""
        return self._value

    @property
    def is_sqlite(self) -> bool:
        return not self._value.startswith(POSTGRES_SCHEMES)

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file. A PostgreSQL URL has none: taking it for a path once wrote a
        private SQLite outbox named 'postgresql:/...' in the working directory."""
        if not self.is_sqlite:
            raise ValueError(f"{self.masked()} is a PostgreSQL URL, not a SQLite file")
        return Path(self._value.removeprefix(SQLITE_PREFIX))

    def masked(self) -> str:
        """The URL as people may read it: the password (if any) replaced by ***."""
        if self.is_sqlite:
            return self._value
        parts = urlsplit(self._value)
        if parts.password is None:
            return self._value
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 address goes back into brackets
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = f"{user}:***@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.masked()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseUrl) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Accepts a str, a Path or a DatabaseUrl; JSON and model_dump(mode="json") show
        the masked form, as SecretStr shows its stars."""
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda url: url.masked(), when_used="json"
            ),
        )

    @classmethod
    def _validate(cls, value: object) -> DatabaseUrl:
        if isinstance(value, DatabaseUrl):
            return value
        if isinstance(value, str | Path) and str(value).strip():
            return cls(str(value).strip() if isinstance(value, str) else value)
        raise ValueError("a SQLite file path or a postgresql:// URL is needed")
