"""kernel.db: the one off-loop path to the database (SQLite adapter)."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kernel.db import (
    Conn,
    Database,
    DatabaseError,
    IntegrityError,
    SqliteDatabase,
    numbered,
    open_migrated,
    sqlite_path,
)
from kernel.dsn import DatabaseUrl

STEPS = (
    "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER);",
    "ALTER TABLE item ADD COLUMN note TEXT NOT NULL DEFAULT '';",
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    opened = await Database.open(tmp_path / "t.sqlite3")
    await opened.migrate("test", STEPS)
    try:
        yield opened
    finally:
        await opened.close()


async def test_statements_rows_and_returning(db: Database) -> None:
    new_id = await db.fetchval("INSERT INTO item (name, n) VALUES (?, ?) RETURNING id", ("a", 1))
    assert new_id == 1
    assert (
        await db.executemany("INSERT INTO item (name, n) VALUES (?, ?)", [("b", 2), ("c", 3)]) == 2
    )
    assert await db.execute("UPDATE item SET n = n + 10 WHERE n >= ?", (2,)) == 2
    rows = await db.fetchall("SELECT name, n FROM item ORDER BY id")
    assert [(r["name"], r[1]) for r in rows] == [("a", 1), ("b", 12), ("c", 13)]
    name, n = rows[0]
    assert (name, n) == ("a", 1)
    assert await db.fetchone("SELECT * FROM item WHERE name = ?", ("zz",)) is None
    assert await db.fetchval("SELECT note FROM item WHERE id = 1") == ""


async def test_a_transaction_commits_or_rolls_back_whole(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO item (name) VALUES ('kept')")
        assert await tx.fetchval("SELECT count(*) FROM item") == 1

    async def failing() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO item (name) VALUES ('lost')")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await failing()
    assert [r[0] for r in await db.fetchall("SELECT name FROM item")] == ["kept"]


async def test_a_cancelled_transaction_is_rolled_back(db: Database) -> None:
    entered = asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO item (name) VALUES ('half')")
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(slow())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.fetchval("SELECT count(*) FROM item") == 0
    await db.execute("INSERT INTO item (name) VALUES ('after')")  # the writer is free again
    assert await db.fetchval("SELECT count(*) FROM item") == 1


async def test_no_other_write_slips_into_an_open_transaction(db: Database) -> None:
    inside = asyncio.Event()

    async def failing() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO item (name) VALUES ('mine')")
            inside.set()
            await asyncio.sleep(0.05)
            raise RuntimeError("give up")

    task = asyncio.create_task(failing())
    await inside.wait()
    other = asyncio.create_task(db.execute("INSERT INTO item (name) VALUES ('other')"))
    with pytest.raises(RuntimeError):
        await task
    await other
    assert [r[0] for r in await db.fetchall("SELECT name FROM item")] == ["other"]


async def test_reads_answer_while_a_transaction_holds_the_writer(db: Database) -> None:
    await db.execute("INSERT INTO item (name, n) VALUES ('x', 1)")
    async with db.transaction() as tx:
        await tx.execute("UPDATE item SET n = 2")
        assert await db.fetchval("SELECT n FROM item") == 1  # committed state, no wait
        assert await tx.fetchval("SELECT n FROM item") == 2
    assert await db.fetchval("SELECT n FROM item") == 2


async def test_writing_past_ones_own_transaction_is_refused(db: Database) -> None:
    async with db.transaction() as tx:
        with pytest.raises(RuntimeError):
            await db.execute("INSERT INTO item (name) VALUES ('deadlock')")
        with pytest.raises(RuntimeError):
            async with db.transaction():
                pass
        await tx.execute("INSERT INTO item (name) VALUES ('fine')")
    assert await db.fetchval("SELECT count(*) FROM item") == 1


async def test_errors_are_the_database_s_whatever_the_driver(db: Database) -> None:
    await db.execute("INSERT INTO item (name) VALUES ('u')")
    with pytest.raises(IntegrityError):
        await db.execute("INSERT INTO item (name) VALUES ('u')")
    with pytest.raises(DatabaseError):
        await db.fetchall("SELECT nonsense FROM nowhere")
    async with db.transaction() as tx:  # an error inside leaves the transaction usable
        with pytest.raises(IntegrityError):
            await tx.execute("INSERT INTO item (name) VALUES ('u')")
        await tx.execute("INSERT INTO item (name) VALUES ('v')")
    assert await db.fetchval("SELECT count(*) FROM item") == 2


async def test_a_job_runs_off_the_loop_in_one_transaction(db: Database) -> None:
    loop_thread = threading.get_ident()

    def job(conn: Conn) -> int:
        assert threading.get_ident() != loop_thread
        conn.executemany(
            "INSERT INTO item (name, n) VALUES (?, ?)", [(f"j{i}", i) for i in range(100)]
        )
        return int(conn.fetchval("SELECT sum(n) FROM item"))

    assert await db.run(job) == 4950

    def broken(conn: Conn) -> None:
        conn.execute("DELETE FROM item")
        raise ValueError("no")

    with pytest.raises(ValueError):
        await db.run(broken)
    assert await db.read(lambda c: c.fetchval("SELECT count(*) FROM item")) == 100


async def test_a_thread_that_is_not_the_loop_runs_jobs_blocking(db: Database) -> None:
    def from_thread() -> int:
        return db.run_blocking(lambda c: c.execute("INSERT INTO item (name) VALUES ('t')"))

    assert await asyncio.to_thread(from_thread) == 1
    with pytest.raises(RuntimeError):
        db.run_blocking(lambda c: None)


@pytest.mark.sqlite_only("another process holding SQLite's write lock on the file")
async def test_a_lock_held_by_another_process_never_stalls_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    db = await Database.open(path)
    try:
        await db.migrate("test", STEPS)
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # e.g. a CLI import holding the write lock
        write = asyncio.create_task(db.execute("INSERT INTO item (name) VALUES ('w')"))
        ticks = 0
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 10  # the loop ran on while the write waited
        assert not write.done()
        other.execute("COMMIT")
        async with asyncio.timeout(10):
            assert await write == 1
        other.close()
    finally:
        await db.close()


async def test_migrations_are_applied_once_and_refuse_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    first, second = await Database.open(path), await Database.open(path)
    try:
        versions = await asyncio.gather(first.migrate("c", STEPS), second.migrate("c", STEPS))
        assert list(versions) == [2, 2]
        assert await first.fetchval("SELECT version FROM schema_version WHERE component = 'c'") == 2
        with pytest.raises(RuntimeError, match="newer than this code"):
            await first.migrate("c", STEPS[:1])
    finally:
        await first.close()
        await second.close()


async def test_a_store_of_its_own_is_closed_when_its_migration_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Database] = []
    real_open = Database.open

    async def spy(url: object, **kwargs: Any) -> Database:
        db = await real_open(url, **kwargs)
        opened.append(db)
        return db

    monkeypatch.setattr(Database, "open", staticmethod(spy))
    path = tmp_path / "o.sqlite3"
    db = await open_migrated(path, ("c", STEPS))
    assert await db.fetchval("SELECT version FROM schema_version WHERE component = 'c'") == 2
    await db.close()
    broken = ("CREATE TABLE broken (x INTEGER REFERENCES;",)
    with pytest.raises(DatabaseError):
        await open_migrated(path, ("c", STEPS), ("broken", broken))
    assert len(opened) == 2
    with pytest.raises(DatabaseError, match="closed"):  # no threads or connections left
        await opened[1].fetchval("SELECT 1")


async def test_many_batches_of_the_same_statement_at_once(db: Database) -> None:
    """The shape that broke aiosqlite (one cached INSERT, many executemany at once)."""

    async def batch(call: int) -> None:
        await db.executemany(
            "INSERT INTO item (name, n) VALUES (?, ?)", [(f"{call}-{i}", i) for i in range(20)]
        )

    # A bound against a hang, not a speed: 20,000 rows go row by row on PostgreSQL, and a
    # loaded CI machine ran out of 60 s there.
    async with asyncio.timeout(600):
        for round_ in range(5):
            await asyncio.gather(*(batch(round_ * 1000 + c) for c in range(200)))
    assert await db.fetchval("SELECT count(*) FROM item") == 5 * 200 * 20


@pytest.mark.sqlite_only("SQLite URLs, the file they create and an in-memory database")
async def test_urls_and_an_in_memory_database(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:///var/x.db") == "var/x.db"
    assert sqlite_path("/abs/x.db") == "/abs/x.db"
    url = DatabaseUrl(f"sqlite:///{tmp_path}/u.sqlite3")
    db = await Database.open(url)
    await db.close()
    assert (tmp_path / "u.sqlite3").exists()
    memory = await Database.open(":memory:")
    try:
        await memory.migrate("test", STEPS)
        await memory.execute("INSERT INTO item (name) VALUES ('m')")
        assert await memory.fetchval("SELECT name FROM item") == "m"
    finally:
        await memory.close()
    with pytest.raises(DatabaseError):
        await Database.open("postgresql://tracuu@127.0.0.1/none")


@pytest.mark.sqlite_only("the SQLite adapter's reader threads")
async def test_closing_with_reads_in_flight_always_ends(tmp_path: Path) -> None:
    """The two readers share one queue of jobs and one None each to stop them: a close()
    whose first None ended the other reader before that reader's own stop() used to
    put no None for the first one, which then waited forever (about once in a thousand
    closes with two readers). Eight readers and thread switches as often as possible
    made it hang within a few hundred closes every time."""
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for n in range(300):
            db = await SqliteDatabase.open_path(str(tmp_path / "c.sqlite3"), readers=8)
            reads = [asyncio.ensure_future(db.fetchval("SELECT 1")) for _ in range(n % 3)]
            await asyncio.sleep(0)
            async with asyncio.timeout(10):
                await db.close()
                await asyncio.gather(*reads, return_exceptions=True)
    finally:
        sys.setswitchinterval(switch)


def test_placeholders_numbered_for_postgresql() -> None:
    assert numbered("SELECT ? , '?' , \"a?\" FROM t WHERE a = ? AND b = ?") == (
        "SELECT $1 , '?' , \"a?\" FROM t WHERE a = $2 AND b = $3"
    )
