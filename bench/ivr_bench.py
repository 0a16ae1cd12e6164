"""Benchmark the voice side: concurrent simulated calls, and abrupt disconnect floods.

    .venv/bin/python bench/ivr_bench.py --smoke                      # CI size, ~10 s
    .venv/bin/python bench/lookup_bench.py --db /tmp/1m.sqlite3      # build 1M dossiers once
    .venv/bin/python bench/ivr_bench.py --database /tmp/1m.sqlite3   # 100, 500, 1000 calls

Part 1 (goal: p99 <= 10 ms and 0 errors at 1,000 concurrent calls): the real
FastAGI server and SQLite lookup run in this process; the callers
(peers.asterisk, playing Asterisk) run in a second process so they do not
share the server's event loop. Every prompt "plays" for --pace-ms and calls
start spread over --ramp-s, so all N calls are up at once. Decision latency is
measured at the caller side: from the reply carrying the last key of the code
to the first command that plays an answer prompt (flow step, lookup, speech
and the please-wait prompt in between).

Part 2 (goal: nothing leaked, no loop stall > 50 ms): 10,000 connections that
die abruptly (before the header, mid-header, after the header with the
command unanswered, and reset with SO_LINGER 0); a ticker in the server
process records the worst event-loop lag; afterwards the server must hold no
connection, task or file descriptor more than before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import os
import platform
import random
import resource
import socket
import sqlite3
import struct
import sys
import tempfile
import time
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.settings import Settings
from ivr.agi_wire import AgiChannel, Reply
from ivr.service import build_server
from kernel.office import Agency
from lookup.demo import generate
from lookup.model import PublicView
from lookup.sqlite import DossierStore, SqliteLookup
from peers.asterisk import SimulatedAsterisk, agi_environment

# The same agencies as bench/lookup_bench.py, so its --db file can be reused.
AGENCIES = [f"000.00.{n:02d}.H26" for n in range(10, 20)]
CONFIGURED = {"000.00.18.H26": "UBND phường Cửa Nam", "000.00.19.H26": "UBND phường Hoàn Kiếm"}
TODAY = date(2026, 11, 30)
ANSWER_START = ("tracuu/dossier_code", "tracuu/ivr_several_found")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def build_database(path: Path, count: int) -> None:
    store = await DossierStore.open(path)
    await store.upsert_dossiers(generate(count, today=TODAY, agencies=AGENCIES, seed=1))
    await store.close()


def keypad_samples(path: Path, n: int, seed: int) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT code_date, seq_num FROM dossier WHERE code_agency IN (?, ?)",
            list(CONFIGURED),
        ).fetchall()
    rng = random.Random(seed)
    return [f"{d}{s:04d}" for d, s in (rng.choice(rows) for _ in range(n))]


# ---- server-side trace: when each command left and each reply arrived, per channel

TRACES: list[list[tuple[float, str, str]]] = []
_untraced_run = AgiChannel.run


async def _traced_run(self: AgiChannel, command: str, *, timeout_s: float | None = None) -> Reply:
    trace = self.__dict__.get("bench_trace")
    if trace is None:
        trace = self.__dict__["bench_trace"] = []
        TRACES.append(trace)
    trace.append((time.perf_counter(), "cmd", command))  # about to be sent
    reply = await _untraced_run(self, command, timeout_s=timeout_s)
    trace.append((time.perf_counter(), "reply", reply.line))  # received and parsed
    return reply


def decision_times(trace: list[tuple[float, str, str]], code: str) -> tuple[float, float] | None:
    """(last key -> first answer prompt, with the caller's turns left out; last key -> first
    prompt sent), in ms, from one call's timeline; None if the call never got an answer."""
    key_at = next(
        (i for i, (_, kind, text) in enumerate(trace) if kind == "reply" and code in text), None
    )
    if key_at is None:
        return None
    answer_at = next(
        (
            i
            for i, (_, kind, text) in enumerate(trace)
            if i > key_at and kind == "cmd" and any(a in text for a in ANSWER_START)
        ),
        None,
    )
    if answer_at is None:
        return None
    # Only the server's turns: reply received -> next command sent. The caller's turns
    # (hearing "please wait", --pace-ms) are left out.
    server_s = sum(
        t1 - t0
        for (t0, k0, _), (t1, k1, _) in zip(
            trace[key_at:answer_at], trace[key_at + 1 : answer_at + 1], strict=True
        )
        if k0 == "reply" and k1 == "cmd"
    )
    return server_s * 1000, (trace[key_at + 1][0] - trace[key_at][0]) * 1000


def _keyed(trace: list[tuple[float, str, str]], code: str) -> bool:
    return any(kind == "reply" and text == f"200 result={code}" for _, kind, text in trace)


