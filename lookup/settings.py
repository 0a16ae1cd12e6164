"""Settings of the shared dossier lookup (which backend, and how to reach it)."""

from pathlib import Path
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr

from kernel.dsn import DatabaseUrl
from kernel.office import Agency, OfficeSettings
from kernel.section import Section


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


class SecondFactorSettings(Section):
    """Secrets that unlock the applicant's name (lookup/lockout.py).

    A secret is the receipt PIN or at least `min_id_digits` trailing digits of
    the ID number. `max_failures` wrong secrets within `window_s` lock secret
    checks for that dossier for `lockout_s` (every caller, kept in the database).
    """

    min_id_digits: int = Field(6, ge=4, le=12)
    max_failures: int = Field(5, ge=1)
    window_s: float = Field(24 * 3600.0, gt=0)
    lockout_s: float = Field(24 * 3600.0, gt=0)


class LookupSettings(Section):
    # "database": our own dossier table (SQLite file or PostgreSQL URL in Settings.database).
    backend: Literal["database", "http"] = "database"
    http: HttpLookupSettings = HttpLookupSettings()
    second_factor: SecondFactorSettings = SecondFactorSettings()


class LookupConfig(Protocol):
    """What opening the lookup reads of the settings aggregate (gateway.settings.Settings
    fits): lookup/ takes this slice, never the aggregate, so it imports no composition root."""

    @property
    def database(self) -> DatabaseUrl: ...

    @property
    def database_is_sqlite(self) -> bool: ...

    @property
    def sqlite_path(self) -> Path: ...

    @property
    def agencies(self) -> tuple[Agency, ...]: ...

    @property
    def office(self) -> OfficeSettings: ...

    @property
    def lookup(self) -> LookupSettings: ...

    @property
    def zone(self) -> ZoneInfo: ...
