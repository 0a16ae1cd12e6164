"""Settings of the shared dossier lookup (which backend, and how to reach it)."""

from typing import Literal

from pydantic import Field, SecretStr

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
    # Sent as "Authorization: Bearer <token>" when set; from the environment only.
    token: SecretStr = SecretStr("")
    # Keypad lookups build full codes: the sequence is zero-padded to this many digits.
    keypad_sequence_digits: int = Field(4, ge=4, le=6)
    # Larger answers are refused: a dossier is a few hundred bytes.
    max_response_bytes: int = Field(256 * 1024, gt=0)


class LookupSettings(Section):
    # "database": our own dossier table (SQLite file or PostgreSQL URL in Settings.database).
    backend: Literal["database", "http"] = "database"
    http: HttpLookupSettings = HttpLookupSettings()
