"""The prompts' way to the database from a worker thread or the CLI, never the loop.

Rendering, importing and approving are blocking work (ffmpeg, files) that runs in
worker threads (prompts/service.py, console/studio.py) or in the CLI; their
database steps go through the process's one kernel.db Database with
run_blocking(), which refuses to run on the event loop. The CLI and tests, which
have no Database yet, open one with PromptDb.open() (kernel.db's factory, so the
PostgreSQL test pass redirects it like every other store).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from kernel.db import DB_ERRORS, Conn, Database
from prompts.schema import COMPONENT, STEPS

T = TypeVar("T")


async def migrate(db: Database) -> None:
    """The prompts' tables (idempotent: the composition root and each opener call it)."""
    await db.migrate(COMPONENT, STEPS)


def _blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end from synchronous code, whether or not this thread has
    a running loop (a test's): on a private loop in a helper thread."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="promptdb") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


class PromptDb:
    """Synchronous jobs on a Database: `run(job)` is job(conn) in one write transaction."""

    def __init__(self, db: Database, *, owned: bool = False) -> None:
        self.db = db
        self._owned = owned

    @property
    def backend(self) -> str:
        return self.db.backend

    @classmethod
    def open(cls, location: object) -> PromptDb:
        """Open (and migrate) a Database of its own: for the CLI and tests. Close it."""

        async def go() -> Database:
            db = await Database.open(location)
            try:
                await migrate(db)
            except BaseException:
                await db.close()
                raise
            return db

        return cls(_blocking(go), owned=True)

    @classmethod
    def adopt(cls, db: Database) -> PromptDb:
        """On a Database the caller opened (migrated here): close() then closes it. For a
        command that opened its one Database for the lookup too."""

        async def go() -> None:
            try:
                await migrate(db)
            except BaseException:
                await db.close()  # owned from here on, whatever happens
                raise

        _blocking(go)
        return cls(db, owned=True)

    def run(self, job: Callable[[Conn], T]) -> T:
        return self.db.run_blocking(job)

    def close(self) -> None:
        """Close the Database if this object opened it (a shared one is its owner's)."""
        if self._owned:
            self._owned = False
            _blocking(self.db.close)


_UNREADABLE: tuple[type[Exception], ...] = (OSError, *DB_ERRORS)


async def dynamic_texts(location: object) -> dict[str, str]:
    """Prompt id -> text of the free texts rendered or recorded so far, from the database
    at `location` (settings.database), or from `location` itself when it is a Database
    (the process's own, left open); {} when it cannot say (no prompts table yet, the
    database unreachable). For readers that hold no Database (`tracuu call`) and the
    console's try-a-call."""
    from prompts import rows

    if isinstance(location, Database):
        try:
            return await location.read(rows.dynamic)
        except _UNREADABLE:
            return {}
    try:
        db = await Database.open(location)
    except _UNREADABLE:
        return {}
    try:
        return await db.read(rows.dynamic)
    except _UNREADABLE:
        return {}
    finally:
        await db.close()
