"""A province on one PostgreSQL: one gateway, then two, under the same load (issue 10).

    .venv/bin/python bench/province_bench.py            # 1,000,000 dossiers, 1,000 calls, ...
    .venv/bin/python bench/province_bench.py --smoke    # CI size (tests/test_province_bench.py)

A throwaway PostgreSQL on 127.0.0.1 over a cached base of --dossiers dossiers
(bench/province_pg.py; the first build takes minutes, later runs copy it in
seconds). Two phases, each with fresh real `tracuu serve` processes
(tests/peers/fleet.py) on that database, and the same load (bench/province_load.py):

  phase A  one gateway;
  phase B  two gateways on the same database.

Load in each phase: --calls paced calls in flight spread over the gateways
(peers.asterisk), then a wave of --reminders dossiers ready today written by the
office; one gateway's reminder scan (an advisory lock) queues one SMS each and
every gateway's SMPP link claims parts (FOR UPDATE SKIP LOCKED) and sends them to
the one test SMSC (peers/smsc.py), which counts each part.

Figures per phase: the call decision (the code's last key -> the status prompt
command: look-up plus decision) and every reply -> next command (p50/p99/max);
look-ups a second (the gateways' own /metrics counts); the wave's parts a second
at the SMSC, duplicate parts (must be 0) and reminders lost (must be 0); each
gateway's loop lag (/metrics); the CPU seconds of every process in the window.
The ratio B / A of each, from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import shutil
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import province_load as load  # noqa: E402
import province_pg as pg  # noqa: E402
from mixed_bench import free_port  # noqa: E402
from province_figures import Cpu, lag_in_window, lookups, scrape  # noqa: E402

from tests.peers.fleet import Gateway, gateway_env, rendered_sounds  # noqa: E402

SCRATCH = pg.BENCH / "province-gateways"
METRICS_TOKEN = "province-bench-metrics-token"  # at least 24 characters


def gateway_settings(url: str, smsc_port: int, tps: float) -> dict[str, str]:
    """What every gateway of the bench is told on top of tests/peers/fleet.py's defaults."""
    from console.settings import HttpSettings

    env = {
        "TRACUU_SMPP_PASSWORD": load.PASSWORD,
        "TRACUU_SMPP_TPS": str(tps),
        "TRACUU_SMPP_WINDOW": "100",
        "TRACUU_AGI_MAX_CALLS": "5000",
        "TRACUU_AGENCIES": json.dumps([{"id": pg.KEYPAD_AGENCY, "name": "UBND phường Cửa Nam"}]),
        # Reminders at any hour (the bench runs whenever), and the scan every second.
        "TRACUU_SMS_WINDOW_START": "00:00:00",
        "TRACUU_SMS_WINDOW_END": "23:59:59",
        "TRACUU_SMS_REMINDER_POLL_S": "1",
    }
    if "metrics_token" in HttpSettings.model_fields:
        env["TRACUU_HTTP_METRICS_TOKEN"] = METRICS_TOKEN
    return env


