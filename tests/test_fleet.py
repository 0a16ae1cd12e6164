"""The fleet harness (tests/peers/fleet.py): real `tracuu serve` processes on one
PostgreSQL, bound to one test SMSC, sharing one outbox."""

from __future__ import annotations

import collections
import itertools
from pathlib import Path

import pytest

from tests.peers.fleet import fleet, fresh_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
_names = itertools.count()


@pytest.fixture
async def url(pg_server: str) -> str:
    """A fresh schema of the session's throwaway server for this test's gateways."""
    return await fresh_schema(pg_server, f"fleet{next(_names)}")


async def test_two_gateways_share_one_outbox_and_send_each_message_once(
    tmp_path: Path, url: str
) -> None:
    async with fleet(tmp_path, url, count=2) as f:
        await f.ready()
        texts = [f"tin {n}" for n in range(200)]
        await f.enqueue(texts)
        await f.smsc.wait_for(lambda: len(f.submits()) >= len(texts), 60)
        by = {gw.name: len(f.submits(gw.name)) for gw in f.gateways}
        counts = collections.Counter(s.text for s in f.submits())
    assert set(counts) == set(texts)  # nothing lost
    assert max(counts.values()) == 1  # nothing sent twice across the two instances
    assert sum(by.values()) == len(texts)
    assert all(by.values()), by  # both took a share
