"""Schema migrations for the one SQLite file that several components share.

Each component (lookup, sms, ivr, ...) owns a list of steps; `schema_version`
records how many of each component's steps have run. A step runs inside one
`BEGIN IMMEDIATE` transaction together with its version bump, so a crash or a
second process starting at the same moment never applies a step twice or half.

Usage:

    STEPS = ("CREATE TABLE outbox (...); CREATE INDEX ...;", "ALTER TABLE outbox ADD ...;")
    await migrate(conn, "sms", STEPS)

Steps are append-only: never edit a released step, add a new one. The
connection must be in autocommit mode (aiosqlite.connect(..., isolation_level=None)).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

import aiosqlite

_CREATE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)


async def migrate(conn: aiosqlite.Connection, component: str, steps: Sequence[str]) -> int:
    """Apply the component's pending steps; return its schema version afterwards."""
    if conn.isolation_level is not None:
        raise ValueError("migrate() needs an autocommit connection (isolation_level=None)")
    # Up to date (every start but the first): answer from a plain read. The write lock
    # below is held across awaits, and a component that writes synchronously on the
    # event loop would then wait out its busy timeout with the loop blocked.
    if await _table_exists(conn):
        version = await _version(conn, component)
        _check_not_newer(component, version, len(steps))
        if version == len(steps):
            return version
    await conn.execute(_CREATE)
    while True:
        await conn.execute("BEGIN IMMEDIATE")  # the write lock, before reading the version
        try:
            version = await _version(conn, component)
            _check_not_newer(component, version, len(steps))
            if version == len(steps):
                await conn.execute("COMMIT")
                return version
            for statement in statements(steps[version]):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (component, version) VALUES (?, ?)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, version + 1),
            )
            await conn.execute("COMMIT")
        except BaseException:
            # A cancelled COMMIT may have ended the transaction already: a ROLLBACK
            # then raises and would hide the CancelledError.
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise


def _check_not_newer(component: str, version: int, known: int) -> None:
    if version > known:
        raise RuntimeError(
            f"{component} schema is version {version}, newer than this code "
            f"({known}): refusing to run against it"
        )


async def _table_exists(conn: aiosqlite.Connection) -> bool:
    async with conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ) as cursor:
        return await cursor.fetchone() is not None


async def _version(conn: aiosqlite.Connection, component: str) -> int:
    async with conn.execute(
        "SELECT version FROM schema_version WHERE component = ?", (component,)
    ) as cursor:
        row = await cursor.fetchone()
    return 0 if row is None else int(row[0])


def statements(script: str) -> Iterator[str]:
    """Split a script into complete statements (triggers with inner ';' stay whole)."""
    pending = ""
    pieces = script.split(";")
    for index, piece in enumerate(pieces):
        # The text after the last ';' gets none: a statement without one is incomplete.
        pending += piece if index == len(pieces) - 1 else piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending.strip()
            pending = ""
    if pending.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement at the end of a step: {pending.strip()!r}")
