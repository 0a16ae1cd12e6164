"""Benchmark the console: a year of statistics (goal: under a second to load).

    .venv/bin/python bench/console_bench.py stats            # a year of 1,000 calls a day
    .venv/bin/python bench/console_bench.py stats --days 30  # smoke size

Builds a year of generated traffic in the real IVR and SMS tables (tests/console_year.py:
1,000 calls a day, 50 SMS in and out, 10 reminders), runs the first rollup once (the
one-off cost when statistics are switched on over old data), then times what the console
does on every page load: the summary of the whole range per day and per hour of day,
from the rollup table. Reports the median and worst of --runs loads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.stats import StatsStore, to_csv
from tests import console_year as year


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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    part = sub.add_parser("stats", help="a year of statistics")
    part.add_argument("--days", type=int, default=365)
    part.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if args.part == "stats":
        stats(args.days, args.runs)


if __name__ == "__main__":
    main()