def run_phase(
    url: str, phase: str, instances: int, codes: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    load_at_start = os.getloadavg()[:1]
    ctx = multiprocessing.get_context("spawn")
    prefix = load.wave_prefix(phase)
    smsc_port = free_port()
    smsc_conn, smsc_end = ctx.Pipe()
    # daemon: a phase that fails ends them with the bench instead of waiting on them.
    smsc = ctx.Process(target=load.smsc_main, args=(smsc_port, prefix, smsc_end), daemon=True)
    smsc.start()
    assert smsc_conn.recv() == "listening"

    sounds = rendered_sounds()
    extra = gateway_settings(url, smsc_port, args.tps)
    gateways = []
    for k in range(instances):
        name = f"gw{k}"
        home = SCRATCH / phase / name
        home.mkdir(parents=True)
        env = gateway_env(
            url,
            name,
            home,
            smsc_port=smsc_port,
            agi_port=free_port(),
            http_port=free_port(),
            sounds=sounds,
        )
        env.update(extra)
        gateways.append(
            Gateway(name, home, env, int(env["TRACUU_AGI_PORT"]), int(env["TRACUU_HTTP_PORT"]))
        )
    started = time.perf_counter()
    for gw in gateways:
        gw.start()
    _wait_ready(gateways, smsc_conn, timeout_s=180)
    up_s = time.perf_counter() - started

    pids = {
        **{gw.name: gw.process.pid for gw in gateways if gw.process is not None},
        "postgres": pg.postmaster_pid(),
        "smsc": smsc.pid,
    }
    calls_conn, calls_end = ctx.Pipe()
    callers = ctx.Process(
        target=load.callers_main,
        args=(
            f"prov{phase}",
            [gw.agi_port for gw in gateways],
            codes,
            {"lanes": args.calls, "pace_s": args.pace_ms / 1000, "ramp_s": args.ramp_s},
            calls_end,
        ),
        daemon=True,
    )
    callers.start()
    pids["callers"] = callers.pid
    cpu = Cpu(pids)
    before = [scrape(gw.http_port, METRICS_TOKEN) for gw in gateways]
    window_started = time.perf_counter()
    time.sleep(args.ramp_s)  # every lane has a call in flight

    wave_started = time.perf_counter()
    office = asyncio.run(load.write_wave(url, phase, args.reminders))
    reached = 0
    deadline = wave_started + args.max_s
    while time.perf_counter() < deadline and reached < args.reminders:
        time.sleep(0.5)
        smsc_conn.send("count")
        reached = smsc_conn.recv()
    wave_s = time.perf_counter() - wave_started
    if args.hold_s > wave_s:
        time.sleep(args.hold_s - wave_s)  # calls alone for the rest of the window

    # The window ends here: CPU and /metrics before the callers' process ends.
    window_s = time.perf_counter() - window_started
    cpu_s = cpu.seconds()
    after = [scrape(gw.http_port, METRICS_TOKEN) for gw in gateways]
    calls_conn.send("stop")  # no new calls; those in flight finish
    calls = calls_conn.recv()
    callers.join()
    asyncio.run(_stop(gateways))  # they unbind before the SMSC closes
    smsc_conn.send("report")
    sms = smsc_conn.recv()
    smsc.join()
    calls["recorded"] = asyncio.run(load.calls_recorded(url, f"prov{phase}"))
    return {
        "instances": instances,
        "gateways_up_s": round(up_s, 1),
        "window_s": round(window_s, 1),
        "calls": calls,
        "lookups_per_s": lookups(before, after) / window_s,
        "office": office,
        "wave_s": round(wave_s, 1),
        "sms": sms,
        # Not at the SMSC when the phase ended (the wave done, or --max-s over).
        "reminders_lost": args.reminders - sms["numbers"],
        "wave_finished": reached >= args.reminders,
        "load_average": [round(v, 2) for v in (*load_at_start, *os.getloadavg())],
        "loop_lag": {
            gw.name: lag_in_window(b, a) for gw, b, a in zip(gateways, before, after, strict=True)
        },
        "cpu_s": {name: round(s, 1) for name, s in cpu_s.items()},
        "exit_codes": [gw.process.returncode if gw.process else None for gw in gateways],
    }


def _wait_ready(gateways: list[Gateway], smsc: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for gw, port in [(g, p) for g in gateways for p in (g.agi_port, g.http_port)]:
        while not _listening(port):
            if not gw.alive:
                raise SystemExit(f"{gw.name} exited:\n{gw.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{gw.name} did not listen in {timeout_s:g} s")
            time.sleep(0.2)
    while True:
        smsc.send("binds")
        if smsc.recv() >= len(gateways):
            return
        if time.monotonic() > deadline:
            raise SystemExit("the gateways did not bind to the SMSC")
        time.sleep(0.2)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def _stop(gateways: list[Gateway]) -> None:
    await asyncio.gather(*(gw.stop() for gw in gateways))


def ratio(b: float, a: float) -> float:
    return b / a if a else float("nan")


def headline(phase: str, r: dict[str, Any]) -> str:
    c, s = r["calls"], r["sms"]
    lag = ", ".join(
        f"{name} max {v['max_ms']:.0f} ms ({v['over_50ms']} ticks > 50 ms)"
        for name, v in r["loop_lag"].items()
    )
    cpu = ", ".join(f"{name} {v:.1f}" for name, v in r["cpu_s"].items())
    return (
        f"phase {phase} ({r['instances']} gateway{'s' if r['instances'] > 1 else ''}): "
        f"decision p50 {c['decision']['p50_ms']:.2f} / p99 {c['decision']['p99_ms']:.2f} / "
        f"max {c['decision']['max_ms']:.1f} ms; reply->next p50 {c['reply_next']['p50_ms']:.2f} "
        f"/ p99 {c['reply_next']['p99_ms']:.2f} / max {c['reply_next']['max_ms']:.1f} ms; "
        f"calls completed {c['completed']} of {c['calls']} ({c['failed']} failed, per gateway "
        f"{c['per_gateway']}; recorded {c['recorded']}); lookups {r['lookups_per_s']:.1f}/s; "
        f"SMS {s['parts']} parts at "
        f"{s['parts_per_s']:.0f} parts/s (by bind {s['by_bind']}), duplicate parts "
        f"{s['duplicate_parts']}, reminders lost {r['reminders_lost']}"
        f"{'' if r['wave_finished'] else ' (the wave unfinished at --max-s)'}, wave written "
        f"-> last part {r['wave_s']} s; loop lag {lag}; "
        f"CPU s in the {r['window_s']} s window: {cpu}; "
        f"load average at start, end {r['load_average'][0]}, {r['load_average'][1]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1000, help="calls in flight")
    parser.add_argument("--pace-ms", type=float, default=500.0, help="each prompt's length")
    parser.add_argument("--ramp-s", type=float, default=10.0, help="calls start over this")
    parser.add_argument("--reminders", type=int, default=20_000, help="the wave, each phase")
    parser.add_argument("--tps", type=float, default=5000.0, help="each gateway's SMPP rate")
    parser.add_argument("--max-s", type=float, default=600.0, help="give each wave this long")
    parser.add_argument("--hold-s", type=float, default=0.0, help="a phase lasts at least this")
    parser.add_argument("--smoke", action="store_true", help="a small size for CI")
    args = parser.parse_args()
    if args.smoke:
        args.dossiers, args.calls, args.reminders = 20_000, 20, 500
        args.pace_ms, args.ramp_s, args.max_s = 50, 2, 90
    load_avg = os.getloadavg()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}; "
        f"{args.dossiers} dossiers on PostgreSQL; {args.calls} calls in flight at "
        f"{args.pace_ms:g} ms a prompt; {args.reminders} reminders a phase at {args.tps:g} "
        f"parts/s a gateway; {datetime.now().astimezone():%Y-%m-%d %H:%M %z}",
        flush=True,
    )
    shutil.rmtree(SCRATCH, ignore_errors=True)
    results: dict[str, Any] = {}
    for phase, instances in (("A", 1), ("B", 2)):
        # Each phase on a fresh copy of the base: the same database state for both, and
        # nothing one phase left queued (an unfinished wave, the reminder cursor) in the other.
        with pg.server(args.dossiers, free_port()) as url:
            codes = asyncio.run(load.keypad_codes(url, pg.KEYPAD_AGENCY, 5000))
            results[phase] = run_phase(url, phase, instances, codes, args)
        print(headline(phase, results[phase]), flush=True)
    print(json.dumps(results, indent=1, default=str))
    a, b = results["A"], results["B"]
    for phase in "AB":
        print(headline(phase, results[phase]))
    print(
        f"ratio B/A (two gateways / one, same run): SMS parts/s "
        f"{ratio(b['sms']['parts_per_s'], a['sms']['parts_per_s']):.2f}, lookups/s "
        f"{ratio(b['lookups_per_s'], a['lookups_per_s']):.2f}, decision p99 "
        f"{ratio(b['calls']['decision']['p99_ms'], a['calls']['decision']['p99_ms']):.2f}, "
        f"reply->next p99 "
        f"{ratio(b['calls']['reply_next']['p99_ms'], a['calls']['reply_next']['p99_ms']):.2f}"
    )
    print(
        f"exactly once: duplicate parts A {a['sms']['duplicate_parts']} B "
        f"{b['sms']['duplicate_parts']}; reminders lost A {a['reminders_lost']} B "
        f"{b['reminders_lost']}; failed calls A {a['calls']['failed']} B {b['calls']['failed']}; "
        f"calls not recorded A {a['calls']['calls'] - a['calls']['recorded']} "
        f"B {b['calls']['calls'] - b['calls']['recorded']}"
    )


if __name__ == "__main__":
    main()
