"""open_lookup() picks the backend from the settings."""

import threading
from pathlib import Path

import pytest

from gateway.settings import Settings
from lookup.factory import open_database, open_lookup
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


@pytest.mark.sqlite_only("one SQLite Database for the stores and the dossier file")
async def test_a_gateway_process_holds_one_database_for_stores_and_lookup(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    settings = Settings(database=str(path))
    db = await open_database(settings)
    try:
        async with open_lookup(settings, create=False, db=db) as lookup:
            assert isinstance(lookup, SqliteLookup)
            assert await lookup.by_code("000.00.18.H26-241129-0001") is None
            writers = [t for t in threading.enumerate() if t.name == f"db-writer {path}"]
            assert len(writers) == 1  # not a second writer thread on the same file
        assert await db.fetchval("SELECT count(*) FROM dossier") == 0  # still open: the owner's
    finally:
        await db.close()


async def test_the_process_database_refuses_a_missing_dossier_file_before_creating_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "typo" / "t.sqlite3"
    with pytest.raises(LookupUnavailable, match=r"does not exist: run `tracuu db init`"):
        await open_database(Settings(database=str(path)), create=False)
    assert not (tmp_path / "typo").exists()


async def test_a_database_on_another_file_is_not_shared(tmp_path: Path) -> None:
    stores = await open_database(Settings(database=str(tmp_path / "stores.sqlite3")))
    dossiers = tmp_path / "dossiers.sqlite3"
    try:
        async with open_lookup(Settings(database=str(dossiers)), db=stores) as lookup:
            assert await lookup.by_code("000.00.18.H26-241129-0001") is None
            assert dossiers.exists()
        assert await stores.fetchval("SELECT 1") == 1
    finally:
        await stores.close()
