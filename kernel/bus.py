"""In-process publish/subscribe for live state (line use, call steps, SMS link).

Publishers never wait: each subscriber has a bounded queue, and a subscriber
that falls behind loses its oldest events (a console tab left open must not
hold memory or slow a call). Pure asyncio, no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class BusEvent:
    topic: str  # e.g. "line", "call", "sms"
    data: Mapping[str, Any] = field(default_factory=dict)


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[BusEvent] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, event: BusEvent) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> BusEvent:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[BusEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusEvent]:
        while True:
            yield await self._queue.get()


class EventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        # The newest event per (topic, key) so a new subscriber sees current state.
        self.latest: dict[tuple[str, str], BusEvent] = {}

    def publish(self, topic: str, data: Mapping[str, Any], *, key: str | None = None) -> None:
        event = BusEvent(topic, dict(data))
        if key is not None:
            self.latest[(topic, key)] = event
        for subscription in self._subscribers:
            subscription._offer(event)

    def forget(self, topic: str, key: str) -> None:
        self.latest.pop((topic, key), None)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription(self._queue_size)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)
