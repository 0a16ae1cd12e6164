"""Benchmark the console: a year of statistics, and the live board beside 1,000 calls.

    .venv/bin/python bench/console_bench.py stats            # a year of 1,000 calls a day
    .venv/bin/python bench/console_bench.py stats --days 30  # smoke size
    .venv/bin/python bench/console_bench.py board            # 1,000 calls, 200 browsers
    .venv/bin/python bench/console_bench.py board --smoke    # CI size

Part "board" (goal: the calls' reply -> next command p99 <= 10 ms, max <= 50 ms, as
issue 8 set for the phone line): this process runs the real FastAGI server, the
SQLite lookup and the console (live board on its event bus, with the instance
registry's heartbeat and merge on the same database) on one loop, as the gateway
does. A second process plays Asterisk for --calls paced calls (bench/ivr_bench.py's
pattern: every prompt "plays" --pace-ms, calls start over --ramp-s); it measures, for
every command, the time from writing its reply to reading the next command: the
server's whole turn, as a caller's line sees it. A third process holds --browsers
server-sent-event clients on /events and reads every frame. The calls run twice in
one run, without and then with the browsers, and the ratio of the two is reported.

Builds a year of generated traffic in the real IVR and SMS tables (tests/console_year.py:
1,000 calls a day, 50 SMS in and out, 10 reminders), runs the first rollup once (the
one-off cost when statistics are switched on over old data), then times what the console
does on every page load: the summary of the whole range per day and per hour of day,
from the rollup table. Reports the median and worst of --runs loads.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.stats import StatsStore, to_csv
from tests import console_year as year

BOARD_SMOKE = {"calls": 40, "browsers": 10, "pace_ms": 50.0, "ramp_s": 1.0, "count": 5_000}


def stats(days: int, runs: int) -> None:
    year.DAYS = days  # the generator reads it at build time
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "year.sqlite3"
        started = time.perf_counter()
        year.build(database)
        built_s = time.perf_counter() - started
        rollup_s, loads, calls = asyncio.run(_measure(database, days, runs))
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"data: {days} days, {calls} calls, built in {built_s:.1f} s")
    print(f"first rollup of the raw tables: {rollup_s:.2f} s (once)")
    print(
        f"load {days} days of statistics + CSV: median {statistics.median(loads) * 1000:.1f} ms,"
        f" worst {max(loads) * 1000:.1f} ms over {runs} runs (goal < 1000 ms)"
    )


async def _measure(database: Path, days: int, runs: int) -> tuple[float, list[float], int]:
    first, last = year.FIRST_DAY, year.FIRST_DAY + timedelta(days=days - 1)
    now = datetime.combine(last + timedelta(days=1), datetime.min.time(), year.ZONE)
    store = await StatsStore.open(database)
    try:
        started = time.perf_counter()
        await store.rollup(now)
        rollup_s = time.perf_counter() - started
        loads = []
        for _ in range(runs):
            started = time.perf_counter()
            summary = await store.summary(first, last, year.ZONE)
            to_csv(summary)
            loads.append(time.perf_counter() - started)
    finally:
        await store.close()
    return rollup_s, loads, summary.total("calls")


# ---- the live board beside the calls


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def callers_main(port: int, codes: list[str], pace_s: float, ramp_s: float, out: Any) -> None:
    from bench.ivr_bench import raise_fd_limit

    raise_fd_limit()
    out.send(asyncio.run(_callers(port, codes, pace_s, ramp_s)))


async def _callers(port: int, codes: list[str], pace_s: float, ramp_s: float) -> dict[str, Any]:
    from peers.asterisk import SimulatedAsterisk

    gaps: list[float] = []
    errors: list[str] = []

    async def one(i: int, code: str) -> None:
        await asyncio.sleep(ramp_s * i / max(1, len(codes)))
        peer = SimulatedAsterisk(f"1 {code}# 1 _ _ _", uniqueid=f"b.{i}", pace_s=pace_s)
        try:
            record = await peer.call("127.0.0.1", port, timeout_s=300)
        except OSError as exc:
            errors.append(f"connect: {exc}")
            return
        if record.ended != "returned":
            errors.append(f"call {i}: ended {record.ended}")
        line = record.timeline
        # The server's turns: our reply written -> its next command read.
        gaps.extend(
            (t1 - t0) * 1000
            for (t0, k0, _), (t1, k1, _) in itertools.pairwise(line)
            if k0 == "reply" and k1 == "cmd"
        )

    started = time.perf_counter()
    await asyncio.gather(*(one(i, c) for i, c in enumerate(codes)))
    return {"gaps_ms": gaps, "errors": errors, "wall_s": time.perf_counter() - started}


BENCH_USER, BENCH_PASSWORD = "bench", "mật khẩu đo tải"


def browsers_main(port: int, n: int, out: Any, stop: Any) -> None:
    out.send(asyncio.run(_browsers(port, n, stop)))


async def _browsers(port: int, n: int, stop: Any) -> dict[str, Any]:
    import re

    import aiohttp

    frames = [0] * n
    received = [0] * n
    base = f"http://127.0.0.1:{port}"

    async def sign_in(session: aiohttp.ClientSession) -> None:
        """One operator signed in through the real form; the tabs share its cookie."""
        page = await (await session.get(f"{base}/login")).text()
        found = re.search(r'name="_csrf" value="([^"]+)"', page)
        assert found, "no CSRF token on the sign-in page"
        form = {"_csrf": found.group(1), "name": BENCH_USER, "password": BENCH_PASSWORD}
        done = await session.post(
            f"{base}/login", data={**form, "next": "/"}, allow_redirects=False
        )
        assert done.status == 303, f"sign-in refused: {done.status}"

    async def one(i: int, session: aiohttp.ClientSession) -> None:
        async with session.get(f"{base}/events") as response:
            assert response.status == 200, f"/events answered {response.status}"
            async for line in response.content:
                received[i] += len(line)
                if line.startswith(b"event: board"):
                    frames[i] += 1

    connector = aiohttp.TCPConnector(limit=0)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1 (an IP address)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        await sign_in(session)
        tasks = [asyncio.create_task(one(i, session)) for i in range(n)]
        while not stop.is_set():  # noqa: ASYNC110 - another process's Event
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"frames": frames, "bytes": sum(received)}


async def _phase(
    port: int, codes: list[str], pace_s: float, ramp_s: float
) -> tuple[dict[str, Any], float, float]:
    """One run of the calls; (their figures, server CPU s, worst loop lag ms)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=callers_main, args=(port, codes, pace_s, ramp_s, send))
    worst = [0.0]

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            worst[0] = max(worst[0], (loop.time() - before - 0.01) * 1000)

    ticking = asyncio.create_task(ticker())
    cpu0 = time.process_time()
    process.start()
    result: dict[str, Any] = await asyncio.to_thread(receive.recv)
    cpu_s = time.process_time() - cpu0
    ticking.cancel()
    await asyncio.to_thread(process.join)
    return result, cpu_s, worst[0]


