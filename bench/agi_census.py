"""What a FastAGI call in flight keeps alive for the garbage collector to walk.

    .venv/bin/python bench/agi_census.py            # 500 calls held in their 2nd command
    .venv/bin/python bench/agi_census.py --at 3     # ... in their 3rd (GET DATA)

The real server (ivr.service.build_server) in this process; 500 simulated Asterisk
calls (peers.asterisk) in a child process, each holding back its reply to its `--at`-th
command until all are there. The census counts `gc.get_objects()` by type in the
server process before the calls and while they are held, per call in flight, and
lists the coroutines by name. Every full collection walks these objects for every
call in flight (docs/benchmarks.md, FastAGI, third pass).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import logging
import multiprocessing
import sys
import types
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


def callers(port: int, calls: int, at: int, conn: Connection) -> None:
    from peers.asterisk import SimulatedAsterisk

    arrived: list[str] = []

    async def run() -> None:
        gate = asyncio.Event()

        class Held(SimulatedAsterisk):
            async def _execute(self, command: str) -> bytes:
                if len(self.record.commands) == at:
                    arrived.append(command)
                    if len(arrived) == calls:
                        conn.send(command)
                    await gate.wait()
                return await super()._execute(command)

        # Silence after the hold: the menu times out to its end, no lookup needed.
        tasks = [
            asyncio.create_task(Held("", uniqueid=f"1.{n}").call("127.0.0.1", port, timeout_s=120))
            for n in range(calls)
        ]
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(run())


def census() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


async def main(calls: int, at: int) -> None:
    from gateway.settings import Settings
    from ivr.service import build_server

    logging.disable(logging.WARNING)
    settings = Settings(agi={"port": 0, "max_calls": calls + 10})
    lookup: Any = object()  # never asked: the calls stay silent
    server = build_server(settings, lookup, clock=lambda: NOW, available=lambda _: True)
    await server.start()
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    loop = asyncio.get_running_loop()
    before = census()
    child = ctx.Process(target=callers, args=(server.port, calls, at, theirs))
    child.start()
    command = await loop.run_in_executor(None, ours.recv)
    await asyncio.sleep(0.3)  # the last replies held, every call waiting
    during = census()
    coroutines = collections.Counter(
        o.cr_code.co_qualname for o in gc.get_objects() if isinstance(o, types.CoroutineType)
    )
    ours.send("go")
    await loop.run_in_executor(None, child.join)
    await server.stop(drain_s=5)
    total = sum(during.values()) - sum(before.values())
    print(f"{calls} calls held at command {at} ({command!r})")
    print(f"objects tracked by the collector, per call in flight: {total / calls:.1f}")
    grown = {k: v - before.get(k, 0) for k, v in during.items()}
    for name, n in sorted(grown.items(), key=lambda kv: -kv[1]):
        if n >= calls // 5:
            print(f"  {name:28s} {n / calls:5.2f}")
    print("coroutines per call:")
    for name, n in coroutines.most_common():
        if n >= calls // 5:
            print(f"  {name:28s} {n / calls:5.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--at", type=int, default=2, help="hold each call at this command")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.at))
