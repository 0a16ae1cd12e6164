"""The live-state bus never blocks a publisher and drops oldest for slow readers."""

import asyncio

import pytest

from kernel.bus import EventBus

pytestmark = pytest.mark.no_store


async def test_subscriber_receives_events_in_order() -> None:
    bus = EventBus()
    async with bus.subscribe() as sub:
        bus.publish("line", {"channel": "SIP/1", "state": "Up"}, key="SIP/1")
        bus.publish("line", {"channel": "SIP/1", "state": "Down"}, key="SIP/1")
        async with asyncio.timeout(1):
            first, second = await sub.get(), await sub.get()
    assert [first.data["state"], second.data["state"]] == ["Up", "Down"]
    assert bus.latest[("line", "SIP/1")].data["state"] == "Down"


async def test_slow_subscriber_loses_oldest_not_newest() -> None:
    bus = EventBus(queue_size=2)
    async with bus.subscribe() as sub:
        for n in range(5):
            bus.publish("call", {"n": n})
        async with asyncio.timeout(1):
            got = [(await sub.get()).data["n"], (await sub.get()).data["n"]]
    assert got == [3, 4]
    assert sub.dropped == 3


async def test_unsubscribed_reader_gets_nothing_more() -> None:
    bus = EventBus()
    async with bus.subscribe() as sub:
        pass
    bus.publish("call", {"n": 1})
    assert sub._queue.empty()
