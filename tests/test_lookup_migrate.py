"""kernel.migrate: per-component versions in one file, atomic steps."""

import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from kernel.migrate import migrate, statements

pytestmark = pytest.mark.sqlite_only("kernel.migrate on SQLite files")

STEPS = (
    "CREATE TABLE a (x INTEGER); CREATE INDEX a_x ON a (x);",
    "ALTER TABLE a ADD COLUMN y TEXT;",
)


async def test_components_keep_their_own_versions(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite3"
    async with aiosqlite.connect(db, isolation_level=None) as conn:
        assert await migrate(conn, "sms", STEPS[:1]) == 1
        assert await migrate(conn, "sms", STEPS) == 2
        assert await migrate(conn, "sms", STEPS) == 2  # idempotent
        assert await migrate(conn, "ivr", ("CREATE TABLE b (z INTEGER);",)) == 1
    with sqlite3.connect(db) as conn:
        versions = conn.execute("SELECT * FROM schema_version ORDER BY component").fetchall()
        assert versions == [("ivr", 1), ("sms", 2)]
        assert [r[1] for r in conn.execute("PRAGMA table_info(a)")] == ["x", "y"]


async def test_a_failing_step_leaves_nothing_behind(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite3"
    async with aiosqlite.connect(db, isolation_level=None) as conn:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(conn, "sms", ("CREATE TABLE a (x); CREATE TABLE a (x);",))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (0,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'a'").fetchall() == []


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "t.sqlite3", isolation_level=None) as conn:
        await migrate(conn, "sms", STEPS)
        with pytest.raises(RuntimeError, match="newer than this code"):
            await migrate(conn, "sms", STEPS[:1])


async def test_needs_an_autocommit_connection(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "t.sqlite3") as conn:
        with pytest.raises(ValueError, match="autocommit"):
            await migrate(conn, "sms", STEPS)


def test_statements_keep_triggers_whole() -> None:
    script = """
        CREATE TABLE t (x);
        CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN UPDATE t SET x = 1; DELETE FROM t; END;
        INSERT INTO t VALUES (';');
    """
    parts = list(statements(script))
    assert len(parts) == 3
    assert parts[1].startswith("CREATE TRIGGER")
    assert parts[1].endswith("END;")
    assert parts[2] == "INSERT INTO t VALUES (';');"
    with pytest.raises(ValueError, match="incomplete"):
        list(statements("CREATE TABLE t (x); CREATE TABLE u (y"))


async def test_an_up_to_date_schema_takes_no_write_lock(tmp_path: Path) -> None:
    """Another writer holding the lock must not make a no-op migration wait or fail."""
    db = tmp_path / "t.sqlite3"
    async with aiosqlite.connect(db, isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode = WAL")
        assert await migrate(conn, "sms", STEPS) == 2
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        async with aiosqlite.connect(db, isolation_level=None, timeout=0) as conn:
            await conn.execute("PRAGMA busy_timeout = 0")
            assert await migrate(conn, "sms", STEPS) == 2
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await migrate(conn, "sms", (*STEPS, "CREATE TABLE c (w INTEGER);"))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
