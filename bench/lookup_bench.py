"""Benchmark the SQLite lookup: bulk import, then by_code and keypad latency.

    .venv/bin/python bench/lookup_bench.py                 # 1,000,000 dossiers
    .venv/bin/python bench/lookup_bench.py --count 20000   # smoke size

Goals (docs/benchmarks.md, "Lookup"): import of 1,000,000 dossiers <= 60 s,
keypad p99 <= 2 ms on the 2-core development machine. Dossiers come from
lookup.demo.generate (ten agencies, two configured for the keypad, as one
switchboard would be) and are built in memory first, so "import" is the
store's work alone: validation, normalisation and SQLite writes.
Latency is measured one query at a time through the public API (aiosqlite's
thread hop included), on a warm cache, with random existing codes.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookup.codes import parse_code
from lookup.demo import generate
from lookup.sqlite import DossierStore, SqliteLookup

AGENCIES = [f"000.00.{n:02d}.H26" for n in range(10, 20)]
CONFIGURED = {"000.00.18.H26": "UBND phường Cửa Nam", "000.00.19.H26": "UBND phường Hoàn Kiếm"}
TODAY = date(2026, 11, 30)


def percentile(samples_ns: list[int], fraction: float) -> float:
    ordered = sorted(samples_ns)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6


async def measure(name: str, query: Callable[[str], Awaitable[object]], keys: list[str]) -> None:
    for key in keys[:200]:  # warm-up: page cache, prepared statements, thread start
        await query(key)
    samples: list[int] = []
    for key in keys:
        start = time.perf_counter_ns()
        await query(key)
        samples.append(time.perf_counter_ns() - start)
    print(
        f"{name:<18} n={len(samples):>6}  p50 {percentile(samples, 0.50):.3f} ms  "
        f"p99 {percentile(samples, 0.99):.3f} ms  max {max(samples) / 1e6:.3f} ms  "
        f"mean {statistics.fmean(samples) / 1e6:.3f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}")
    start = time.perf_counter()
    dossiers = list(generate(args.count, today=TODAY, agencies=AGENCIES, seed=args.seed))
    print(f"generation         {len(dossiers)} dossiers in {time.perf_counter() - start:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite3"
        store = await DossierStore.open(db)
        start, cpu = time.perf_counter(), time.process_time()
        stored = await store.upsert_dossiers(dossiers)
        import_s, import_cpu = time.perf_counter() - start, time.process_time() - cpu
        await store.close()
        print(
            f"import             {stored} dossiers in {import_s:.1f} s "
            f"({stored / import_s:,.0f}/s; process CPU {import_cpu:.1f} s); "
            f"file {db.stat().st_size / 1e6:.0f} MB"
        )
        codes = [d.code for d in dossiers]
        del dossiers

        rng = random.Random(args.seed)
        sample = [rng.choice(codes) for _ in range(args.queries)]
        configured = [c for c in codes if c.split("-", 1)[0] in CONFIGURED]
        keypad = [parse_code(rng.choice(configured)).keypad for _ in range(args.queries)]
        lookup = await SqliteLookup.open(db, agencies=CONFIGURED)
        try:
            await measure("by_code", lookup.by_code, sample)
            await measure("by_code (compact)", lookup.by_code, [c.replace(".", "") for c in sample])
            await measure("by_keypad_digits", lookup.by_keypad_digits, keypad)
            # The floor: the same keypad query on a plain sqlite3 connection, no thread hop.
            direct = sqlite3.connect(db)
            sql = (
                "SELECT * FROM dossier WHERE code_date = ? AND seq_num = ?"
                " AND code_agency IN (?, ?)"
            )
            samples = []
            for digits in keypad:
                start_ns = time.perf_counter_ns()
                direct.execute(sql, (digits[:6], int(digits[6:]), *CONFIGURED)).fetchall()
                samples.append(time.perf_counter_ns() - start_ns)
            direct.close()
            print(
                f"keypad SQL only    n={len(samples):>6}  p50 {percentile(samples, 0.5):.3f} ms  "
                f"p99 {percentile(samples, 0.99):.3f} ms"
            )
            hits = [len(await lookup.by_keypad_digits(k)) for k in keypad[:1000]]
            print(f"keypad candidates  mean {statistics.fmean(hits):.2f} per query (>= 1 each)")
        finally:
            await lookup.close()


if __name__ == "__main__":
    asyncio.run(main())
