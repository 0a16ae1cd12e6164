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
    every_s: float = 0.5, mt: int = 200, freeze: bool = False,
) -> Figures:  # fmt: skip
    """PostgreSQL stopped (fast: sessions ended) for `down_s` during traffic, then
    started again: calls and texts throughout; `mt` messages queued at 20 parts a
    second so sending spans the outage. One gateway (the fault is the database's).
    `freeze`: SIGSTOP the server instead (nothing answers, nothing is refused)."""
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
                await asyncio.to_thread(postgres.freeze if freeze else postgres.stop, url)
                await asyncio.sleep(down_s)
                await asyncio.to_thread(postgres.thaw if freeze else postgres.start, url)
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


async def gateway_kill(tmp_path: Path, url: str, *, mt: int = 1000, lease_s: float = 3.0,
                       window: int = 10) -> Figures:  # fmt: skip
    """Two gateways sending one batch; the first SIGKILLed once it has sent 100. The
    survivor's lease sweep takes over the dead one's parts in flight (sms/lease.py)."""
    from peers.smsc import Personality

    figures = Figures()
    env = {
        "TRACUU_SMPP_WINDOW": str(window),
        "TRACUU_SMPP_TPS": "400",
        "TRACUU_SMPP_RESPONSE_TIMEOUT_S": str(lease_s / 1.5),
        "TRACUU_SMPP_LEASE_S": str(lease_s),
    }
    personality = Personality(submit_delay_s=0.02)  # a window in flight at the kill
    async with fleet(tmp_path, url, personality=personality, env=env) as f:
        await f.ready()
        dead, survivor = f.gateways
        texts = [f"tin {n}" for n in range(mt)]
        await f.enqueue(texts)
        await f.smsc.wait_for(lambda: len(f.submits(dead.name)) >= 100, 60)
        killed_at = time.monotonic()
        dead.kill()
        figures.notes["sent_before_kill"] = len(f.submits())
        await f.smsc.wait_for(lambda: {s.text for s in f.submits()} >= set(texts), 120)
        await count_mt(f, figures, texts)
        rows = await f.fetch(
            "SELECT m.body FROM sms_part p JOIN sms_message m ON m.id = p.message_id"
            " WHERE p.uncertain = 1"
        )
        taken = {r[0] for r in rows}
        resent = [s.at - killed_at for s in f.submits(survivor.name) if s.text in taken]
        figures.notes["taken_over"] = len(taken)
        figures.notes["takeover_s"] = round(max(resent), 2) if resent else -1
        figures.notes["by_survivor"] = len(f.submits(survivor.name))
    return figures


class _CutCaller(SimulatedAsterisk):
    """Closes the socket (no HANGUP, no reply) when its command number `cut_at` comes."""

    def __init__(self, cut_at: int, **kwargs: object) -> None:
        super().__init__(READY_KEYS, **kwargs)  # type: ignore[arg-type]
        self.cut_at = cut_at

    async def _execute(self, command: str) -> bytes:
        if len(self.record.commands) >= self.cut_at:
            raise ConnectionAbortedError("cut")
        return await super()._execute(command)


