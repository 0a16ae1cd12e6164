"""Full garbage-collection passes of a gateway process, with and without the start-up freeze.

    .venv/bin/python bench/gc_bench.py     # the mixed bench's 1,000,000-dossier base, 100 s each
    .venv/bin/python bench/gc_bench.py --dossiers 20000 --seconds 20   # smoke size

One gateway process (`gateway.app.serve`, every component) over a fresh copy of the
cached base of bench/mixed_bench.py, whose reminder job starts its first scan of every
dossier; for --seconds, every full collection (generation 2) is timed in CPU of the
thread that ran it (time.thread_time: a loaded machine does not inflate it) and in wall
time. Then the same with kernel/heap.py's freeze turned off, side by side. A full pass
holds the GIL: the event loop, and every call's next AGI command, wait for it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import subprocess
import sys
import time
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def one(freeze: bool, database: str, seconds: float) -> None:
    from mixed_bench import BENCH, KEYPAD_AGENCY

    from gateway import app
    from gateway.settings import Settings
    from kernel.office import Agency

    if not freeze:
        app.freeze_startup = lambda: None  # type: ignore[assignment]
    passes: list[tuple[float, float]] = []
    mark = [0.0, 0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            mark[:] = [time.thread_time(), time.perf_counter()]
        else:
            passes.append((time.thread_time() - mark[0], time.perf_counter() - mark[1]))

    gc.callbacks.append(timed)
    settings = Settings(
        database=database,
        agencies=(Agency(id=KEYPAD_AGENCY, name="UBND phường Cửa Nam"),),
        agi={"host": "127.0.0.1", "port": 0},
        http={"host": "127.0.0.1", "port": 0},
        sms={"window_start": dtime(0, 0), "window_end": dtime(23, 59, 59), "reminder_poll_s": 1},
        sounds={"dir": str(BENCH / "sounds"), "engine": "espeak"},
    )

    async def serve() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(app.serve(settings, stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task

    asyncio.run(serve())
    cpu = sorted(p[0] for p in passes) or [0.0]
    wall = sorted(p[1] for p in passes) or [0.0]
    print(
        f"freeze {'on ' if freeze else 'off'}: {len(passes)} full passes in {seconds:g} s; "
        f"CPU per pass p50 {cpu[len(cpu) // 2] * 1000:.1f} ms, max {cpu[-1] * 1000:.1f} ms; "
        f"wall max {wall[-1] * 1000:.0f} ms; objects the collector tracks at the end "
        f"{len(gc.get_objects())}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=100.0)
    parser.add_argument("--one", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one == "on", args.database, args.seconds)
        return
    from mixed_bench import base_file, sounds_dir

    base = base_file(args.dossiers)
    sounds_dir(base)  # every prompt rendered once, as the mixed bench does
    load = os.getloadavg()
    print(f"{args.dossiers} dossiers; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    scratch = base.parent / "gc-run"
    scratch.mkdir(exist_ok=True)
    for mode in ("on", "off"):
        copy = scratch / "tracuu.sqlite3"
        for suffix in ("-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(base, copy)
        subprocess.run(
            [sys.executable, __file__, "--one", mode, "--database", str(copy),
             "--seconds", str(args.seconds)],
            check=True, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
