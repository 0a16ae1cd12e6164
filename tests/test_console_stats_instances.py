"""Statistics with several gateways on one PostgreSQL: every gateway's console rolls up
the same shared tables, and a call is still counted once."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from console.stats import StatsStore
from ivr.store import IvrStore
from kernel.db import Database

pytestmark = pytest.mark.postgres
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
_names = itertools.count()


@pytest.fixture
async def url(pg_server: str) -> str:
    name = f"stats_inst{next(_names)}"
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")
    finally:
        await conn.close()
    return f"{pg_server}&search_path={name}"


async def test_two_gateways_rolling_up_together_count_each_call_once(url: str) -> None:
    ivr = await IvrStore.open(url)  # the calls' table, as every gateway's IVR writes it
    await ivr.close()
    one, two = await StatsStore.open(url), await StatsStore.open(url)
    db = await Database.open(url)
    now = datetime(2026, 12, 3, 15, 0, tzinfo=ZONE)
    try:
        async with asyncio.timeout(60):
            for round in range(6):
                ended = (now - timedelta(minutes=5)).isoformat()
                await db.executemany(
                    "INSERT INTO ivr_call_event (uniqueid, at, event) VALUES (?, ?, ?)",
                    [
                        (f"{round}.{n}", ended, event)
                        for n in range(10)
                        for event in ("menu", "hung_up")
                    ],
                )
                # Both consoles' rollup jobs wake at the same moment.
                await asyncio.gather(one.rollup(now), two.rollup(now))
            summary = await one.summary(now.date(), now.date(), ZONE)
    finally:
        await db.close()
        await one.close()
        await two.close()
    assert summary.total("calls") == 60
    assert summary.total("abandoned") == 60