async def _cut_in_environment(port: int) -> None:
    from peers.asterisk import agi_environment

    _, writer = await asyncio.open_connection("127.0.0.1", port)
    env = agi_environment(caller="0900000000", port=port)
    writer.write(env[: len(env) // 2])  # EOF in the middle of the agi_* block
    await writer.drain()
    writer.close()


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def agi_cuts(tmp_path: Path, url: str, *, calls: int = 300, seed: int = 7) -> Figures:
    """FastAGI sockets closed at random points: a tenth in the middle of the environment
    block, the rest at a random command (1..14) of a call keying a dossier code, or by
    a caller hanging up the way Asterisk does at a random command. Counted: the
    gateway's file descriptors before and after, the calls whose events were stored
    (each whole: its last event is 'hung_up' or the call's own end), calls in progress."""
    import random

    rng = random.Random(seed)
    figures = Figures()
    async with fleet(tmp_path, url, count=1) as f:
        await f.ready()
        gw = f.gateways[0]
        assert gw.process is not None
        await SimulatedAsterisk(READY_KEYS, caller="0900000001", uniqueid="warm.1").call(
            "127.0.0.1", gw.agi_port
        )
        await asyncio.sleep(1.0)
        fds_before = _fds(gw.process.pid)
        began: list[str] = []

        async def one(n: int) -> None:
            kind = rng.random()
            uid = f"cut.{n}"
            if kind < 0.1:
                await _cut_in_environment(gw.agi_port)
                return
            began.append(uid)
            caller = f"09{next(_callers):08d}"
            if kind < 0.55:
                sim: SimulatedAsterisk = _CutCaller(rng.randint(1, 14), caller=caller,
                                                    uniqueid=uid)  # fmt: skip
            else:
                sim = SimulatedAsterisk(READY_KEYS, caller=caller, uniqueid=uid,
                                        hangup_after_commands=rng.randint(1, 14))  # fmt: skip
            with contextlib.suppress(ConnectionError):
                await sim.call("127.0.0.1", gw.agi_port, timeout_s=30)

        async with asyncio.timeout(120):
            for start in range(0, calls, 50):  # 50 at a time
                await asyncio.gather(*(one(n) for n in range(start, min(calls, start + 50))))
        # The events' group commit and the sockets' clean-up: until every call that began
        # is stored (60 s at most: a loaded machine), then a moment for the last sockets.
        query = (
            "SELECT uniqueid, array_agg(event ORDER BY id) FROM ivr_call_event"
            " WHERE uniqueid LIKE 'cut.%' GROUP BY uniqueid"
        )
        deadline = asyncio.get_running_loop().time() + 60
        while len(rows := await f.fetch(query)) < len(began):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        rows = await f.fetch(query)
        fds_after = _fds(gw.process.pid)
        metrics = await _metrics(gw.http_port)
    recorded = {r[0]: list(r[1]) for r in rows}
    figures.notes.update(
        calls=calls,
        began=len(began),
        recorded=len(recorded),
        unrecorded=len(set(began) - set(recorded)),
        hung_up_last=sum(1 for ev in recorded.values() if ev and ev[-1] == "hung_up"),
        fds_before=fds_before,
        fds_after=fds_after,
        in_progress=metrics,
    )
    return figures


async def _metrics(port: int) -> str:
    """tracuu_calls_in_progress summed, from /metrics (its token is set by fleet())."""
    import urllib.request

    def get() -> str:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": "Bearer fleet-metrics-token-for-tests"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("tracuu_calls_in_progress{")
        )
        return f"{total:g}"

    try:
        return await asyncio.to_thread(get)
    except OSError as exc:
        return f"unread ({exc})"


async def sms_burst(tmp_path: Path, url: str, *, normal_per_s: float = 2.0, factor: int = 10,
                    seconds: float = 10.0, tps: int = 20) -> Figures:  # fmt: skip
    """Ten times the normal rate of questions for `seconds`, the SMSC as strict as the
    operator (at most `tps` in any sliding second, refusing the rest), the gateway set
    to the same TPS. Numbers ask 1, 3 or 12 times (the lookup limit is 10 an hour):
    every question is answered, or its sender gets the one 'too many lookups' notice."""
    from peers.smsc import Personality, most_in_a_second

    figures = Figures()
    # Counted in any 0.95 s, as tests/test_sms_rate.py does: the clock jitter of a loaded
    # machine between our pacer and the SMSC is not a 21st part (a fixed-second pacer is).
    personality = Personality(max_tps=tps, tps_counting="sliding", tps_window_s=0.95)
    env = {"TRACUU_SMPP_TPS": str(tps)}
    async with fleet(tmp_path, url, count=1, personality=personality, env=env) as f:
        await f.ready()
        total = int(normal_per_s * factor * seconds)
        asks: list[str] = []
        for times in itertools.cycle((1, 3, 12)):  # a sender in three over the limit
            if len(asks) >= total:
                break
            asks += [f"8497{next(_callers):07d}"] * times
        asks = asks[:total]
        t0 = time.monotonic()
        statuses = []
        for n, number in enumerate(asks):
            await asyncio.sleep(max(0.0, t0 + n / (normal_per_s * factor) - time.monotonic()))
            statuses.append(await f.smsc.deliver(number, ASK))
        per = collections.Counter(asks)
        figures.notes["texts"] = total
        figures.notes["senders"] = len(per)
        figures.notes["stored"] = statuses.count(0)

        def settled() -> bool:
            return all(len(f.smsc.record.texts_to(n)) >= min(k, 11) for n, k in per.items())

        await f.smsc.wait_for(settled, 120)
        replies = {n: f.smsc.record.texts_to(n) for n in per}
        figures.notes["answered"] = sum(
            1 for texts in replies.values() for t in texts if "000.00.18.H26-241129-0001" in t
        )
        figures.notes["limit_notices"] = sum(
            1 for texts in replies.values() for t in texts if "000.00.18.H26" not in t
        )
        figures.notes["over_limit_asks"] = sum(max(0, k - 10) for k in per.values())
        figures.notes["seconds_to_answer_all"] = round(time.monotonic() - t0, 1)
        figures.notes["most_in_a_second"] = most_in_a_second([s.at for s in f.smsc.record.submits])
        figures.notes["smsc_throttled"] = f.smsc.record.throttled
        figures.replies = {n: len(t) for n, t in replies.items()}
        figures.notes["sample_limit_notice"] = next(
            (t for texts in replies.values() for t in texts if "000.00.18.H26" not in t), ""
        )
    return figures
