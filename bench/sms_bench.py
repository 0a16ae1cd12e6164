"""SMS benchmarks: the SMPP link against the test SMSC, and the reminder job.

    .venv/bin/python bench/sms_bench.py            # full size
    .venv/bin/python bench/sms_bench.py --smoke    # seconds, for CI

The test SMSC (peers/smsc.py, smpp.pdu3) runs in a process of its own so it
does not share the GIL with the link thread; the gateway side is the real
SmppLink thread and the SQLite outbox. Figures, each with its goal:

1. sustained rate at a configured TPS, SMSC throttling above it: >= 99 %, 0 throttled
   ("tps": a token-bucket SMSC at 200/s; "pace": a strict SMSC, at most 50 accepted in
   any sliding second, tps = 50)
1b. "adapt": the same strict SMSC allowing 30/s while tps = 50: the rate the link
   learns (rate/SMSC limit) and the throttles it costs
2. window vs send-and-wait, SMSC answering each submit after 20 ms: >= 10x
3. loopback, no delay: outbox -> SMSC -> receipts matched: >= 3,000 msg/s
4. 100,000 due reminders selected and queued: <= 5 s, RSS <= 200 MB (own process)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sms.link import SmppLink  # noqa: E402
from sms.outbox import Outbox, migrate_file, migrate_sync  # noqa: E402
from sms.settings import SmppSettings  # noqa: E402


class Smsc:
    """`python -m peers.smsc` in a subprocess."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "peers.smsc", "--port", "0", *options],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().split()[2])

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        result: dict[str, Any] = json.loads(self.process.stdout.readline())
        return result

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def fill(database: Path, count: int) -> None:
    migrate_sync(database)
    outbox = Outbox.open(database)
    with outbox.transaction():
        for i in range(count):
            outbox.enqueue(
                f"8490{i % 10_000_000:07d}",
                f"Tin nhan thu {i}",
                kind="test",
                accents=False,
                now=0.0,
            )
    outbox.close()


def count_state(database: Path, states: tuple[str, ...]) -> int:
    with sqlite3.connect(database) as conn:
        marks = ",".join("?" * len(states))
        row = conn.execute(f"SELECT COUNT(*) FROM sms_message WHERE state IN ({marks})", states)
        return int(row.fetchone()[0])


def run_link(
    count: int, smsc: Smsc, *, window: int, tps: float, until: tuple[str, ...], timeout_s: float
) -> float:
    """Send `count` queued messages; seconds from bind until all reach `until`.

    Sets LAST_CPU to (this process, the SMSC) CPU seconds while sending."""
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "bench.sqlite3"
        fill(database, count)
        bound = []
        settings = SmppSettings(
            host="127.0.0.1", port=smsc.port, system_id="bench", window=window, tps=tps
        )

        def on_state(state: str, detail: str) -> None:
            if state == "up":
                bound.append(time.monotonic())

        link = SmppLink(settings, database, on_state=on_state)
        cpu = _cpu_s(), _cpu_s(smsc.process.pid)
        link.start()
        deadline = time.monotonic() + timeout_s
        try:
            # A cheap check (the newest message's state) until it is done, then the count.
            while not (last_done(database, until) and count_state(database, until) >= count):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {count_state(database, until)} of {count} done")
                time.sleep(0.01)
            done = time.monotonic()
        finally:
            link.stop(10)
        LAST_CPU[:] = [_cpu_s() - cpu[0], _cpu_s(smsc.process.pid) - cpu[1]]
        LAST_RATE[:] = [link.pacer.rate]
        return done - bound[0]


LAST_CPU = [0.0, 0.0]
LAST_RATE = [0.0]  # the pacer's rate when the run ended


def last_done(database: Path, states: tuple[str, ...]) -> bool:
    with sqlite3.connect(database) as conn:
        row = conn.execute("SELECT state FROM sms_message ORDER BY id DESC LIMIT 1").fetchone()
        return row is not None and row[0] in states


def bench_tps(smoke: bool) -> dict[str, Any]:
    tps = 50.0 if smoke else 200.0
    count = int(tps * (3 if smoke else 20))
    smsc = Smsc("--max-tps", str(tps), "--no-receipts")
    try:
        # A bound, met as soon as all are sent: generous, so a loaded machine
        # gives a slow figure, not a failed run.
        run_link(
            count, smsc, window=10, tps=tps, until=("submitted",),
            timeout_s=max(120.0, count / tps * 3),
        )  # fmt: skip
        stats = smsc.stats()
    finally:
        smsc.close()
    rate = (stats["submits"] - 1) / (stats["last_at"] - stats["first_at"])
    return {
        "configured_tps": tps,
        "messages": count,
        "smsc_submits": stats["submits"],
        "measured_tps": round(rate, 2),
        "ratio": round(rate / tps, 4),
        "throttled": stats["throttled"],
    }


def _paced(tps: float, limit: float, count: int) -> dict[str, Any]:
    """`count` messages at `tps` against an SMSC allowing `limit` in any sliding second."""
    smsc = Smsc("--max-tps", str(limit), "--tps-counting", "sliding", "--no-receipts")
    try:
        run_link(
            count, smsc, window=10, tps=tps, until=("submitted",), timeout_s=max(120.0, count / 5)
        )
        stats = smsc.stats()
    finally:
        smsc.close()
    rate = (stats["submits"] - 1) / (stats["last_at"] - stats["first_at"])
    return {
        "configured_tps": tps,
        "smsc_limit": limit,
        "messages": count,
        "smsc_submits": stats["submits"],
        "measured_tps": round(rate, 2),
        "ratio_to_limit": round(rate / limit, 4),
        "throttled": stats["throttled"],
        "most_in_a_second": stats["most_in_a_second"],
        "rate_learnt": round(LAST_RATE[0], 2),
    }


