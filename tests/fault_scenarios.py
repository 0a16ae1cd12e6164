"""Fault scenarios of the resilience record (docs/reliability.md), shared by the tests
(short, asserting counts and words) and bench/faults_bench.py (full length, timed).

Each scenario runs real peers on loopback: `tracuu serve` processes
(tests/peers/fleet.py), the test SMSC, the simulated Asterisk (peers/asterisk.py)
and a throwaway PostgreSQL server (tests/peers/postgres.py); it returns what
callers and texters experienced and what the SMSC received, as figures.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from peers.asterisk import CallRecord, SimulatedAsterisk
from tests.peers import postgres
from tests.peers.fleet import NUMBER, Fleet, fleet, free_port

SORRY = "ivr_system_busy"  # "Xin lỗi, hệ thống tra cứu đang bận, chưa trả lời được."
READY_KEYS = "1 2411290002#"  # a demo dossier in one agency: its status is read out
ASK = "HS 000.00.18.H26-241129-0001"
_callers = itertools.count(1)


@dataclass
class Call:
    at_s: float  # since the scenario's start
    outcome: str  # "status", "sorry", or how the call ended otherwise
    wait_s: float | None  # code keyed -> the next thing heard (status or sorry)


@dataclass
class Text:
    number: str
    at_s: float
    tries: int = 0  # deliver_sm sent until the gateway said ESME_ROK (stored)


@dataclass
class Figures:
    calls: list[Call] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    replies: dict[str, int] = field(default_factory=dict)  # number -> replies received
    mt_total: int = 0
    mt_lost: int = 0
    mt_duplicated: int = 0
    mt_uncertain: int = 0
    notes: dict[str, float | int | str] = field(default_factory=dict)

    def calls_between(self, start_s: float, end_s: float) -> list[Call]:
        return [c for c in self.calls if start_s <= c.at_s < end_s]


def classify(record: CallRecord) -> Call:
    """What one caller met after keying the code, and how long it took."""
    keyed: float | None = None
    for at, kind, text in record.timeline:
        if keyed is None and kind == "reply" and text.startswith("200 result=2411290002"):
            keyed = at
        elif keyed is not None and kind == "cmd" and "STREAM FILE" in text:
            if SORRY in text:
                return Call(0.0, "sorry", at - keyed)
            if "tracuu/status_" in text:
                return Call(0.0, "status", at - keyed)
    return Call(0.0, f"ended:{record.ended}", None)


async def place_calls(f: Fleet, t0: float, until: Callable[[], bool], every_s: float,
                      out: list[Call]) -> None:  # fmt: skip
    """A call every `every_s` (each from a new number: the lookup limit is per caller)."""

    async def one() -> None:
        at = time.monotonic() - t0
        gw = f.gateways[0]
        caller = f"09{next(_callers):08d}"
        try:
            record = await SimulatedAsterisk(READY_KEYS, caller=caller).call(
                "127.0.0.1", gw.agi_port, timeout_s=30
            )
            call = classify(record)
        except OSError as exc:
            call = Call(0.0, f"refused:{type(exc).__name__}", None)
        call.at_s = at
        out.append(call)

    tasks = []
    while not until():
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(every_s)
    await asyncio.gather(*tasks)


async def send_texts(f: Fleet, t0: float, until: Callable[[], bool], every_s: float,
                     out: list[Text]) -> None:  # fmt: skip
    """A citizen's question every `every_s`; an SMSC redelivers what the gateway did not
    take (any status but ESME_ROK, or no answer) a second later, as SMSCs do."""

    async def one(text: Text) -> None:
        while True:
            text.tries += 1
            try:
                if await f.smsc.deliver(text.number, ASK, timeout_s=5) == 0:
                    return
            except (ConnectionError, TimeoutError):
                pass
            await asyncio.sleep(1.0)

    tasks = []
    n = 0
    while not until():
        n += 1
        text = Text(f"8498{next(_callers):07d}", time.monotonic() - t0)
        out.append(text)
        tasks.append(asyncio.create_task(one(text)))
        await asyncio.sleep(every_s)
    async with asyncio.timeout(120):
        await asyncio.gather(*tasks)


async def count_mt(f: Fleet, figures: Figures, texts: list[str]) -> None:
    counts = collections.Counter(s.text for s in f.submits())
    figures.mt_total = len(texts)
    figures.mt_lost = len(set(texts) - set(counts))
    figures.mt_duplicated = sum(1 for n in counts.values() if n > 1)
    rows = await f.fetch(
        "SELECT count(*) FROM sms_part p JOIN sms_message m ON m.id = p.message_id"
        " WHERE p.uncertain = 1 AND m.msisdn = $1",
        NUMBER,
    )
    figures.mt_uncertain = int(rows[0][0])


async def pg_restart(
    tmp_path: Path, *, down_s: float = 10.0, before_s: float = 3.0, after_s: float = 8.0,
    every_s: float = 0.5, mt: int = 200,
) -> Figures:  # fmt: skip
    """PostgreSQL stopped (fast: sessions ended) for `down_s` during traffic, then
    started again: calls and texts throughout; `mt` messages queued at 20 parts a
    second so sending spans the outage. One gateway (the fault is the database's)."""
    figures = Figures()
    with postgres.server(free_port()) as url:
        async with fleet(tmp_path, url, count=1, env={"TRACUU_SMPP_TPS": "20"}) as f:
            await f.ready()
            texts = [f"tin {n}" for n in range(mt)]
            await f.enqueue(texts)
            t0 = time.monotonic()
            done = asyncio.Event()
            calls = asyncio.create_task(place_calls(f, t0, done.is_set, every_s, figures.calls))
            smss = asyncio.create_task(send_texts(f, t0, done.is_set, every_s, figures.texts))
            try:
                await asyncio.sleep(before_s)
                down_at = time.monotonic() - t0
                await asyncio.to_thread(postgres.stop, url)
                await asyncio.sleep(down_s)
                await asyncio.to_thread(postgres.start, url)
                up_at = time.monotonic() - t0
                await asyncio.sleep(after_s)
            finally:
                done.set()
                with contextlib.suppress(Exception):
                    await asyncio.gather(calls, smss)
            figures.notes.update(down_at_s=round(down_at, 2), up_at_s=round(up_at, 2))
            numbers = [t.number for t in figures.texts]
            await f.smsc.wait_for(
                lambda: (
                    all(f.smsc.record.texts_to(n) for n in numbers)
                    and {s.text for s in f.submits()} >= set(texts)
                ),
                120,
            )
            figures.replies = {n: len(f.smsc.record.texts_to(n)) for n in numbers}
            await count_mt(f, figures, texts)
            after = [s.at - t0 for s in f.submits() if s.at - t0 > up_at]
            figures.notes["mt_resumed_after_up_s"] = round(min(after) - up_at, 2) if after else -1
            figures.notes["binds"] = len(f.smsc.record.binds)
    return figures
