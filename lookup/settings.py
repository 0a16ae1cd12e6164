"""Settings of the shared dossier lookup (which backend, and how to reach it)."""

from typing import Literal

from pydantic import Field

from gateway.section import Section


class HttpLookupSettings(Section):
    """An existing one-stop system reached over HTTP (lookup/http.py)."""

    # {code} is replaced by the URL-quoted dossier code.
    url_template: str = ""
    # Our field name -> the remote JSON field (dotted paths allowed, e.g. "data.MaHoSo").
    field_map: dict[str, str] = Field(default_factory=dict)
    # Remote status value -> national status code 1..10 (on top of the built-in vocabularies).
    status_map: dict[str, int] = Field(default_factory=dict)
    timeout_s: float = Field(2.0, gt=0)


class LookupSettings(Section):
    # "database": our own dossier table (SQLite file or PostgreSQL URL in Settings.database).
    backend: Literal["database", "http"] = "database"
    http: HttpLookupSettings = HttpLookupSettings()
