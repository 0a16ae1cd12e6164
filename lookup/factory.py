"""Open the DossierLookup the settings name; close it on the way out.

    async with open_lookup(settings) as lookup:
        view = await lookup.by_code("000.00.18.H26-241129-0001")

- settings.lookup.backend == "http": lookup/http.py against an existing system;
- settings.database a postgresql:// URL: lookup/postgres.py (asyncpg);
- otherwise the SQLite file settings.sqlite_path. With create=False a missing
  file is LookupUnavailable (a mistyped path must not answer "not found" to
  everyone): readers should pass it, as `tracuu lookup` does. The default
  still creates the file, because callers outside lookup/ rely on it.

settings.lookup.second_factor sets the secret rules and lockout (lookup/lockout.py).
Opening migrates the schema: open one lookup per process and share it.

One Database per process: a gateway opens it with open_database() and passes it
as `db`; the lookup then reads through it (SqliteLookup.on / PostgresLookup.on)
instead of opening a second one on the same file or server (a second writer
thread, two more readers, another pool). A `db` of another kind or another file
(the tests' redirect of the stores to PostgreSQL while the dossiers stay in a
SQLite file) is not shared: the lookup then opens its own, as without `db`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from kernel.db import Database
from lookup.lockout import SecretPolicy
from lookup.model import Dossier, Procedure
from lookup.port import DossierLookup
from lookup.settings import LookupConfig


class DossierWriter(Protocol):
    """What import and demo data need: DossierStore (SQLite) or PostgresStore."""

    async def upsert_dossiers(self, dossiers: Iterable[Dossier], batch_size: int = ...) -> int: ...

    async def upsert_procedures(self, procedures: Iterable[Procedure]) -> int: ...

    async def close(self) -> None: ...


@asynccontextmanager
async def open_store(
    settings: LookupConfig, *, db: Database | None = None
) -> AsyncIterator[DossierWriter]:
    """The writer for settings.database (creating or upgrading its schema).

    `db`: the process's Database, written through when it is the dossier database
    itself (the SQLite file, or PostgreSQL as open_lookup decides; never closed
    here); otherwise the writer opens its own.
    """
    store: DossierWriter
    if settings.database_is_sqlite:
        from lookup.sqlite import DossierStore

        if _same_file(db, Path(settings.sqlite_path)):
            assert db is not None
            store = await DossierStore.on(db)
        else:
            store = await DossierStore.open(settings.sqlite_path)
    else:
        from lookup.postgres import PostgresStore

        if db is not None and db.backend == "postgresql":
            store = await PostgresStore.on(db)
        else:
            store = await PostgresStore.open(settings.database.get_secret_value())
    try:
        yield store
    finally:
        await store.close()


async def open_database(settings: LookupConfig, *, create: bool = True) -> Database:
    """The process's one Database (settings.database), for the stores and the lookup.

    With create=False a missing SQLite dossier file is LookupUnavailable before
    anything creates it (open_lookup's rule), unless the lookup is the HTTP one.
    """
    if settings.lookup.backend != "http" and settings.database_is_sqlite:
        from lookup.sqlite import require_file

        require_file(Path(settings.sqlite_path), create)
    return await Database.open(settings.database)


async def try_open_database(settings: LookupConfig, *, create: bool = False) -> Database | None:
    """open_database() for a command-line tool, or None when it cannot open (a missing
    file, a server down): the tool's lookup then opens its own and says why, exactly as
    without it."""
    from kernel.db import DB_ERRORS
    from lookup.port import LookupUnavailable

    unavailable: tuple[type[Exception], ...] = (LookupUnavailable, OSError, *DB_ERRORS)
    try:
        return await open_database(settings, create=create)
    except unavailable:
        return None


@asynccontextmanager
async def command_database(
    settings: LookupConfig, *, create: bool = False
) -> AsyncIterator[Database | None]:
    """A command-line tool's one Database (try_open_database), closed on every way out."""
    db = await try_open_database(settings, create=create)
    try:
        yield db
    finally:
        if db is not None:
            await db.close()


@asynccontextmanager
async def open_lookup(
    settings: LookupConfig, *, create: bool = True, db: Database | None = None
) -> AsyncIterator[DossierLookup]:
    """The reader; with create=False a missing SQLite file is LookupUnavailable.

    `db`: the process's Database (open_database), shared when it is the lookup's
    own database; the lookup never closes it.
    """
    lookup: DossierLookup
    agencies = {agency.id: agency.name for agency in settings.agencies}
    rules = settings.lookup.second_factor
    policy = SecretPolicy(rules.min_id_digits, rules.max_failures, rules.window_s, rules.lockout_s)
    place = settings.office.collection_place
    if settings.lookup.backend == "http":
        from lookup.http import HttpLookup

        lookup = await HttpLookup.open(
            settings.lookup.http, agencies=agencies, collection_place=place, zone=settings.zone
        )
    elif not settings.database_is_sqlite:
        from lookup.postgres import PostgresLookup

        if db is not None and db.backend == "postgresql":
            lookup = await PostgresLookup.on(
                db, agencies=agencies, collection_place=place, policy=policy
            )
        else:
            lookup = await PostgresLookup.open(
                settings.database.get_secret_value(),
                agencies=agencies,
                collection_place=place,
                policy=policy,
            )
    else:
        from lookup.sqlite import SqliteLookup

        path = Path(settings.sqlite_path)
        if _same_file(db, path):
            assert db is not None
            lookup = await SqliteLookup.on_file(
                db, path, agencies=agencies, collection_place=place, policy=policy, create=create
            )
        else:
            lookup = await SqliteLookup.open(
                path, agencies=agencies, collection_place=place, policy=policy, create=create
            )
    try:
        yield lookup
    finally:
        await lookup.close()


def _same_file(db: Database | None, path: Path) -> bool:
    """Whether `db` is a SQLite Database on the dossier file itself."""
    if db is None or db.backend != "sqlite":
        return False
    opened = getattr(db, "path", "")
    return bool(opened) and Path(opened).resolve() == path.resolve()
