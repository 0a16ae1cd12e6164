"""Call events survive a database that is down, restarting or locked (ivr/store.py).

The statistics of calls that end while the database cannot take a write are kept by
the store and written once it can (docs/reliability.md, row 3): every call counted,
each event once, even when a write is retried.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.store import IvrStore
from kernel.db import BlockingConnection
from tests import stores
from tests.peers import postgres
from tests.peers.fleet import free_port

EVENTS = ("menu", "code_keyed", "status_spoken", "hung_up")
AT = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


async def _warned(caplog: pytest.LogCaptureFixture) -> None:
    """Until the store has said the database refused its write (bounded by the caller)."""
    while not any(
        r.levelno == logging.WARNING and "call events not written" in r.getMessage()
        for r in caplog.records
    ):
        await asyncio.sleep(0.05)


def _stored(store_at: str | Path) -> dict[str, int]:
    return {
        str(u): int(n)
        for u, n in stores.rows(
            store_at, "SELECT uniqueid, count(*) FROM ivr_call_event GROUP BY uniqueid"
        )
    }


async def test_a_group_written_again_is_stored_once(tmp_path: Path) -> None:
    """A retry after a commit whose outcome was unknown writes the same rows again."""
    path = tmp_path / "tracuu.sqlite3"
    store = await IvrStore.open(path)
    try:
        await store.record_events("1.1", AT, EVENTS)
        await store.record_events("1.1", AT, EVENTS)  # the same call's rows once more
        await store.record_events("1.2", AT, ("menu", "menu", "hung_up"))  # repeats kept
    finally:
        await store.close()
    assert _stored(path) == {"1.1": 4, "1.2": 3}


@pytest.mark.postgres
@pytest.mark.slow
async def test_calls_ending_while_postgresql_restarts_are_all_stored_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    why = postgres.available()
    if why is not None:
        pytest.skip(why)
    caplog.set_level(logging.INFO, logger="ivr.store")
    with postgres.server(free_port()) as url:
        store = await IvrStore.open(url)
        try:
            await store.record_events("before.1", AT, EVENTS)
            await asyncio.to_thread(postgres.stop, url)
            calls = [
                asyncio.create_task(store.record_events(f"outage.{n}", AT, EVENTS))
                for n in range(20)
            ]
            async with asyncio.timeout(60):
                await _warned(caplog)
                more = [
                    asyncio.create_task(store.record_events(f"outage.{n}", AT, EVENTS))
                    for n in range(20, 25)
                ]  # joining the batch that waits
                await asyncio.sleep(0)
                await asyncio.to_thread(postgres.start, url)
                await asyncio.gather(*calls, *more)  # each returns once stored
                await store.record_events("after.1", AT, EVENTS)
        finally:
            await store.close()
        stored = await asyncio.to_thread(_stored, url)
    expected = {f"outage.{n}": 4 for n in range(25)} | {"before.1": 4, "after.1": 4}
    assert stored == expected  # every call, every event, once
    warnings = [r for r in caplog.records if r.name == "ivr.store" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # once per outage, not per retry
    assert any("written again" in r.getMessage() for r in caplog.records)
    assert store.dropped == 0


@pytest.mark.sqlite_only("a SQLite write lock held by another process")
async def test_calls_ending_while_sqlite_is_locked_are_stored_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.store")
    path = tmp_path / "tracuu.sqlite3"
    store = await IvrStore.open(path)
    locker = BlockingConnection.open(path)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy wait
        calls = [
            asyncio.create_task(store.record_events(f"locked.{n}", AT, EVENTS)) for n in range(5)
        ]
        async with asyncio.timeout(60):
            await _warned(caplog)
            locker.execute("ROLLBACK")
            await asyncio.gather(*calls)
    finally:
        locker.close()
        await store.close()
    assert _stored(path) == {f"locked.{n}": 4 for n in range(5)}
    assert store.dropped == 0


async def test_close_says_how_many_events_it_could_not_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Shutdown during an outage tries once more, then counts what is lost (no numbers)."""
    if stores.ON_POSTGRES:
        pytest.skip("uses a SQLite write lock")
    path = tmp_path / "tracuu.sqlite3"
    store = await IvrStore.open(path)
    locker = BlockingConnection.open(path)
    try:
        locker.execute("BEGIN IMMEDIATE")
        call = asyncio.create_task(store.record_events("lost.1", AT, EVENTS))
        async with asyncio.timeout(60):
            await _warned(caplog)
            await store.close()  # the lock still held: its one more try fails too
        assert store.dropped == 4
        assert call.done()
        assert any("4 not written at shutdown" in r.getMessage() for r in caplog.records)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
