"""Mixed load on one gateway process: paced calls, a reminder wave and incoming SMS at once.

    .venv/bin/python bench/mixed_bench.py            # 1,000,000 dossiers, 1,000 calls, ...
    .venv/bin/python bench/mixed_bench.py --smoke    # CI size, about a minute

Issue 8's mixed load. One gateway process runs `gateway.app.serve` (every
component, as `tracuu serve` does) over a copy of a cached dossier file
(var/bench/mixed-base-<count>.sqlite3, built once; dates two years back, so the
base itself announces nothing). The load comes from other processes:

  callers  keep --calls paced calls in flight (peers.asterisk, each prompt
           --pace-ms), one call after another per lane: menu 1, a real code, the
           answer, silence to the goodbye;
  office   once the calls are up, writes --reminders new dossiers whose result is
           ready today, each with its own phone (what a one-stop system sync does);
           the gateway's reminder job finds them, queues one SMS each and the link
           sends them to the test SMSC at --tps;
  smsc     the test SMSC (smpp.pdu3): counts every part it receives, and sends
           --sms-rate incoming "HS <code>" texts a second from numbers of their own.

Figures: reply -> next command latency (p50/p99/max; goal p99 <= 10 ms, max <= 50
ms) twice: as the callers' code saw the command (every earlier run's figure; it
includes the callers' own delay: their loop busy, their garbage collections, their
process waiting for a CPU) and as the callers' kernel received it (SO_TIMESTAMPNS;
the gateway's part plus loopback). Then failed calls, incoming texts answered,
reminders at the SMSC (each exactly once, duplicates), calls whose events were
recorded, the gateway's loop lag (kernel/looplag.py), garbage-collection pauses of
the gateway and the callers, and CPU per thread while the reminder job scans and
while the link sends. --attribute splits every slow reply into its legs
(bench/mixed_probe.py). --link thread runs the SMPP link in a thread of the gateway
(sms.link_mode = "thread"; the default is its worker process), for a side-by-side run;
--peers-nice lowers the SMSC's and the office sync's CPU priority (they stand for other
machines).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from array import array
from datetime import date, datetime, timedelta
from datetime import time as dtime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BENCH = ROOT / "var" / "bench"
BASE_TODAY = date(2020, 6, 1)  # the base's dates: old news for every reminder rule
AGENCIES = [f"000.00.{n:02d}.H26" for n in range(10, 20)]
KEYPAD_AGENCY = "000.00.18.H26"  # the configured agency the callers key codes of
OFFICE_AGENCIES = [f"000.00.{n:02d}.H26" for n in range(20, 30)]  # the new, ready dossiers
REMINDER_PREFIX = "8490"  # the new dossiers' phones: +8490xxxxxxx
INCOMING_PREFIX = "8498"  # the incoming texts' numbers
SYSTEM_ID, PASSWORD = "tracuu", "bench"


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---- the data, built once


def base_file(count: int) -> Path:
    path = BENCH / f"mixed-base-{count}.sqlite3"
    if not path.exists():
        BENCH.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        asyncio.run(_build(path, count))
        print(f"built {count} dossiers in {time.perf_counter() - started:.0f} s ({path})")
    return path


async def _build(path: Path, count: int) -> None:
    from lookup.demo import generate
    from lookup.sqlite import DossierStore

    partial = path.with_suffix(".partial")
    _remove(partial)
    store = await DossierStore.open(partial)
    await store.upsert_dossiers(generate(count, today=BASE_TODAY, agencies=AGENCIES, seed=1))
    await store.close()
    _remove(partial, keep_main=True)
    partial.rename(path)


def _remove(path: Path, *, keep_main: bool = False) -> None:
    for suffix in ("-wal", "-shm") if keep_main else ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def sounds_dir(base: Path) -> Path:
    """Every prompt rendered once (espeak-ng), so the gateway starts with nothing to render."""
    sounds = BENCH / "sounds"
    done = sounds / ".bench-rendered"
    if not done.exists():
        env = {
            **os.environ,
            "TRACUU_CONFIG": "/nonexistent.toml",
            "TRACUU_DATABASE": str(base),
            "TRACUU_SOUNDS_DIR": str(sounds),
        }
        subprocess.run(
            [sys.executable, "-m", "gateway", "prompts", "render", "--engine", "espeak"],
            cwd=ROOT,
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        done.parent.mkdir(parents=True, exist_ok=True)
        done.touch()
    return sounds


def keypad_codes(path: Path, n: int) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT code_date, seq_num FROM dossier WHERE code_agency = ? LIMIT ?",
            (KEYPAD_AGENCY, n),
        ).fetchall()
    return [f"{d}{s:04d}" for d, s in rows]


def full_codes(path: Path, n: int) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT code FROM dossier LIMIT ?", (n,)).fetchall()
    return [str(c) for (c,) in rows]


# ---- the gateway process


def _settings(config: dict[str, Any]) -> Any:
    from gateway.settings import Settings
    from kernel.office import Agency

    return Settings(
        database=config["database"],
        agencies=(Agency(id=KEYPAD_AGENCY, name="UBND phường Cửa Nam"),),
        agi={"host": "127.0.0.1", "port": config["agi_port"], "max_calls": 5000},
        http={"host": "127.0.0.1", "port": 0},
        smpp={
            "host": "127.0.0.1",
            "port": config["smsc_port"],
            "system_id": SYSTEM_ID,
            "password": PASSWORD,
            "tps": config["tps"],
            "window": 100,
        },
        sms={
            "window_start": dtime(0, 0),
            "window_end": dtime(23, 59, 59),
            "reminder_poll_s": 1.0,
            "lookups_per_hour": 1000,
            "link_mode": config["link"],
            "reminder_mode": config["reminder_mode"],
        },
        sounds={"dir": config["sounds"], "engine": "espeak"},
    )


def gateway_main(config: dict[str, Any], log_path: str, out: Connection) -> None:
    log_file = Path(log_path).open("w")  # noqa: SIM115 - stderr for the process's life
    os.dup2(log_file.fileno(), 2)
    from kernel.logs import setup_logging

    setup_logging("INFO")
    out.send(asyncio.run(_gateway(config, out)))


async def _gateway(config: dict[str, Any], out: Connection) -> dict[str, Any]:
    from gateway.app import serve
    from kernel.looplag import LoopLagMonitor

    settings = _settings(config)
    monitor = LoopLagMonitor()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(out.fileno(), lambda: _received(out, stop))
    from mixed_probe import GatewayMarks, GcPauses

    if config.get("gc"):  # a side-by-side trial: the gateway with other thresholds
        import kernel.heap

        kernel.heap.SERVING_THRESHOLDS = config["gc"]
    gc_pauses = GcPauses(census=config["attribute"])
    gc_pauses.install()
    marks = None
    if config["attribute"]:
        marks = GatewayMarks()
        marks.install()
    threads: dict[int, str] = {}

    async def names() -> None:  # threads come and go (a restarted link): keep every name
        while True:
            threads.update({t.native_id: t.name for t in threading.enumerate() if t.native_id})
            await asyncio.sleep(1.0)

    namer = asyncio.create_task(names())
    await serve(settings, stop, loop_lag=monitor)
    namer.cancel()
    figures = monitor.figures()
    left = gc_pauses.garbage_left() if config["attribute"] else None
    return {
        "cyclic_garbage_left": left,
        "threads": threads,
        "marks": marks.columns() if marks is not None else None,
        "gc": gc_pauses.figures(),
        "lag_max_ms": figures.max_s * 1000,
        "lag_p99_ms": figures.p99_s * 1000,
        "lag_stalls_over_100ms": figures.stalls,
        "lag_over": {
            f"{bound * 1000:g}ms": figures.count - n
            for bound, n in figures.buckets
            if bound >= 0.01
        },
        "ticks": figures.count,
    }


def _received(conn: Connection, event: asyncio.Event) -> None:
    conn.recv()
    event.set()


# ---- the callers process


def callers_main(port: int, codes: list[str], shape: dict[str, float], out: Connection) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out.send(asyncio.run(_callers(port, codes, shape, out)))


async def _callers(
    port: int, codes: list[str], shape: dict[str, float], out: Connection
) -> dict[str, Any]:
    lanes, pace_s, ramp_s = int(shape["lanes"]), shape["pace_s"], shape["ramp_s"]
    # The callers stand for Asterisk, which has no garbage collector: keep the ruler's own
    # collections (a pass over 1,000 calls' records) out of the "callers' code" figure as
    # far as they can be: the gateway's thresholds, and a freeze each second (below).
    import gc

    from mixed_probe import GcPauses, LagTicker, StampedCaller, summary_ms

    from kernel.heap import SERVING_THRESHOLDS

    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    gc_pauses = GcPauses(census=bool(shape["attribute"]))
    gc_pauses.install()

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(out.fileno(), lambda: _received(out, stopping))
    gaps = array("d")  # reply -> next command seen by the caller's code, seconds
    arrived = array("d")  # reply -> next command in the caller's kernel (SO_TIMESTAMPNS)
    # reply -> next command, in columns of doubles (port, reply, kernel, seen, which
    # command: an index into `labels`): tuples by the hundred thousand would lengthen
    # this process's garbage collections, i.e. move the ruler.
    exchanges = [array("d") for _ in range(5)]
    labels: dict[str, int] = {}
    keep = bool(shape["attribute"])
    ticker = LagTicker()
    ticking = asyncio.create_task(ticker.run())

    async def freezing() -> None:
        # The ruler only: what the callers keep (records by the hundred thousand) leaves
        # the collector's passes each second. A short-lived process can afford the cycles
        # this may keep; a gateway does not do this.
        while True:
            await asyncio.sleep(1.0)
            gc.freeze()

    frozen = asyncio.create_task(freezing())
    done: list[str] = []
    failed: list[str] = []
    counter = 0

    async def lane(j: int) -> None:
        nonlocal counter
        await asyncio.sleep(ramp_s * j / lanes)
        while not stopping.is_set():
            counter += 1
            uniqueid = f"mix.{counter}"
            code = codes[counter % len(codes)]
            peer = StampedCaller(
                f"1 {code}# _ _ _", uniqueid=uniqueid, pace_s=pace_s, caller=f"09{counter:08d}"
            )
            try:
                record = await peer.call("127.0.0.1", port, timeout_s=120)
            except OSError as exc:
                failed.append(f"{uniqueid}: connect {exc}")
                await asyncio.sleep(0.5)
                continue
            timeline = record.timeline
            stamps = iter(peer.kernel)  # one per command, in order
            kernels = [next(stamps) if kind == "cmd" else 0.0 for _, kind, _ in timeline]
            for (t0, k0, _), (t1, k1, text), kernel in zip(
                timeline, timeline[1:], kernels[1:], strict=False
            ):
                if k0 == "reply" and k1 == "cmd":
                    gaps.append(t1 - t0)
                    arrived.append(kernel - t0)
                    if keep:
                        label = labels.setdefault(" ".join(text.split()[:3]), len(labels))
                        for column, value in zip(
                            exchanges, (peer.port, t0, kernel, t1, label), strict=True
                        ):
                            column.append(value)
            if record.ended != "returned" or record.variables.get("TRACUU_NEXT") != "goodbye":
                failed.append(f"{uniqueid}: {record.ended} {record.variables}")
            else:
                done.append(uniqueid)

    await asyncio.gather(*(lane(j) for j in range(lanes)))
    ticking.cancel()
    frozen.cancel()
    ordered = sorted(gaps)
    in_kernel = sorted(arrived)
    return {
        "exchanges": (exchanges, labels),
        "callers_gc": gc_pauses.figures(),
        "callers_lag_ms": summary_ms(ticker.late),
        "kernel_p50_ms": percentile(in_kernel, 0.5) * 1000,
        "kernel_p99_ms": percentile(in_kernel, 0.99) * 1000,
        "kernel_max_ms": (in_kernel[-1] if in_kernel else float("nan")) * 1000,
        "calls": len(done) + len(failed),
        "completed": done,
        "failed": failed[:20],
        "failed_count": len(failed),
        "gaps": len(ordered),
        "p50_ms": percentile(ordered, 0.5) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
        "over_10ms": sum(g > 0.010 for g in ordered),
        "over_50ms": sum(g > 0.050 for g in ordered),
    }


# ---- the SMSC process (incoming texts too)


def smsc_main(port: int, codes: list[str], rate: float, out: Connection, nice: int = 0) -> None:
    os.nice(nice)  # --peers-nice: the SMSC stands for another machine
    asyncio.run(_smsc(port, codes, rate, out))


async def _smsc(port: int, codes: list[str], rate: float, out: Connection) -> None:
    from peers.smsc import Personality, TestSmsc

    personality = Personality(password=PASSWORD)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(out.fileno(), lambda: commands.put_nowait(out.recv()))
    sent: list[str] = []
    statuses: collections.Counter[int] = collections.Counter()
    pending: set[asyncio.Task[None]] = set()
    async with TestSmsc(personality, host="127.0.0.1", port=port) as smsc:
        out.send("listening")

        async def one(source: str, code: str) -> None:
            try:
                statuses[await smsc.deliver(source, f"HS {code}", timeout_s=30)] += 1
            except Exception as exc:  # counted, the bench goes on
                statuses[-1] += 1
                if statuses[-1] <= 3:
                    print("deliver failed:", exc, file=sys.stderr)

        async def incoming() -> None:
            await smsc.wait_bound(60)
            started = loop.time()
            i = 0
            while True:
                due = started + i / rate
                await asyncio.sleep(max(0.0, due - loop.time()))
                source = f"{INCOMING_PREFIX}{i:07d}"
                sent.append(source)
                task = asyncio.create_task(one(source, codes[i % len(codes)]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                i += 1

        feeder: asyncio.Task[None] | None = None
        while True:
            command = await commands.get()
            if command == "incoming" and feeder is None:
                feeder = asyncio.create_task(incoming())
            elif command == "stop-incoming" and feeder is not None:
                feeder.cancel()
            elif command == "count":
                out.send(_reminder_parts(smsc.record.submits))
            elif command == "report":
                if pending:
                    await asyncio.wait(pending, timeout=10)
                out.send(_report(smsc.record.submits, sent, statuses))
                return


def _reminder_parts(submits: list[Any]) -> int:
    return sum(
        1
        for s in submits
        if s.destination.startswith(REMINDER_PREFIX) and (s.udh is None or s.udh[2] == 1)
    )


def _report(
    submits: list[Any], sent: list[str], statuses: collections.Counter[int]
) -> dict[str, Any]:
    parts = collections.Counter(
        (s.destination, s.text, s.udh[2] if s.udh else 0)
        for s in submits
        if s.destination.startswith(REMINDER_PREFIX)
    )
    firsts = collections.Counter(
        s.destination
        for s in submits
        if s.destination.startswith(REMINDER_PREFIX) and (s.udh is None or s.udh[2] == 1)
    )
    answered = {s.destination for s in submits if s.destination.startswith(INCOMING_PREFIX)}
    times = [s.at for s in submits if s.destination.startswith(REMINDER_PREFIX)]
    span = max(times) - min(times) if len(times) > 1 else 0.0
    return {
        "reminder_parts": len(times),
        "reminder_send_s": round(span, 1),  # first part to last, at the SMSC
        "reminder_parts_per_s": round(len(times) / span, 1) if span else None,
        "submits": len(submits),
        "reminder_numbers": len(firsts),
        "reminder_messages": sum(firsts.values()),
        "reminder_duplicate_parts": sum(n - 1 for n in parts.values() if n > 1),
        "incoming_sent": len(sent),
        "incoming_answered": len(answered & set(sent)),
        "deliver_status": dict(statuses),
    }


# ---- the office process


def office_main(database: str, count: int, out: Connection, nice: int = 0) -> None:
    os.nice(nice)  # --peers-nice: the one-stop system's sync stands for another machine
    out.send(asyncio.run(_office(Path(database), count)))


async def _office(database: Path, count: int) -> dict[str, Any]:
    from lookup.model import Dossier, Status
    from lookup.sqlite import DossierStore

    today = date.today()
    received = today - timedelta(days=3)
    per_agency = -(-count // len(OFFICE_AGENCIES))

    def dossiers() -> Any:
        for i in range(count):
            agency = OFFICE_AGENCIES[i // per_agency]
            yield Dossier(
                code=f"{agency}-{received:%y%m%d}-{i % per_agency + 1:04d}",
                agency_id=agency,
                procedure_code="1.001193",
                procedure_name="Đăng ký khai sinh",
                status=Status.READY,
                received_on=received,
                due_on=today,
                ready_on=today,
                applicant_phones=(f"+{REMINDER_PREFIX}{i:07d}",),
            )

    started = time.perf_counter()
    store = await DossierStore.open(database)
    written = await store.upsert_dossiers(dossiers(), batch_size=2000)
    await store.close()
    return {"written": written, "seconds": time.perf_counter() - started}


# ---- one run


def events_recorded(database: Path, completed: list[str]) -> int:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT DISTINCT uniqueid FROM ivr_call_event WHERE uniqueid LIKE 'mix.%'"
        ).fetchall()
    recorded = {u for (u,) in rows}
    return sum(1 for u in completed if u in recorded)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from mixed_probe import attribute, by_phase, children, cpu_share, thread_ticks

    base = base_file(args.dossiers)
    sounds = sounds_dir(base)
    scratch = BENCH / "mixed-run"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    database = scratch / "tracuu.sqlite3"
    shutil.copyfile(base, database)
    codes = keypad_codes(base, 5000)
    texts = full_codes(base, 5000)
    ctx = multiprocessing.get_context("spawn")
    agi_port, smsc_port = free_port(), free_port()

    smsc_conn, smsc_end = ctx.Pipe()
    smsc = ctx.Process(
        target=smsc_main, args=(smsc_port, texts, args.sms_rate, smsc_end, args.peers_nice)
    )
    smsc.start()
    assert smsc_conn.recv() == "listening"

    gw_conn, gw_end = ctx.Pipe()
    config = {
        "database": str(database),
        "agi_port": agi_port,
        "smsc_port": smsc_port,
        "tps": args.tps,
        "sounds": str(sounds),
        "attribute": args.attribute,
        "link": args.link,
        "reminder_mode": args.reminder_mode,
        "gc": tuple(int(x) for x in args.gc.split(",")) if args.gc else None,
    }
    gateway = ctx.Process(target=gateway_main, args=(config, str(scratch / "gateway.log"), gw_end))
    started = time.perf_counter()
    gateway.start()
    _wait_port(agi_port, 120)
    up_s = time.perf_counter() - started

    calls_conn, calls_end = ctx.Pipe()
    callers = ctx.Process(
        target=callers_main,
        args=(
            agi_port,
            codes,
            {
                "lanes": args.calls,
                "pace_s": args.pace_ms / 1000,
                "ramp_s": args.ramp_s,
                "attribute": args.attribute,
            },
            calls_end,
        ),
    )
    callers.start()
    smsc_conn.send("incoming")
    time.sleep(args.ramp_s)  # every lane has a call in flight
    office_conn, office_end = ctx.Pipe()
    office = ctx.Process(
        target=office_main, args=(str(database), args.reminders, office_end, args.peers_nice)
    )
    office_started = time.perf_counter()
    office.start()
    processes: dict[str, Any] = {
        "gateway": gateway, "smsc": smsc, "callers": callers, "office": office,
    }  # fmt: skip
    for n, pid in enumerate(children(gateway.pid or 0)):  # the SMPP link worker
        processes[f"gateway child {n}"] = argparse.Namespace(pid=pid)
    ticks_before = {name: thread_ticks(p.pid or 0) for name, p in processes.items()}
    spy = None
    if args.spy:
        # Where the gateway's CPU goes during the wave (py-spy, installed by hand).
        assert gateway.pid is not None
        spy = subprocess.Popen(
            ["py-spy", "record", "-p", str(gateway.pid), "-r", "100", "-f", "raw",
             "-o", args.spy, "--nonblocking", "-d", str(int(args.max_s))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    deadline = time.perf_counter() + args.max_s
    at_smsc = 0
    first_part: float | None = None
    ticks_sending = ticks_before
    while time.perf_counter() < deadline:
        time.sleep(1.0)
        smsc_conn.send("count")
        at_smsc = smsc_conn.recv()
        if at_smsc and first_part is None:  # the scan is over, the sending begins
            first_part = time.perf_counter()
            ticks_sending = {name: thread_ticks(p.pid or 0) for name, p in processes.items()}
        if at_smsc >= args.reminders:
            break
    reminders_s = time.perf_counter() - office_started
    ticks_after = {name: thread_ticks(p.pid or 0) for name, p in processes.items()}
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait()
    office_result = office_conn.recv()
    office.join()
    smsc_conn.send("stop-incoming")
    calls_conn.send("stop")  # no new calls; those in flight finish
    calls = calls_conn.recv()
    callers.join()
    time.sleep(3.0)  # the last incoming texts' answers
    smsc_conn.send("report")
    sms = smsc_conn.recv()
    smsc.join()
    gw_conn.send("stop")
    lag = gw_conn.recv()
    gateway.join()
    recorded = events_recorded(database, calls["completed"])
    completed = len(calls.pop("completed"))
    columns, labels = calls.pop("exchanges")
    names = {i: label for label, i in labels.items()}
    exchanges = [
        (int(port), reply, kernel, seen, names[int(label)])
        for port, reply, kernel, seen, label in zip(*columns, strict=True)
    ]
    threads, marks = lag.pop("threads"), lag.pop("marks")
    by_port: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)
    for port, rx, tx in zip(*(marks or ((), (), ())), strict=True):
        by_port[int(port)].append((rx, tx))
    # CPU in % of one CPU: while the reminder job scans (office sync to the first part at
    # the SMSC), then while the link sends.
    ended = office_started + reminders_s
    sending_from = first_part or ended
    cpu = {
        window: {
            name: cpu_share(start[name], end[name], max(0.1, seconds), threads)
            for name in processes
        }
        for window, start, end, seconds in (
            ("scanning", ticks_before, ticks_sending, sending_from - office_started),
            ("sending", ticks_sending, ticks_after, ended - sending_from),
        )
    }
    # The callers stamp replies with the wall clock; this process's marks are perf_counter.
    wall = time.time() - time.perf_counter()
    phases = by_phase(
        exchanges,
        {
            "before the wave": (float("-inf"), office_started + wall),
            "reminder scan": (office_started + wall, sending_from + wall),
            "reminders sending": (sending_from + wall, ended + wall),
            "after the wave": (ended + wall, float("inf")),
        },
    )
    return {
        "cpu_during_wave_pct": cpu,
        "attribution": attribute(exchanges, by_port) if args.attribute else None,
        "kernel_by_phase_ms": phases if args.attribute else None,
        "gateway_up_s": round(up_s, 1),
        "calls": calls,
        "calls_completed": completed,
        "calls_recorded": recorded,
        "office": office_result,
        "reminders_at_smsc_s": round(reminders_s, 1),
        "sms": sms,
        "loop_lag": lag,
    }


def _wait_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the gateway did not listen on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1000, help="calls in flight")
    parser.add_argument("--pace-ms", type=float, default=500.0, help="each prompt's length")
    parser.add_argument("--ramp-s", type=float, default=10.0, help="calls start over this")
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--tps", type=float, default=2000.0, help="SMS parts a second")
    parser.add_argument("--sms-rate", type=float, default=50.0, help="incoming texts a second")
    parser.add_argument("--max-s", type=float, default=600.0, help="give the reminders this long")
    parser.add_argument("--spy", default="", help="py-spy record the gateway during the wave")
    parser.add_argument(
        "--reminder-mode",
        choices=("process", "inline"),
        default="process",
        help="sms.reminder_mode: the reminder job in a worker process (the product's "
        "default) or as a task on the gateway's loop",
    )
    parser.add_argument(
        "--link",
        choices=("process", "thread"),
        default="process",
        help="sms.link_mode: the SMPP link in a worker process (the product's default) "
        "or in a thread of the gateway",
    )
    parser.add_argument(
        "--peers-nice",
        type=int,
        default=0,
        help="CPU priority below the gateway's for the SMSC and office sync processes, which "
        "stand for other machines (0: the same priority; report both)",
    )
    parser.add_argument(
        "--gc",
        default="",
        help="the gateway's collector thresholds a,b,c instead of kernel.heap's "
        "(700,10,10: CPython's own, for a side-by-side comparison)",
    )
    parser.add_argument(
        "--attribute", action="store_true", help="split slow replies into their legs (mixed_probe)"
    )
    parser.add_argument("--smoke", action="store_true", help="a small size for CI")
    args = parser.parse_args()
    if args.smoke:
        args.dossiers, args.calls, args.reminders = 20_000, 30, 1_000
        args.pace_ms, args.ramp_s, args.tps, args.sms_rate, args.max_s = 50, 2, 500, 10, 60
    load = os.getloadavg()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.dossiers} dossiers, "
        f"{args.calls} calls in flight at {args.pace_ms:g} ms a prompt, {args.reminders} "
        f"reminders at {args.tps:g}/s, {args.sms_rate:g} incoming SMS/s; "
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %z}"
    )
    result = run(args)
    calls, sms, lag = result["calls"], result["sms"], result["loop_lag"]
    print(json.dumps(result, indent=1, default=str))
    gc_gateway, gc_callers = lag["gc"]["gen2"], calls["callers_gc"]["gen2"]
    met = calls["p99_ms"] <= 10 and calls["max_ms"] <= 50
    met_kernel = calls["kernel_p99_ms"] <= 10 and calls["kernel_max_ms"] <= 50
    print(
        f"\nsms.link_mode {args.link}, sms.reminder_mode {args.reminder_mode}, "
        f"peers nice {args.peers_nice}\n"
        f"reply->next command, seen by the callers' code (the figure of every earlier run): "
        f"p50 {calls['p50_ms']:.2f} ms, p99 {calls['p99_ms']:.2f} ms, "
        f"max {calls['max_ms']:.1f} ms (goals 10 / 50: {'met' if met else 'NOT met'})\n"
        f"reply->next command, in the callers' kernel (SO_TIMESTAMPNS; leaves out the "
        f"callers' own delay): p50 {calls['kernel_p50_ms']:.2f} ms, p99 "
        f"{calls['kernel_p99_ms']:.2f} ms, max {calls['kernel_max_ms']:.1f} ms "
        f"({'met' if met_kernel else 'NOT met'})\n"
        f"failed calls {calls['failed_count']} of {calls['calls']}; incoming answered "
        f"{sms['incoming_answered']} of {sms['incoming_sent']}; reminders at the SMSC "
        f"{sms['reminder_messages']} of {args.reminders} ({sms['reminder_numbers']} numbers, "
        f"duplicate parts {sms['reminder_duplicate_parts']}) in {result['reminders_at_smsc_s']} "
        f"s, sent at {sms['reminder_parts_per_s']} parts/s; calls recorded "
        f"{result['calls_recorded']} of {result['calls_completed']}\n"
        f"gateway loop lag max {lag['lag_max_ms']:.0f} ms, stalls over 100 ms "
        f"{lag['lag_stalls_over_100ms']}; full garbage collections: gateway "
        f"{gc_gateway['count']} (max {gc_gateway.get('max', 0):.0f} ms), callers "
        f"{gc_callers['count']} (max {gc_callers.get('max', 0):.0f} ms); callers' own loop lag "
        f"p99 {calls['callers_lag_ms'].get('p99', 0):.1f} ms\n"
        f"gateway collections by generation (count, max ms): "
        + ", ".join(
            f"{g} {lag['gc'][g]['count']} ({lag['gc'][g].get('max', 0):.0f})"
            for g in ("gen0", "gen1", "gen2")
        )
    )
    for phase, figures in (result.get("kernel_by_phase_ms") or {}).items():
        print(
            f"  in the callers' kernel, {phase}: {figures['exchanges']} replies, p99 "
            f"{figures.get('p99', 0):.2f} ms, max {figures.get('max', 0):.1f} ms"
        )


if __name__ == "__main__":
    main()
