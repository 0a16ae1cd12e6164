"""open_lookup() picks the backend from the settings."""

from pathlib import Path

import pytest

from gateway.settings import Settings
from lookup.factory import open_lookup
from lookup.http import HttpLookup
from lookup.port import LookupUnavailable
from lookup.sqlite import SqliteLookup


@pytest.fixture(autouse=True)
def no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")


async def test_sqlite_by_default_and_file_created(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "t.sqlite3"
    async with open_lookup(Settings(database=str(db))) as lookup:
        assert isinstance(lookup, SqliteLookup)
        assert await lookup.by_code("000.00.18.H26-241129-0001") is None
    assert db.exists()


async def test_http_when_configured() -> None:
    settings = Settings(
        lookup={"backend": "http", "http": {"url_template": "http://127.0.0.1:9/{code}"}}
    )
    async with open_lookup(settings) as lookup:
        assert isinstance(lookup, HttpLookup)


async def test_unreachable_postgres_is_unavailable() -> None:
    # Port 9 (discard) on loopback: nothing listens; a clear error, not a driver exception.
    with pytest.raises(LookupUnavailable, match="cannot open the PostgreSQL dossier database"):
        async with open_lookup(Settings(database="postgresql://tracuu@127.0.0.1:9/tracuu")):
            pass


async def test_a_reader_that_may_not_create_refuses_a_missing_file(tmp_path: Path) -> None:
    db = tmp_path / "typo" / "t.sqlite3"
    with pytest.raises(LookupUnavailable, match=r"does not exist: run `tracuu db init`"):
        async with open_lookup(Settings(database=str(db)), create=False):
            pass
    assert not (tmp_path / "typo").exists()


async def test_a_reader_that_may_not_create_opens_an_existing_file(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite3"
    async with open_lookup(Settings(database=str(db)), create=True):
        pass  # a writer's open (db init, import, demo seeding) made it
    async with open_lookup(Settings(database=str(db)), create=False) as lookup:
        assert await lookup.by_code("000.00.18.H26-241129-0001") is None
