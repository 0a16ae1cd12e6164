"""Simulated traffic for `tracuu demo`: a few calls and SMS a minute, so a newcomer
sees the live board move.

Calls go through the real FastAGI server as Asterisk would dial it (peers.asterisk,
paced so each call stays on the board for a while); SMS come in through the test
SMSC's deliver_sm, so the gateway answers them on its real path. Imports nothing of
tracuu (see peers/__init__.py): the caller hands in what to say and key.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from peers.asterisk import SimulatedAsterisk

log = logging.getLogger(__name__)

# Callers (demo numbers) and what they key: look up a code, hang up in the menu,
# ask for guidance. Codes are the demo's fixed ones (lookup/demo.py).
CALLS: Sequence[tuple[str, str]] = (
    ("0912345678", "1 2411290001# 2 H"),
    ("0987654321", "1 2411290002# H"),
    ("0903123456", "H"),
    ("0938765432", "2 1 H"),
    ("0977111222", "1 2411290003# 1 H"),
)
TEXTS: Sequence[tuple[str, str]] = (
    ("84912345678", "HS 000.00.18.H26-241129-0001"),
    ("84987654321", "hs 000.00.18.h26-241129-0002"),
    ("84903123456", "TRA CUU 000.00.18.H26-241129-0004"),
    ("84938765432", "xin chào"),
)


def _sender(rng: random.Random) -> str:
    # A fresh demo number for each SMS: four fixed senders at a few a minute used up their
    # look-ups per hour within minutes, after which the gateway rightly stopped answering
    # them (and a newcomer texting from 0912345678 got nothing). 849xxxxxxxx: a mobile form.
    return f"849{rng.randrange(10**8):08d}"


def _jittered(every_s: float, rng: random.Random) -> float:
    return every_s * rng.uniform(0.6, 1.4)


async def calls(
    host: str,
    port: int,
    *,
    every_s: float,
    pace_s: float = 1.0,
    scripts: Sequence[tuple[str, str]] = CALLS,
    rng: random.Random | None = None,
) -> None:
    """A paced call every ~every_s seconds, each in its own task, until cancelled."""
    rng = rng or random.Random()
    running: set[asyncio.Task[object]] = set()
    failed: list[str] = []  # warned once: a stopping gateway refuses every call after
    try:
        for n in itertools.count(1):
            await asyncio.sleep(_jittered(every_s, rng))
            caller, keys = rng.choice(scripts)
            peer = SimulatedAsterisk(
                keys, caller=caller, pace_s=pace_s, uniqueid=f"demo.{n}", max_commands=200
            )
            task: asyncio.Task[object] = asyncio.create_task(_one_call(peer, host, port, failed))
            running.add(task)
            task.add_done_callback(running.discard)
    finally:
        for task in running:
            task.cancel()


async def _one_call(peer: SimulatedAsterisk, host: str, port: int, failed: list[str]) -> object:
    try:
        return await peer.call(host, port, timeout_s=300)
    except OSError as exc:
        (log.debug if failed else log.warning)("demo traffic: call not placed: %s", exc)
        failed.append(str(exc))
        return None


async def texts(
    deliver: Callable[[str, str], Awaitable[int]],
    *,
    every_s: float,
    messages: Sequence[tuple[str, str]] = TEXTS,
    rng: random.Random | None = None,
) -> None:
    """An SMS every ~every_s seconds through `deliver(sender, text)`, until cancelled."""
    rng = rng or random.Random()
    while True:
        await asyncio.sleep(_jittered(every_s, rng))
        _, text = rng.choice(messages)
        with contextlib.suppress(OSError, TimeoutError):
            await deliver(_sender(rng), text)
