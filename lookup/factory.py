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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Protocol

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
async def open_store(settings: LookupConfig) -> AsyncIterator[DossierWriter]:
    """The writer for settings.database (creating or upgrading its schema)."""
    store: DossierWriter
    if settings.database_is_sqlite:
        from lookup.sqlite import DossierStore

        store = await DossierStore.open(settings.sqlite_path)
    else:
        from lookup.postgres import PostgresStore

        store = await PostgresStore.open(settings.database.get_secret_value())
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_lookup(
    settings: LookupConfig, *, create: bool = True
) -> AsyncIterator[DossierLookup]:
    """The reader; with create=False a missing SQLite file is LookupUnavailable."""
    lookup: DossierLookup
    agencies = {agency.id: agency.name for agency in settings.agencies}
    rules = settings.lookup.second_factor
    policy = SecretPolicy(rules.min_id_digits, rules.max_failures, rules.window_s, rules.lockout_s)
    if settings.lookup.backend == "http":
        from lookup.http import HttpLookup

        lookup = await HttpLookup.open(
            settings.lookup.http,
            agencies=agencies,
            collection_place=settings.office.collection_place,
            zone=settings.zone,
        )
    elif not settings.database_is_sqlite:
        from lookup.postgres import PostgresLookup

        lookup = await PostgresLookup.open(
            settings.database.get_secret_value(),
            agencies=agencies,
            collection_place=settings.office.collection_place,
            policy=policy,
        )
    else:
        from lookup.sqlite import SqliteLookup

        lookup = await SqliteLookup.open(
            settings.sqlite_path,
            agencies=agencies,
            collection_place=settings.office.collection_place,
            policy=policy,
            create=create,
        )
    try:
        yield lookup
    finally:
        await lookup.close()
