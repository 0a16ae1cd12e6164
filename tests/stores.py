"""What a test needs to work with its stores the same way on either backend.

The test suite runs twice (`bash scripts/bootstrap test`): on SQLite, then with
TRACUU_TEST_DATABASE=postgres, where tests/conftest.py serves every SQLite path given
to kernel.db's factory from a schema of a throwaway PostgreSQL server instead. A test
names its stores by SQLite paths as ever; these helpers keep it backend-agnostic:

- `url(path)`: the location to give a subprocess (`TRACUU_DATABASE`), a config file or
  anything that does not call the factory in this process: the path itself on SQLite,
  its schema's URL on PostgreSQL (the same rows the test's own stores see).
- `rows`, `execute`: read or write a store's tables directly, to set up or inspect
  what the code under test cannot show (through the factory, so on the same backend).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from kernel import db as kernel_db

ON_POSTGRES = os.environ.get("TRACUU_TEST_DATABASE", "sqlite") == "postgres"

# Set by tests/conftest.py for the PostgreSQL pass: a SQLite path -> its schema's URL.
redirect: Callable[[str], str] | None = None


def url(path: str | Path) -> str:
    """Where the store at `path` lives for this test run, as a string a process of its
    own can open (TRACUU_DATABASE, `database =` in tracuu.toml)."""
    text = str(path)
    if redirect is None or kernel_db.is_postgres(text):
        return text
    return redirect(text)


def rows(database: str | Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Every row of a query on the store at `database`, as plain tuples."""
    conn = kernel_db.BlockingConnection.open(database)
    try:
        return [tuple(row) for row in conn.fetchall(sql, params)]
    finally:
        conn.close()


def execute(database: str | Path, sql: str, params: Sequence[Any] = ()) -> None:
    """One statement on the store at `database`, committed."""
    executemany(database, sql, [params])


def executemany(database: str | Path, sql: str, params: Iterable[Sequence[Any]]) -> None:
    """One statement for each set of params on the store at `database`, in one
    transaction."""
    conn = kernel_db.BlockingConnection.open(database)
    try:
        conn.begin()
        conn.executemany(sql, params)
        conn.commit()
    finally:
        conn.close()


def watch_databases(monkeypatch: Any) -> list[kernel_db.Database]:
    """Every kernel.db Database opened from now on in this process (through the factory or
    an adapter's own open, on either backend), in order: to check that a process holds
    one per database and closes it (`_closed`)."""
    from kernel.db_postgres import PostgresDatabase

    opened: list[kernel_db.Database] = []
    for cls, name in ((kernel_db.SqliteDatabase, "open_path"), (PostgresDatabase, "open_url")):
        original = getattr(cls, name)

        async def watched(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            db = await _original(*args, **kwargs)
            opened.append(db)
            return db

        monkeypatch.setattr(cls, name, staticmethod(watched))
    return opened
