"""Resilience record, row 2: one of two gateways on one PostgreSQL killed with SIGKILL
mid-batch, the other carrying on (docs/reliability.md).

Real `tracuu serve` processes (tests/peers/fleet.py). The killed instance leaves up to
one window of parts 'submitting'; the survivor's lease sweep (sms/lease.py) sends them
again once their lease (here 3 s) has run out. Asserted on the SMSC's record: every
message arrived, a message arrived twice only if the outbox marked it uncertain, and
no more than one window's worth did.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from pathlib import Path

import pytest

from peers.smsc import Personality
from tests.peers.fleet import Fleet, fleet, fresh_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
_names = itertools.count()
WINDOW = 10
FAST_LEASE = {
    "TRACUU_SMPP_WINDOW": str(WINDOW),
    "TRACUU_SMPP_TPS": "400",
    "TRACUU_SMPP_RESPONSE_TIMEOUT_S": "2",
    "TRACUU_SMPP_LEASE_S": "3",
}


@pytest.fixture
async def url(pg_server: str) -> str:
    return await fresh_schema(pg_server, f"kill{next(_names)}")


async def uncertain_texts(f: Fleet) -> set[str]:
    rows = await f.fetch(
        "SELECT m.body FROM sms_message m JOIN sms_part p ON p.message_id = m.id"
        " WHERE p.uncertain = 1"
    )
    return {r[0] for r in rows}


async def claimed_after_settling(f: Fleet, bound_s: float = 30.0) -> int:
    """Parts still 'submitting' once the survivor's own last window is answered: the
    SMSC has every text when its last submit arrives, before the survivor has read the
    responses, so a look at that moment sees the survivor's live claims too."""
    loop = asyncio.get_running_loop()
    end = loop.time() + bound_s
    while True:
        rows = await f.fetch("SELECT 1 FROM sms_part WHERE state = 'submitting'")
        if not rows or loop.time() > end:
            return len(rows)
        await asyncio.sleep(0.2)


async def test_sigkill_one_of_two_gateways_mid_batch_the_other_sends_the_rest(
    tmp_path: Path, url: str
) -> None:
    texts = [f"tin {n}" for n in range(1000)]
    # A slow-ish SMSC keeps a whole window in flight at the moment of the kill.
    async with fleet(tmp_path, url, personality=Personality(submit_delay_s=0.02),
                     env=FAST_LEASE) as f:  # fmt: skip
        await f.ready()
        dead, survivor = f.gateways
        await f.enqueue(texts)
        await f.smsc.wait_for(lambda: len(f.submits(dead.name)) >= 100, 60)
        dead.kill()  # SIGKILL: no unbind, no requeue, its claimed parts stay 'submitting'
        sent_at_kill = len(f.submits())
        await f.smsc.wait_for(lambda: {s.text for s in f.submits()} >= set(texts), 90)
        by_survivor = len(f.submits(survivor.name))
        uncertain = await uncertain_texts(f)
        left_claimed = await claimed_after_settling(f)
    counts = collections.Counter(s.text for s in f.submits())
    duplicates = {t for t, n in counts.items() if n > 1}
    assert sent_at_kill < len(texts)  # the kill came mid-batch
    assert set(counts) == set(texts)  # nothing lost
    assert by_survivor > 0
    assert duplicates <= uncertain  # only parts the outbox recorded as uncertain
    assert len(duplicates) <= WINDOW  # at most the dead instance's window
    assert max(counts.values()) <= 2
    assert not left_claimed  # nothing left claimed by the dead instance


def test_a_lease_shorter_than_an_answer_is_refused() -> None:
    from pydantic import ValidationError

    from sms.settings import SmppSettings

    with pytest.raises(ValidationError, match=r"must exceed smpp\.response_timeout_s"):
        SmppSettings(response_timeout_s=30, lease_s=30)
