"""Open the DossierLookup the settings name; close it on the way out.

    async with open_lookup(settings) as lookup:
        view = await lookup.by_code("000.00.18.H26-241129-0001")

- settings.lookup.backend == "http": lookup/http.py against an existing system;
- settings.database a postgresql:// URL: not supported yet (a clear error);
- otherwise the SQLite file settings.sqlite_path (created with its schema).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.settings import Settings
from lookup.port import DossierLookup


class BackendNotSupported(Exception):
    """The configured backend exists in the settings but not (yet) in the code."""


@asynccontextmanager
async def open_lookup(settings: Settings) -> AsyncIterator[DossierLookup]:
    lookup: DossierLookup
    agencies = {agency.id: agency.name for agency in settings.agencies}
    if settings.lookup.backend == "http":
        from lookup.http import HttpLookup

        lookup = await HttpLookup.open(
            settings.lookup.http,
            agencies=agencies,
            collection_place=settings.office.collection_place,
            zone=settings.zone,
        )
    elif not settings.database_is_sqlite:
        raise BackendNotSupported(
            "a PostgreSQL database is not supported yet; set TRACUU_DATABASE to a SQLite path"
        )
    else:
        from lookup.sqlite import SqliteLookup

        lookup = await SqliteLookup.open(
            settings.sqlite_path,
            agencies=agencies,
            collection_place=settings.office.collection_place,
        )
    try:
        yield lookup
    finally:
        await lookup.close()
