"""settings.database never shows a PostgreSQL URL's password (kernel/dsn.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.settings import Settings
from kernel.dsn import DatabaseUrl

pytestmark = pytest.mark.no_store

URL = "postgresql://tracuu:s3cr3t-pw@db.internal:5432/tracuu?sslmode=require"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_DATABASE", URL)  # the environment variable keeps its name
    return Settings()


def test_repr_str_json_and_logs_never_show_the_password(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    masked = "postgresql://tracuu:***@db.internal:5432/tracuu?sslmode=require"
    assert str(settings.database) == masked
    assert f"{settings.database}" == masked
    assert repr(settings.database) == f"DatabaseUrl({masked!r})"
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s / %r", settings, settings)
    for shown in (repr(settings), str(settings), settings.model_dump_json(), caplog.text):
        assert "s3cr3t-pw" not in shown
    assert masked in settings.model_dump_json()


def test_the_driver_still_gets_the_whole_url(settings: Settings) -> None:
    assert settings.database.get_secret_value() == URL
    assert not settings.database_is_sqlite


def test_sqlite_paths_read_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    settings = Settings(database=tmp_path / "t.sqlite3")
    assert settings.database_is_sqlite
    assert settings.sqlite_path == tmp_path / "t.sqlite3"
    assert str(settings.database) == str(tmp_path / "t.sqlite3")
    assert DatabaseUrl("sqlite:///var/x.sqlite3").sqlite_path == Path("var/x.sqlite3")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgres://u@h/db", "postgres://u@h/db"),  # no password: nothing to hide
        ("postgresql://u:p@[::1]:5433/db", "postgresql://u:***@[::1]:5433/db"),
        ("postgresql://:p@h/db", "postgresql://:***@h/db"),
    ],
)
def test_masking_keeps_the_rest_of_the_url(url: str, masked: str) -> None:
    assert DatabaseUrl(url).masked() == masked


def test_an_empty_database_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(ValidationError, match="SQLite file path or a postgresql:// URL"):
        Settings(database=" ")
