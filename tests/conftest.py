"""TRACUU_TEST_DATABASE=postgres runs the stores' tests on PostgreSQL.

One throwaway server per test session (tests/peers/postgres.py, Unix socket
only). Every store a test opens goes through kernel.db's one factory
(Database.open, BlockingConnection.open); with the variable set, a SQLite
path given to the factory is served instead by a fresh schema of that server,
one per path and test (asyncpg passes `search_path` from the URL to the
server), so the same test reads and writes the same data whichever process
or thread opens it, and no two tests share a row. `store_url` gives a test
such a URL itself.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel import db as kernel_db
from tests.peers import postgres

ON_POSTGRES = os.environ.get("TRACUU_TEST_DATABASE", "sqlite") == "postgres"
PORT = 54339
_schemas = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    if ON_POSTGRES:
        # A test that leaves a store unclosed (harmless with sqlite3, which does not warn
        # in 3.11) leaves an asyncpg connection to the garbage collector.
        config.addinivalue_line(
            "filterwarnings", "ignore:unclosed connection <asyncpg:ResourceWarning"
        )
        config.addinivalue_line(
            "filterwarnings",
            "ignore:Exception ignored in. <function Connection.__del__"
            ":pytest.PytestUnraisableExceptionWarning",
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not ON_POSTGRES:
        return
    skip = pytest.mark.skip(
        reason="sqlite_only: works on the SQLite file itself (TRACUU_TEST_DATABASE=postgres)"
    )
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    why = postgres.available()
    if why is not None:
        pytest.skip(why)
    with postgres.server(PORT) as url:
        yield url


def _create_schema(server: str, name: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f"CREATE SCHEMA {name}")
        finally:
            await conn.close()

    # Its own thread: the test's loop may be running (an async fixture calls open()).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


class _Redirect:
    """SQLite paths -> schemas of the test server, for one test."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.urls: dict[str, str] = {}

    def url(self, path: str) -> str:
        key = str(Path(kernel_db.sqlite_path(path)).resolve()) if path != ":memory:" else path
        found = self.urls.get(key)
        if found is None:
            name = f"t{os.getpid()}_{next(_schemas)}"
            _create_schema(self.server, name)
            found = f"{self.server}&search_path={name}"
            self.urls[key] = found
        return found


@pytest.fixture(autouse=True)
def _stores_on_postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if not ON_POSTGRES:
        return
    redirect = _Redirect(request.getfixturevalue("pg_server"))
    original_open = kernel_db.Database.open
    original_blocking = kernel_db.BlockingConnection.open

    def target(url: object) -> object:
        text = kernel_db._secret(url)
        return text if text.startswith(kernel_db.POSTGRES_SCHEMES) else redirect.url(text)

    async def open_db(url: object, **kwargs: Any) -> kernel_db.Database:
        return await original_open(target(url), **kwargs)

    def open_blocking(url: object) -> kernel_db.BlockingConnection:
        return original_blocking(target(url))

    def watch(url: object) -> object:
        return original_watch(target(url))

    from sms import link

    original_watch = link.outbox_watch
    monkeypatch.setattr(link, "outbox_watch", watch)  # the link's LISTEN, same schema
    monkeypatch.setattr(kernel_db.Database, "open", staticmethod(open_db))
    monkeypatch.setattr(kernel_db.BlockingConnection, "open", staticmethod(open_blocking))
    request.node.stash[_REDIRECT] = redirect


_REDIRECT = pytest.StashKey[_Redirect]()


@pytest.fixture
def store_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a test's stores live: a SQLite file, or (TRACUU_TEST_DATABASE=postgres) a
    fresh PostgreSQL schema."""
    if not ON_POSTGRES:
        return str(tmp_path / "stores.sqlite3")
    return request.node.stash[_REDIRECT].url(str(tmp_path / "stores.sqlite3"))