def bench_pace(smoke: bool) -> dict[str, Any]:
    return _paced(50.0, 50.0, 150 if smoke else 1_500)


def bench_adapt(smoke: bool) -> dict[str, Any]:
    return _paced(50.0, 30.0, 120 if smoke else 900)


def bench_window(smoke: bool) -> dict[str, Any]:
    count = 100 if smoke else 500
    smsc = Smsc("--submit-delay", "0.02", "--no-receipts")
    try:
        wait = run_link(count, smsc, window=1, tps=100_000, until=("submitted",), timeout_s=120)
        windowed = run_link(
            count, smsc, window=50, tps=100_000, until=("submitted",), timeout_s=120
        )
    finally:
        smsc.close()
    return {
        "messages": count,
        "send_and_wait_msg_s": round(count / wait, 1),
        "window_50_msg_s": round(count / windowed, 1),
        "ratio": round(wait / windowed, 1),
    }


def _cpu_s(pid: int | None = None) -> float:
    """User+system CPU seconds of a process (this one by default)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def bench_loopback(smoke: bool) -> dict[str, Any]:
    count = 2_000 if smoke else 20_000
    smsc = Smsc("--fast-encoding")  # responses packed with struct; submits decoded by pdu3
    try:
        seconds = run_link(
            count, smsc, window=100, tps=1_000_000, until=("delivered",), timeout_s=300
        )
        ours, theirs = LAST_CPU
        stats = smsc.stats()
    finally:
        smsc.close()
    return {
        "messages": count,
        "seconds": round(seconds, 2),
        "msg_s_delivered": round(count / seconds, 1),
        "smsc_submits": stats["submits"],
        # CPU per message while sending, so a loaded machine's figure can be judged
        # (the gateway side includes this script's polling of the database).
        "gateway_cpu_ms_per_msg": round(ours * 1000 / count, 3),
        "smsc_cpu_ms_per_msg": round(theirs * 1000 / count, 3),
    }


REMINDERS_CHILD = """
import asyncio, json, resource, sys, time
sys.path.insert(0, {root!r})
from bench.sms_bench import reminders_child
print(json.dumps(asyncio.run(reminders_child({count}))))
"""


async def reminders_child(count: int) -> dict[str, Any]:
    """In its own process: the watch table holds `count` dossiers due tomorrow; time the
    calendar pass that selects them and queues one reminder each (texts composed)."""
    from gateway.settings import Settings
    from lookup.model import Dossier, Status
    from prompts.catalog import load_catalog
    from sms.reminder_job import ReminderJob, _to_json
    from sms.replies import ReplyContext

    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    today = date(2026, 11, 30)
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "reminders.sqlite3"
        await migrate_file(database)
        outbox = Outbox.open(database)
        with outbox.transaction():
            for i in range(count):
                d = Dossier(
                    code=f"000.00.18.H26-261120-{i:06d}",
                    agency_id="000.00.18.H26",
                    procedure_code="1.001193",
                    procedure_name="Đăng ký khai sinh",
                    status=Status.PROCESSING,
                    received_on=date(2026, 11, 20),
                    due_on=today + timedelta(days=1),
                    applicant_phones=(f"+8491{i:07d}",),
                )
                outbox.watch(d.code, 4, d.due_on.isoformat(), None, _to_json(d))
        settings = Settings(database=str(database))
        catalog = load_catalog()
        outbox.close()
        from kernel.db import Database

        db = await Database.open(database)
        job = ReminderJob(settings, None, db, catalog)  # type: ignore[arg-type]
        ctx = ReplyContext(catalog=catalog, office=settings.office, today=today)
        from sms.reminder_job import Summary

        summary = Summary()
        now = datetime(2026, 11, 30, 9, 0, tzinfo=zone).timestamp()
        started, cpu = time.perf_counter(), time.process_time()
        await job.calendar(today, ctx, now, now, summary)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        await db.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "reminders": count,
        "queued": summary.queued,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "max_rss_mb": round(rss_mb, 1),
    }


def bench_reminders(smoke: bool) -> dict[str, Any]:
    count = 10_000 if smoke else 100_000
    out = subprocess.run(
        [sys.executable, "-c", REMINDERS_CHILD.format(root=str(ROOT), count=count)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes (seconds)")
    parser.add_argument(
        "--only", choices=["tps", "pace", "adapt", "window", "loopback", "reminders"]
    )
    args = parser.parse_args()
    print(
        f"# {platform.node()} {platform.machine()} {platform.python_version()}"
        f" cpus={__import__('os').cpu_count()} smoke={args.smoke}"
    )
    parts = {
        "tps": bench_tps,
        "pace": bench_pace,
        "adapt": bench_adapt,
        "window": bench_window,
        "loopback": bench_loopback,
        "reminders": bench_reminders,
    }
    for name, bench in parts.items():
        if args.only in (None, name):
            print(name, json.dumps(bench(args.smoke)), flush=True)


if __name__ == "__main__":
    main()