# ---- the callers' process


def callers_main(
    port: int, codes: list[str], pace_s: float, ramp_s: float, out: Connection
) -> None:
    raise_fd_limit()
    out.send(asyncio.run(_callers(port, codes, pace_s, ramp_s)))


async def _callers(port: int, codes: list[str], pace_s: float, ramp_s: float) -> dict[str, Any]:
    latencies: list[float] = []
    first: list[float] = []  # last key -> the first prompt the server sends (please wait)
    errors: list[str] = []
    start = time.perf_counter()

    async def one(i: int, code: str) -> None:
        await asyncio.sleep(ramp_s * i / max(1, len(codes)))
        # '1' answers the menu; the code; '1' picks the first agency if the digits are
        # ambiguous (else replays the answer); then silence until goodbye.
        peer = SimulatedAsterisk(f"1 {code}# 1 _ _ _", uniqueid=f"b.{i}", pace_s=pace_s)
        try:
            record = await peer.call("127.0.0.1", port, timeout_s=120)
        except OSError as exc:
            errors.append(f"connect: {exc}")
            return
        if record.ended != "returned" or record.variables.get("TRACUU_NEXT") != "goodbye":
            errors.append(f"call {i}: ended {record.ended} {record.variables}")
            return
        times = decision_times(record.timeline, code)
        if times is None:
            errors.append(f"call {i}: no answer for {code}")
            return
        latencies.append(times[0])
        first.append(times[1])

    await asyncio.gather(*(one(i, c) for i, c in enumerate(codes)))
    return {
        "latencies_ms": latencies,
        "first_ms": first,
        "errors": errors,
        "wall_s": time.perf_counter() - start,
    }


# ---- part 1


async def calls(settings: Settings, db: Path, n: int, pace_s: float, ramp_s: float) -> None:
    lookup = await SqliteLookup.open(db, agencies=CONFIGURED, collection_place="Bộ phận Một cửa")
    lookup_ms: list[float] = []
    keypad = lookup.by_keypad_digits

    async def timed_keypad(digits: str) -> list[PublicView]:
        start = time.perf_counter()
        try:
            return await keypad(digits)
        finally:
            lookup_ms.append((time.perf_counter() - start) * 1000)

    lookup.by_keypad_digits = timed_keypad  # type: ignore[method-assign]
    server = build_server(settings, lookup)
    await server.start()
    codes = keypad_samples(db, n, seed=n)
    TRACES.clear()
    AgiChannel.run = _traced_run  # type: ignore[method-assign]
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=callers_main, args=(server.port, codes, pace_s, ramp_s, send))
    cpu0 = time.process_time()
    process.start()
    result: dict[str, Any] = await asyncio.to_thread(receive.recv)
    cpu_s = time.process_time() - cpu0
    process.join()
    await server.stop(drain_s=5)
    AgiChannel.run = _untraced_run  # type: ignore[method-assign]
    await lookup.close()
    measured = [
        t
        for trace in TRACES
        for t in [next((decision_times(trace, c) for c in codes if _keyed(trace, c)), None)]
        if t is not None
    ]
    lat = [t[0] for t in measured]
    first = [t[1] for t in measured]
    seen = result["latencies_ms"]
    print(
        f"{n:>5} concurrent calls: server decision p50 {percentile(lat, 0.5):5.2f} ms  "
        f"p99 {percentile(lat, 0.99):5.2f} ms  max {max(lat):6.2f} ms  "
        f"(first prompt p99 {percentile(first, 0.99):5.2f} ms; keypad lookup "
        f"p50 {percentile(lookup_ms, 0.5):5.2f} p99 {percentile(lookup_ms, 0.99):5.2f} ms; "
        f"as the callers saw it "
        f"p50 {percentile(seen, 0.5):5.2f} p99 {percentile(seen, 0.99):6.2f} ms)  "
        f"errors {len(result['errors'])}  refused-busy {server.refused_busy}  "
        f"server CPU {cpu_s / n * 1e3:.2f} ms/call  wall {result['wall_s']:.1f} s"
    )
    for error in result["errors"][:5]:
        print("   ", error)


# ---- part 2


def aborters_main(port: int, total: int, parallel: int, out: Connection) -> None:
    out.send(asyncio.run(_aborters(port, total, parallel)))


