"""The SMPP link in its worker process (settings.sms.link_mode = "process", as the
gateway runs it): what the citizen and the SMSC see is the same as with the thread."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

from sms.link_process import LinkProcess
from tests.peers.smsc import Personality, World, sms_world
from tests.test_sms_link import CODE, PUBLIC_READY, STRANGER, states


async def until(world: World, predicate: Callable[[World], bool], timeout_s: float = 20.0) -> None:
    """Bounded poll of committed state (a worker process starts in about a second)."""
    async with asyncio.timeout(timeout_s):
        while not predicate(world):
            await asyncio.sleep(0.02)


def worker(world: World) -> LinkProcess:
    link = world.pump.link
    assert isinstance(link, LinkProcess)
    return link


async def test_a_text_is_answered_and_its_receipt_stored(tmp_path: Path) -> None:
    async with sms_world(tmp_path, link_process=True) as world:
        link = worker(world)
        status = await world.smsc.deliver(STRANGER, f"HS {CODE}")
        await world.smsc.wait_submits(1)
        await until(world, lambda w: states(w) == {"delivered": 1})
        await until(world, lambda w: worker(w).receipts == 1)  # counters come over the pipe
        assert link.state == "up"
        assert world.pump.link_state == ("up", "")
    assert status == 0
    assert world.smsc.record.texts_to(STRANGER) == [PUBLIC_READY]
    assert world.smsc.record.unbinds_received == 1  # the worker unbinds on shutdown
    assert not link.alive


async def test_queued_messages_ring_the_worker(tmp_path: Path) -> None:
    personality = Personality(drop_at=3)
    async with sms_world(tmp_path, personality, link_process=True, window=1) as world:
        await world.smsc.wait_bound()
        for i in range(6):
            await world.pump.send(STRANGER, f"tin {i}", kind="test")
        await until(world, lambda w: states(w) == {"delivered": 6})
    assert world.smsc.record.texts_to(STRANGER) == [f"tin {i}" for i in range(6)]
    assert world.smsc.record.connections == 2  # dropped once, reconnected, nothing lost


async def test_a_killed_worker_is_restarted_and_nothing_is_lost(tmp_path: Path) -> None:
    async with sms_world(tmp_path, link_process=True) as world:
        await world.smsc.wait_bound()
        first = worker(world)
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        await until(world, lambda w: w.pump.link_restarts == 1)
        await world.pump.send(STRANGER, "sau khi khởi động lại", kind="test")
        await until(world, lambda w: states(w) == {"delivered": 1})
        assert worker(world) is not first
    assert world.smsc.record.texts_to(STRANGER) == ["sau khi khoi dong lai"]
