"""Resilience record, rows 5 and 6 (docs/reliability.md), on a real `tracuu serve`
over PostgreSQL: FastAGI sockets closed at random points, and ten times the normal
SMS rate against an SMSC as strict as the operator. bench/faults_bench.py runs both
longer (300 calls, a 10 s burst)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.fault_scenarios import agi_cuts, sms_burst
from tests.peers.fleet import fresh_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
_names = itertools.count()


@pytest.fixture
async def url(pg_server: str) -> str:
    return await fresh_schema(pg_server, f"faults{next(_names)}")


async def test_fastagi_sockets_closed_at_random_points(tmp_path: Path, url: str) -> None:
    figures = await agi_cuts(tmp_path, url, calls=40)
    notes = figures.notes
    assert notes["began"] == notes["recorded"]  # every call that began has its events ...
    assert notes["hung_up_last"] == notes["recorded"]  # ... whole, up to the hang-up
    assert notes["in_progress"] == "0"  # no call left behind on the board or in tasks


async def test_ten_times_the_sms_rate_is_answered_at_the_operators_pace(
    tmp_path: Path, url: str
) -> None:
    figures = await sms_burst(tmp_path, url, seconds=2.0)
    notes = figures.notes
    assert notes["stored"] == notes["texts"]  # every question taken (ESME_ROK)
    # Never above the operator's TPS: an SMSC refusing a 21st part in any sliding
    # 0.95 s (the margin is the loaded machine's clock jitter, as in test_sms_rate.py)
    # refused none. (The SMSC's own arrival times may show 21 in a 1.0 s window.)
    assert notes["smsc_throttled"] == 0
    # Each sender: every question answered up to the limit of 10 an hour, then one notice.
    assert int(notes["answered"]) == int(notes["texts"]) - int(notes["over_limit_asks"])
    over = sum(1 for n in figures.replies.values() if n == 11)
    assert int(notes["limit_notices"]) == over > 0
    assert "da tra cuu qua nhieu lan" in str(notes["sample_limit_notice"]).lower()