async def _aborters(port: int, total: int, parallel: int) -> dict[str, int]:
    env = agi_environment(caller="0912345678")
    kinds = {"before_header": 0, "mid_header": 0, "mid_command": 0, "reset": 0}
    gate = asyncio.Semaphore(parallel)

    async def one(i: int) -> None:
        kind = list(kinds)[i % 4]
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if kind == "mid_header":
                writer.write(env[: len(env) // 2])
            elif kind in ("mid_command", "reset"):
                writer.write(env)
                await reader.readline()  # the server's first command (ANSWER), unanswered
            if kind == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            kinds[kind] += 1

    await asyncio.gather(*(one(i) for i in range(total)))
    return kinds


async def aborts(
    settings: Settings, db: Path, total: int, parallel: int, *, freeze: bool = False
) -> None:
    lookup = await SqliteLookup.open(db, agencies=CONFIGURED)
    server = build_server(settings, lookup)
    await server.start()
    if freeze:
        # What a composition root can do after start-up: move every long-lived object
        # out of the collector's reach, so a full collection scans only new objects.
        gc.collect()
        gc.freeze()
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - t - 0.005)

    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=aborters_main, args=(server.port, total, parallel, send))
    # Process.start() forks in this thread: counted before the ticker starts, it is the
    # bench's own pause, not the server's.
    process.start()
    send.close()
    fds_before = len(os.listdir("/proc/self/fd"))
    tasks_before = len(asyncio.all_tasks())
    tick = asyncio.create_task(ticker())
    kinds = await asyncio.to_thread(receive.recv)
    async with asyncio.timeout(60):  # the server notices the last closes (a bound, not a goal)
        await server.idle()
    stop.set()
    await tick
    fds_after = len(os.listdir("/proc/self/fd"))
    tasks_after = len(asyncio.all_tasks())
    await asyncio.to_thread(process.join)
    receive.close()
    print(
        f"{total} abrupt connections, {parallel} at a time{', gc.freeze()' if freeze else ''} "
        f"{kinds}: "
        f"loop lag worst {max(lags) * 1000:.1f} ms, "
        f"p99 {percentile(lags, 0.99) * 1000:.1f} ms, over 50 ms {sum(g > 0.05 for g in lags)} "
        f"of {len(lags)} ticks; "
        f"live connections after {server.connections}, active calls {server.active_calls}, "
        f"fds {fds_before} -> {fds_after}, tasks {tasks_before} -> {tasks_after}"
    )
    await server.stop(drain_s=1)
    await lookup.close()


def raise_fd_limit() -> None:
    """1,000 calls hold 1,000 sockets in each process: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database", type=Path, help="existing dossier DB (bench/lookup_bench.py --db)"
    )
    parser.add_argument(
        "--count", type=int, default=1_000_000, help="dossiers to build without --database"
    )
    parser.add_argument("--concurrency", default="100,500,1000")
    parser.add_argument(
        "--pace-ms", type=float, default=500.0, help="how long each prompt plays (real: 1-3 s)"
    )
    parser.add_argument("--ramp-s", type=float, default=10.0, help="calls start spread over this")
    parser.add_argument("--aborts", type=int, default=10_000)
    parser.add_argument(
        "--gc-freeze", action="store_true", help="repeat the floods after gc.freeze()"
    )
    parser.add_argument(
        "--abort-parallel", default="20,200", help="connections the flood keeps open at once"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="20,000 dossiers, 50 calls, 1,000 aborts"
    )
    args = parser.parse_args()
    if args.smoke:
        args.count, args.concurrency, args.aborts = 20_000, "10,50", 1_000
        args.pace_ms, args.ramp_s = 50.0, 0.5
    raise_fd_limit()

    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"sqlite {sqlite3.sqlite_version}"
    )
    settings = Settings(
        agi={"host": "127.0.0.1", "port": 4573, "max_calls": 5000},
        agencies=tuple(Agency(id=k, name=v) for k, v in CONFIGURED.items()),
    )
    settings = settings.model_copy(update={"agi": settings.agi.model_copy(update={"port": 0})})
    with tempfile.TemporaryDirectory() as tmp:
        db = args.database
        if db is None:
            db = Path(tmp) / "bench.sqlite3"
            start = time.perf_counter()
            await build_database(db, args.count)
            print(f"built {args.count} dossiers in {time.perf_counter() - start:.1f} s")
        with sqlite3.connect(db) as conn:
            (count,) = conn.execute("SELECT count(*) FROM dossier").fetchone()
        print(f"database {count} dossiers; pace {args.pace_ms} ms a prompt, ramp {args.ramp_s} s")
        for n in (int(x) for x in args.concurrency.split(",")):
            await calls(settings, db, n, args.pace_ms / 1000, args.ramp_s)
        for parallel in (int(x) for x in args.abort_parallel.split(",")):
            await aborts(settings, db, args.aborts, parallel)
        if args.gc_freeze:
            for parallel in (int(x) for x in args.abort_parallel.split(",")):
                await aborts(settings, db, args.aborts, parallel, freeze=True)
            gc.unfreeze()


if __name__ == "__main__":
    asyncio.run(main())