async def board(calls: int, browsers: int, pace_ms: float, ramp_s: float, count: int) -> None:
    from datetime import date

    from aiohttp import web

    from bench.ivr_bench import (
        AGENCIES,
        CONFIGURED,
        TODAY,
        build_database,
        keypad_samples,
        raise_fd_limit,
    )
    from console.access import ACCOUNTS
    from console.app import HUB, create_app
    from console.board_instances import Instance
    from console.board_registry import identity
    from console.roles import Role
    from console.signin import PASSWORDS
    from gateway.settings import Settings
    from ivr.service import build_server
    from kernel.bus import EventBus
    from kernel.office import Agency
    from lookup.sqlite import SqliteLookup

    raise_fd_limit()
    del AGENCIES  # the database's agencies come with build_database
    settings = Settings(
        agi={"host": "127.0.0.1", "port": 0, "max_calls": 5000},
        agencies=tuple(Agency(id=k, name=v) for k, v in CONFIGURED.items()),
    )
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.sqlite3"
        await build_database(db, count)
        lookup = await SqliteLookup.open(db, agencies=CONFIGURED)
        bus = EventBus()
        server = build_server(settings, lookup, bus=bus, available=lambda _prompt: True)
        await server.start()
        # As a gateway runs it (console/service.py): the shared database, so the board
        # also samples queue depths, heartbeats this instance and merges the registry.
        me = identity("bench-gw", 0, time.time())
        app = create_app(
            lookup,
            bus,
            lambda: date(2026, 11, 30),
            line_limit=5000,
            database=db,
            instance=Instance(me),
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        http_port = runner.addresses[0][1]
        password_hash = await app[PASSWORDS].hash(BENCH_PASSWORD)
        await app[ACCOUNTS].add_user(BENCH_USER, Role.OPERATOR, password_hash)
        codes = keypad_samples(db, calls, seed=calls)
        del TODAY
        try:
            print(
                f"machine: {platform.machine()} {os.cpu_count()} CPUs, "
                f"load {os.getloadavg()[0]:.2f}; {calls} calls, pace {pace_ms:g} ms a prompt, "
                f"ramp {ramp_s:g} s; {browsers} browsers on the live board"
            )
            alone = await _phase(server.port, codes, pace_ms / 1000, ramp_s)
            ctx = multiprocessing.get_context("spawn")
            receive, send = ctx.Pipe(duplex=False)
            stop = ctx.Event()
            watchers = ctx.Process(target=browsers_main, args=(http_port, browsers, send, stop))
            watchers.start()
            hub = app[HUB]
            try:
                async with asyncio.timeout(60):
                    while hub.clients < browsers:  # noqa: ASYNC110 - a count, not an event
                        await asyncio.sleep(0.1)
            except TimeoutError:
                stop.set()
                watchers.join(10)
                raise
            watched = await _phase(server.port, codes, pace_ms / 1000, ramp_s)
            stop.set()
            seen: dict[str, Any] = await asyncio.to_thread(receive.recv)
            await asyncio.to_thread(watchers.join)
        finally:
            await runner.cleanup()
            await server.stop(drain_s=5)
            await lookup.close()
    for name, (result, cpu_s, lag_ms) in (("without browsers", alone), ("with browsers", watched)):
        gaps = result["gaps_ms"]
        print(
            f"{name:>17}: reply -> next command p50 {_percentile(gaps, 0.5):5.2f} ms  "
            f"p99 {_percentile(gaps, 0.99):5.2f} ms  max {max(gaps, default=0):6.2f} ms "
            f"over {len(gaps)} commands; errors {len(result['errors'])}; worst loop lag "
            f"{lag_ms:5.1f} ms; server CPU {cpu_s:.1f} s; wall {result['wall_s']:.1f} s"
        )
        for error in result["errors"][:3]:
            print("   ", error)
    p99 = [_percentile(r[0]["gaps_ms"], 0.99) for r in (alone, watched)]
    frames = seen["frames"]
    print(
        f"ratio p99 with/without browsers: {p99[1] / p99[0] if p99[0] else float('nan'):.2f}; "
        f"each browser got {min(frames)}-{max(frames)} board frames "
        f"({seen['bytes'] / max(1, len(frames)) / 1024:.0f} KiB each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    part = sub.add_parser("stats", help="a year of statistics")
    part.add_argument("--days", type=int, default=365)
    part.add_argument("--runs", type=int, default=20)
    part = sub.add_parser("board", help="the live board beside 1,000 calls")
    part.add_argument("--calls", type=int, default=1000)
    part.add_argument("--browsers", type=int, default=200)
    part.add_argument("--pace-ms", type=float, default=1000.0, help="how long a prompt plays")
    part.add_argument("--ramp-s", type=float, default=10.0, help="calls start spread over this")
    part.add_argument("--count", type=int, default=50_000, help="dossiers in the lookup")
    part.add_argument("--smoke", action="store_true", help="CI size: 40 calls, 10 browsers")
    args = parser.parse_args()
    if args.part == "stats":
        stats(args.days, args.runs)
    else:
        sizes = (
            BOARD_SMOKE
            if args.smoke
            else {
                "calls": args.calls,
                "browsers": args.browsers,
                "pace_ms": args.pace_ms,
                "ramp_s": args.ramp_s,
                "count": args.count,
            }
        )
        asyncio.run(board(**sizes))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
