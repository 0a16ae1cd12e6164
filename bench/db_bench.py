"""kernel.db on SQLite: why one writer thread plus reader threads (WAL).

    .venv/bin/python bench/db_bench.py    # every configuration side by side, one run

Measures, in one run on one file: (1) the cost of one small read round trip on
the loop (kernel.db vs aiosqlite), (2) read latency while bulk writes (batches of
10,000 rows, as an import or a reminder scan) run, with reads on their own reader
threads (readers=2) against every statement on the one writer thread (readers=0).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiosqlite

from kernel.db import Database

STEPS = ("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL);",)
ROWS = 100_000
READS = 5_000


async def _fill(db: Database) -> None:
    await db.migrate("bench", STEPS)
    await db.executemany("INSERT INTO kv (k, v) VALUES (?, ?)", ((i, f"v{i}") for i in range(ROWS)))


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def round_trip_kernel(path: Path) -> float:
    db = await Database.open(path)
    try:
        start = time.process_time()
        for i in range(READS):
            await db.fetchone("SELECT v FROM kv WHERE k = ?", (i,))
        return (time.process_time() - start) / READS * 1e6
    finally:
        await db.close()


async def round_trip_aiosqlite(path: Path) -> float:
    async with aiosqlite.connect(path) as conn:
        start = time.process_time()
        for i in range(READS):
            await conn.execute_fetchall("SELECT v FROM kv WHERE k = ?", (i,))
        return (time.process_time() - start) / READS * 1e6


async def reads_during_writes(path: Path, readers: int) -> tuple[float, float, float]:
    db = await Database.open(path, readers=readers)
    stop = asyncio.Event()

    async def writer() -> None:
        n = int(await db.fetchval("SELECT max(k) FROM kv")) + 1
        while not stop.is_set():
            await db.executemany(
                "INSERT INTO kv (k, v) VALUES (?, ?)", [(n + i, "w") for i in range(10_000)]
            )
            n += 10_000

    latencies: list[float] = []
    task = asyncio.create_task(writer())
    try:
        await asyncio.sleep(0.05)
        for i in range(500):
            start = time.perf_counter()
            await db.fetchone("SELECT v FROM kv WHERE k = ?", (i * 7,))
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(0.002)
    finally:
        stop.set()
        await task
        await db.close()
    return _p(latencies, 50), _p(latencies, 99), max(latencies) * 1000


async def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bench.sqlite3"
        db = await Database.open(path)
        await _fill(db)
        await db.close()
        kernel_us = await round_trip_kernel(path)
        aio_us = await round_trip_aiosqlite(path)
        print(f"one read, loop CPU per call: kernel.db {kernel_us:.1f} us, aiosqlite {aio_us:.1f}")
        for readers in (2, 0):
            p50, p99, worst = await reads_during_writes(path, readers)
            print(
                f"reads during 10,000-row write batches, readers={readers}: "
                f"p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {worst:.2f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
