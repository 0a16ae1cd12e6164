"""The live board's call time comes from the server, in the office's zone with its offset."""

from __future__ import annotations

import pytest

from kernel.bus import EventBus
from lookup.sqlite import SqliteLookup
from tests.test_ivr_calls import call, lookup  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.no_store


async def test_call_events_carry_the_answer_time_in_the_office_zone(
    lookup: SqliteLookup,  # noqa: F811
) -> None:
    bus = EventBus()
    async with bus.subscribe() as sub:
        await call(lookup, "1 2411290002# 0", bus=bus)  # answered Monday 10:00 in Hà Nội
        events = []
        while not sub._queue.empty():
            events.append(await sub.get())
    stamps = {e.data["since"] for e in events if e.topic in ("ivr_call", "ivr_call_ended")}
    assert stamps == {"2026-11-30T10:00:00+07:00"}
