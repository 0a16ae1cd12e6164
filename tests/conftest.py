"""The test suite on both backends: SQLite, and TRACUU_TEST_DATABASE=postgres.

Every store a test opens goes through kernel.db's one factory (Database.open,
BlockingConnection.open). With the variable set, a SQLite path given to the factory is
served instead by a schema of one throwaway PostgreSQL server for the session
(tests/peers/postgres.py, Unix socket only): one schema per resolved path for the
whole session, so a module's fixture and its tests, a test and the threads it starts,
or a test and a `tracuu` subprocess given `tests.stores.url(path)` all see the same
rows, while tests (each with its own tmp_path) never share one. asyncpg passes
`search_path` from the URL to the server. ":memory:" gets a fresh schema per test.

Markers (pyproject.toml):
- `no_store`: the test opens no store, so it runs in the SQLite pass only (the
  PostgreSQL pass deselects it). The claim is checked: a `no_store` test that opens a
  store through the factory fails, so the marker cannot silently hide a store test
  from PostgreSQL. Unmarked tests run on both backends.
- `sqlite_only(reason)`: about SQLite itself (its file, WAL, a SQLite migration);
  skipped on PostgreSQL with the reason.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kernel import db as kernel_db
from tests import stores
from tests.peers import postgres

ON_POSTGRES = stores.ON_POSTGRES
PORT = 54339  # names the server's socket file in its own directory: no TCP port at all
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ON_POSTGRES:
        return
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        if item.get_closest_marker("no_store"):
            deselected.append(item)
            continue
        # A slow scenario on a PostgreSQL of its own (a fleet of gateways, a server
        # stopped or frozen) does not depend on the redirect: the SQLite pass has run it
        # against PostgreSQL already. Run twice at once, side by side with the SQLite
        # pass, it only doubled the load on a 2-CPU CI machine (a 120 s bound ran out).
        if item.get_closest_marker("postgres") and item.get_closest_marker("slow"):
            deselected.append(item)
            continue
        kept.append(item)
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"sqlite_only: {why}".rstrip(": ")))
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


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

    # Its own thread: the caller's loop may be running (an async fixture calls open()).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


class _Stores:
    """The session's store locations: which test opened a store, and (on PostgreSQL)
    SQLite paths -> schemas of the test server."""

    def __init__(self, server: str | None) -> None:
        self.server = server
        self.urls: dict[str, str] = {}
        self.test = ""  # the running test's node id
        self.opened = False  # whether it opened a store through the factory

    def target(self, url: object) -> object:
        self.opened = True
        if self.server is None:
            return url
        text = kernel_db._secret(url)
        return text if kernel_db.is_postgres(text) else self.url(text)

    def url(self, path: str) -> str:
        assert self.server is not None
        if path == ":memory:":
            key = f":memory: of {self.test}"
        else:
            key = str(Path(kernel_db.sqlite_path(path)).resolve())
        found = self.urls.get(key)
        if found is None:
            name = f"t{os.getpid()}_{next(_schemas)}"
            _create_schema(self.server, name)
            found = f"{self.server}&search_path={name}"
            self.urls[key] = found
        return found


@pytest.fixture(scope="session", autouse=True)
def _stores(request: pytest.FixtureRequest) -> Iterator[_Stores]:
    """Watches (and on PostgreSQL redirects) kernel.db's factory for the whole session,
    module-scoped fixtures included."""
    server = request.getfixturevalue("pg_server") if ON_POSTGRES else None
    found = _Stores(server)
    original_open = kernel_db.Database.open
    original_blocking = kernel_db.BlockingConnection.open

    async def open_db(url: object, **kwargs: Any) -> kernel_db.Database:
        return await original_open(found.target(url), **kwargs)

    def open_blocking(url: object) -> kernel_db.BlockingConnection:
        return original_blocking(found.target(url))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernel_db.Database, "open", staticmethod(open_db))
        patch.setattr(kernel_db.BlockingConnection, "open", staticmethod(open_blocking))
        if server is not None:
            from sms import link

            original_watch = link.outbox_watch

            def watch(url: object) -> object:
                return original_watch(found.target(url))

            patch.setattr(link, "outbox_watch", watch)  # the link's LISTEN, same schema
            patch.setattr(stores, "redirect", found.url)
        yield found


@pytest.fixture(autouse=True)
def _store_check(request: pytest.FixtureRequest, _stores: _Stores) -> Iterator[None]:
    _stores.test = request.node.nodeid
    _stores.opened = False
    yield
    if _stores.opened and request.node.get_closest_marker("no_store"):
        pytest.fail(
            "marked no_store but opened a store through kernel.db: remove the marker so"
            " that the test runs on PostgreSQL too",
            pytrace=False,
        )


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """Where a test's stores live: a SQLite file, or (TRACUU_TEST_DATABASE=postgres) a
    fresh PostgreSQL schema."""
    return stores.url(tmp_path / "stores.sqlite3")
