"""kernel.db on PostgreSQL: what only PostgreSQL has (variants, advisory locks,
several instances), against the throwaway server of tests/conftest.py."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import asyncpg
import pytest

from kernel.db import BlockingConnection, Database, IntegrityError, Variants

pytestmark = pytest.mark.postgres
_names = itertools.count()


@pytest.fixture
async def url(pg_server: str) -> str:
    name = f"k{next(_names)}"
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")
    finally:
        await conn.close()
    return f"{pg_server}&search_path={name}"


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    opened = await Database.open(url)
    try:
        yield opened
    finally:
        await opened.close()


STEPS = (
    "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE, at REAL, raw BLOB);",
    Variants(
        sqlite="CREATE INDEX item_at ON item (at);",
        postgresql="CREATE INDEX item_at ON item USING brin (at);",
    ),
)


async def test_the_same_steps_and_sql_on_postgresql(db: Database) -> None:
    assert db.backend == "postgresql"
    assert await db.migrate("t", STEPS) == 2
    assert await db.migrate("t", STEPS) == 2  # nothing pending, nothing applied twice
    at = 1_796_000_000.123456  # epoch seconds keep their microseconds (8-byte floats)
    first = await db.fetchval(
        "INSERT INTO item (name, at, raw) VALUES (?, ?, ?) RETURNING id", ("a", at, b"\x00\xff")
    )
    assert first == 1
    assert await db.executemany("INSERT INTO item (name) VALUES (?)", [("b",), ("c",)]) == 2
    row = await db.fetchone("SELECT name, at, raw FROM item WHERE id = ?", (first,))
    assert row is not None
    assert tuple(row) == ("a", at, b"\x00\xff")
    assert await db.fetchval("SELECT sum(id) * 1.5 FROM item") == 9.0
    with pytest.raises(IntegrityError):
        await db.execute("INSERT INTO item (name) VALUES ('a')")
    async with db.transaction() as tx:  # a refused write leaves the transaction usable
        with pytest.raises(IntegrityError):
            await tx.execute("INSERT INTO item (name) VALUES ('b')")
        await tx.execute("INSERT INTO item (name) VALUES ('d')")
    names = await db.read(lambda c: [r[0] for r in c.fetchall("SELECT name FROM item")])
    assert sorted(names) == ["a", "b", "c", "d"]


async def test_a_blocking_connection_commits_when_told(db: Database, url: str) -> None:
    await db.migrate("t", STEPS)

    def in_a_thread() -> int:
        conn = BlockingConnection.open(url)
        try:
            conn.execute("INSERT INTO item (name) VALUES ('x')")
            assert conn.in_transaction
            conn.commit()
            conn.execute("INSERT INTO item (name) VALUES ('y')")
            conn.rollback()
            return int(conn.fetchval("SELECT count(*) FROM item"))
        finally:
            conn.close()

    assert await asyncio.to_thread(in_a_thread) == 1


async def test_one_lock_holder_across_instances_and_handed_over_on_death(url: str) -> None:
    one, two = await Database.open(url), await Database.open(url)
    try:
        async with one.try_lock(42) as mine:
            assert mine
            async with two.try_lock(42) as theirs:
                assert not theirs
        async with two.try_lock(42) as theirs:
            assert theirs  # released at the end of the block
        # A holder that dies (its session ends without unlocking) frees the lock.
        dying = await asyncpg.connect(url)
        assert await dying.fetchval("SELECT pg_try_advisory_lock(42)")
        async with one.try_lock(42) as mine:
            assert not mine
        dying.terminate()
        for _ in range(50):
            async with one.try_lock(42) as mine:
                if mine:
                    break
            await asyncio.sleep(0.05)
        assert mine
    finally:
        await one.close()
        await two.close()
