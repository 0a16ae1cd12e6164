"""The one typed settings object, read once at start-up.

Sources, highest first: constructor arguments, TRACUU_* environment variables,
then the TOML file named by TRACUU_CONFIG (default ./tracuu.toml if present).
Nested sections read from the environment with one underscore after the
section name: TRACUU_AGI_PORT -> agi.port, TRACUU_SMPP_SYSTEM_ID -> smpp.system_id.
Lists and maps are JSON in the environment (TRACUU_AGENCIES='[{"id": ...}]').
Secrets (SecretStr) belong in the environment, never in the repository.
Nothing else in the code base reads os.environ.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from console.config_view import OriginOf
from console.settings import HttpSettings
from gateway.provenance import origins
from ivr.settings import AgiSettings, AmiSettings
from kernel.dsn import DatabaseUrl
from kernel.office import Agency, OfficeSettings
from lookup.settings import LookupSettings
from prompts.settings import SoundsSettings
from sms.settings import SmppSettings, SmsSettings

DEMO_AGENCIES = (
    Agency(id="000.00.18.H26", name="UBND phường Cửa Nam"),
    Agency(id="000.00.19.H26", name="UBND phường Hoàn Kiếm"),
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRACUU_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        # docker-compose passes unset variables as "": treat them as unset.
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
    )

    # A SQLite path, or a postgresql:// URL (its password never shown: kernel/dsn.py).
    database: DatabaseUrl = DatabaseUrl("var/tracuu.sqlite3")
    timezone: str = "Asia/Ho_Chi_Minh"
    # Spoken numbers: north says "linh"/"nghìn", south "lẻ"/"ngàn".
    region: Literal["north", "south"] = "north"
    agencies: tuple[Agency, ...] = DEMO_AGENCIES
    office: OfficeSettings = OfficeSettings()
    lookup: LookupSettings = LookupSettings()
    agi: AgiSettings = AgiSettings()
    ami: AmiSettings = AmiSettings()
    smpp: SmppSettings = SmppSettings()
    sms: SmsSettings = SmsSettings()
    sounds: SoundsSettings = SoundsSettings()
    http: HttpSettings = HttpSettings()
    demo: bool = False
    # This gateway's name on every console's board when several share one database
    # (TRACUU_INSTANCE=gw1). Unset: host:port of its console (console/board_registry.py).
    instance: str = ""
    # "json": one JSON object a log line, for a log collector (TRACUU_LOG_FORMAT=json).
    log_format: Literal["text", "json"] = "text"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("agencies")
    @classmethod
    def _some_agency(cls, value: tuple[Agency, ...]) -> tuple[Agency, ...]:
        if not value:
            raise ValueError("at least one agency is needed")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def database_is_sqlite(self) -> bool:
        return self.database.is_sqlite

    @property
    def sqlite_path(self) -> Path:
        return self.database.sqlite_path

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("TRACUU_CONFIG", "tracuu.toml")
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file)


def config_origins(settings: Settings) -> OriginOf:
    """Where each of `settings` came from, for the console's /settings page."""
    toml_file = Path(os.environ.get("TRACUU_CONFIG", "tracuu.toml"))
    return origins(settings, dict(os.environ), toml_file)


def load_settings(**overrides: object) -> Settings:
    """Build the settings once; the CLI passes overrides such as demo=True."""
    return Settings(**overrides)  # type: ignore[arg-type]
