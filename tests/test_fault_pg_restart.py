"""Resilience record, row 3: PostgreSQL restarted during traffic (docs/reliability.md).

A real `tracuu serve` on a throwaway PostgreSQL server that is stopped (fast: its
sessions ended, as a restart does) and started again while simulated callers key a
dossier code and citizens text questions. Callers during the outage hear the sorry
prompt instead of silence; texts the gateway could not store are redelivered by the
SMSC and each answered once; queued messages all go out once the database is back.
bench/faults_bench.py runs the same with the 10 s outage and reports the times.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kernel.db import BlockingConnection
from prompts.catalog import load_catalog
from tests.fault_scenarios import SORRY, pg_restart
from tests.peers import postgres
from tests.peers.fleet import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _server_binaries() -> None:
    why = postgres.available()
    if why is not None:
        pytest.skip(why)


def test_the_sorry_prompt_says_the_system_is_busy() -> None:
    assert load_catalog()[SORRY].text == "Xin lỗi, hệ thống tra cứu đang bận, chưa trả lời được."


async def test_a_blocking_connection_outlives_a_server_restart() -> None:
    """The SMPP link's outbox connection: before, closed for good by a restart."""

    def work(url: str) -> int:
        conn = BlockingConnection.open(url)
        try:
            conn.fetchval("SELECT 1")
            conn.commit()
            postgres.stop(url)
            postgres.start(url)
            value = int(conn.fetchval("SELECT 2"))  # the next transaction: a new session
            conn.commit()
            return value
        finally:
            conn.close()

    with postgres.server(free_port()) as url:
        assert await asyncio.to_thread(work, url) == 2


async def test_postgresql_restarted_during_traffic(tmp_path: Path) -> None:
    figures = await pg_restart(tmp_path, down_s=3.0, before_s=2.0, after_s=4.0, mt=100)
    down_at = float(figures.notes["down_at_s"])
    up_at = float(figures.notes["up_at_s"])
    during = figures.calls_between(down_at + 0.3, up_at - 0.3)
    assert during
    assert {c.outcome for c in during} == {"sorry"}  # nobody met silence or a hang-up
    # The stated requirement is 3 s; measured in milliseconds (bench/faults_bench.py).
    assert max(c.wait_s or 99.0 for c in during) < 3.0
    assert figures.calls[-1].outcome == "status"  # answered again once it is back
    assert any(t.tries > 1 for t in figures.texts)  # the outage refused some texts ...
    assert set(figures.replies.values()) == {1}  # ... and each was answered, once
    assert figures.mt_lost == 0
    assert figures.mt_duplicated <= figures.mt_uncertain
