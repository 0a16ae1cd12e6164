"""Server CPU per FastAGI command: tracuu's real call flow against a plain asyncio baseline.

    .venv/bin/python bench/agi_bench.py                 # 2,000 calls each, 50 at a time
    .venv/bin/python bench/agi_bench.py --smoke         # CI size
    .venv/bin/python bench/agi_bench.py --profile prof  # also cProfile the tracuu server

One run, side by side, the same load generator (peers.asterisk's SimulatedAsterisk,
playing res_agi.c with no pacing, in its own process pinned to the second core)
drives two servers in turn, each in its own process pinned to the first core:

  tracuu    the real FastAGI server (ivr.service.build_server), the real flow, the
            SQLite lookup over a cached dossier file, the event bus and the IVR store
            recording every call's events: what `tracuu serve` runs for a call.
  baseline  a plain asyncio streams server (BaselineServer below) that reads the
            environment and sends, for each call, the very command sequence the
            tracuu flow sent for the same keys and code (recorded once before the
            runs; the call's uniqueid names its code), reading one reply line each:
            no flow, no lookup. Calls differ (a status may take one prompt or
            four), so one sequence for every call would compare different work.
  protocol  the same script on an asyncio.Protocol (ProtocolBaseline): the floor.

What is measured: the server process's CPU time (user + system, every thread, from
/proc/<pid>/stat) between the moment the load starts and the moment the last call
ends, after a warm-up; divided by the AGI commands the load generator received.
The ratio tracuu / baseline is the figure to compare across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import platform
import pstats
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# One configured agency: every keyed code names one dossier (no "press 1 for ..." step).
CONFIGURED = {"000.00.18.H26": "UBND phường Cửa Nam"}
AGENCIES = [f"000.00.{n:02d}.H26" for n in range(10, 20)]
TODAY = date(2026, 11, 30)
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a whole process (all its threads, live and exited)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime (fields 14, 15)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per live thread of a process, by thread name (threads of one name summed)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        key = "main" if task.name == str(pid) else name
        out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) * TICK_S
    return out


def pin(cpu: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


# ---- the dossier file, built once and reused


def dossier_file(count: int) -> Path:
    path = ROOT / "var" / "bench" / f"agi-{count}.sqlite3"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        asyncio.run(_build(path, count))
    return path


async def _build(path: Path, count: int) -> None:
    from lookup.demo import generate
    from lookup.sqlite import DossierStore

    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = await DossierStore.open(partial)
    await store.upsert_dossiers(generate(count, today=TODAY, agencies=AGENCIES, seed=1))
    await store.close()
    _remove(partial, ("-wal", "-shm"))
    partial.rename(path)


def _remove(path: Path, suffixes: tuple[str, ...]) -> None:
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def keypad_codes(path: Path, n: int) -> list[str]:
    """Existing keypad codes of the configured agency, a different one per call (cycled)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT code_date, seq_num FROM dossier WHERE code_agency = ?"
            " ORDER BY code_date, seq_num",
            (next(iter(CONFIGURED)),),
        ).fetchall()
    return [f"{d}{s:04d}" for d, s in (rows[i % len(rows)] for i in range(n))]


def keys_for(code: str) -> str:
    # Menu 1, the code, then silence to the goodbye: the whole "is my dossier ready" call.
    return f"1 {code}# _ _ _"


# ---- the servers (each runs in its own process)


def server_main(
    kind: str, db: str, sequences: dict[str, list[str]], profile: str, out: Connection
) -> None:
    pin(0)
    # As `tracuu serve` logs (INFO, phone numbers masked), into a file instead of stderr.
    from kernel.logs import setup_logging

    setup_logging("INFO")
    log_file = Path(db).with_name(f"agi-bench-{kind}.log").open("w")
    os.dup2(log_file.fileno(), 2)
    asyncio.run(_server(kind, Path(db), sequences, profile, out))


async def _server(
    kind: str, db: Path, sequences: dict[str, list[str]], profile: str, out: Connection
) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    if kind == "tracuu":
        server, closers = await _tracuu_server(db)
        await server.start()
        port = server.port
    else:
        base = BaselineServer(sequences) if kind == "baseline" else ProtocolBaseline(sequences)
        await base.start()
        port = base.port
    profiler = cProfile.Profile() if profile else None
    out.send(port)

    def command() -> None:
        message = out.recv()
        if message == "profile-on" and profiler is not None:
            profiler.enable()
        elif message == "profile-off" and profiler is not None:
            profiler.disable()
        elif message == "stop" and not stop.done():
            stop.set_result(None)
            return
        out.send("ok")

    loop.add_reader(out.fileno(), command)
    await stop
    loop.remove_reader(out.fileno())
    if kind == "tracuu":
        await server.stop(drain_s=1)
        for close in closers:
            await close()
    if profiler is not None:
        profiler.dump_stats(profile)
    out.send("stopped")


async def _tracuu_server(db: Path) -> tuple[Any, list[Any]]:
    """What `tracuu serve` builds for the voice side, over the bench's dossier file."""
    from gateway.settings import Settings
    from ivr.service import build_server
    from ivr.store import IvrStore
    from kernel.bus import EventBus
    from kernel.office import Agency
    from lookup.sqlite import SqliteLookup

    settings = Settings(
        agi={"host": "127.0.0.1", "port": 0, "max_calls": 5000},
        agencies=tuple(Agency(id=k, name=v) for k, v in CONFIGURED.items()),
    )
    lookup = await SqliteLookup.open(
        db, agencies=CONFIGURED, collection_place="Bộ phận Một cửa", create=False
    )
    events = db.with_name("agi-bench-events.sqlite3")
    _remove(events, ("", "-wal", "-shm"))
    store = await IvrStore.open(events)
    bus = EventBus()
    # Every prompt's file is there, as on a production server after the first render.
    # --without-store: the call flow alone, to tell its cost from the store's.
    keep = None if os.environ.get("AGI_BENCH_WITHOUT_STORE") else store
    server = build_server(settings, lookup, bus=bus, store=keep, available=lambda _id: True)
    return server, [lookup.close, store.close]


class BaselineServer:
    """A plain asyncio streams FastAGI server: the environment, then a fixed script.

    What any FastAGI server has to do at the least for this call: read the agi_*
    block, write each command, read its reply line. It decides nothing: the script
    is the one tracuu sent for the call's code, named in its uniqueid.
    """

    def __init__(self, sequences: dict[str, list[str]]) -> None:
        self._scripts = {
            code.encode(): [c.encode() + b"\n" for c in sequence]
            for code, sequence in sequences.items()
        }
        self._server: asyncio.Server | None = None

    def script(self, header: bytes) -> list[bytes]:
        """The commands for the call whose environment is `header` (agi.<n>.<code>)."""
        start = header.index(b"agi_uniqueid: ") + 14
        uniqueid = header[start : header.index(b"\n", start)]
        return self._scripts[uniqueid.rpartition(b".")[2]]

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._call, "127.0.0.1", 0, backlog=511)

    async def _call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await reader.readuntil(b"\n\n")
            for command in self.script(header):
                writer.write(command)
                line = await reader.readline()
                if not line or line.startswith(b"HANGUP"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class ProtocolBaseline(BaselineServer):
    """The same fixed script on an asyncio.Protocol: no StreamReader, no task per call.

    Issue 8's second reference point (15-16 us where streams cost 18-19 us).
    """

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ScriptProtocol(self.script), "127.0.0.1", 0, backlog=511
        )


class _ScriptProtocol(asyncio.Protocol):
    def __init__(self, script: Callable[[bytes], list[bytes]]) -> None:
        self._script = script
        self._commands: list[bytes] = []
        self._next = 0
        self._buffer = b""
        self._started = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        if not self._started:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return
            self._commands = self._script(self._buffer[: end + 2])
            self._buffer = self._buffer[end + 2 :]
            self._started = True
            self._send()
            return
        while (end := self._buffer.find(b"\n")) >= 0:
            line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
            if line.startswith(b"HANGUP"):
                self._transport.close()
                return
            self._send()

    def _send(self) -> None:
        assert self._transport is not None
        if self._next >= len(self._commands):
            self._transport.close()
            return
        self._transport.write(self._commands[self._next])
        self._next += 1


# ---- the load generator (its own process)


def load_main(port: int, codes: list[str], concurrency: int, out: Connection) -> None:
    pin(1)
    out.send(asyncio.run(_load(port, codes, concurrency)))


async def _load(port: int, codes: list[str], concurrency: int) -> dict[str, Any]:
    from peers.asterisk import SimulatedAsterisk

    gate = asyncio.Semaphore(concurrency)
    commands = 0
    failed: list[str] = []
    start = time.perf_counter()

    async def one(i: int, code: str) -> None:
        nonlocal commands
        async with gate:
            # A number per call: the per-caller lookup limit is not what is measured.
            caller = f"09{i % 100_000_000:08d}"
            peer = SimulatedAsterisk(keys_for(code), uniqueid=f"agi.{i}.{code}", caller=caller)
            record = await peer.call("127.0.0.1", port, timeout_s=60)
        commands += len(record.commands)
        if record.ended != "returned" or record.variables.get("TRACUU_NEXT") != "goodbye":
            failed.append(f"call {i}: {record.ended} {record.variables}")

    await asyncio.gather(*(one(i, c) for i, c in enumerate(codes)))
    return {"commands": commands, "failed": failed, "wall_s": time.perf_counter() - start}


# ---- one server, one measured load


def command_sequences(db: Path, codes: list[str]) -> dict[str, list[str]]:
    """The commands tracuu's flow sends for a call about each code (the baselines
    replay them), recorded once, 50 calls at a time."""

    async def record() -> dict[str, list[str]]:
        from peers.asterisk import SimulatedAsterisk

        server, closers = await _tracuu_server(db)
        await server.start()
        gate = asyncio.Semaphore(50)
        found: dict[str, list[str]] = {}

        async def one(i: int, code: str) -> None:
            async with gate:
                peer = SimulatedAsterisk(keys_for(code), caller=f"09{i:08d}")
                found[code] = (await peer.call("127.0.0.1", server.port, timeout_s=60)).commands

        await asyncio.gather(*(one(i, c) for i, c in enumerate(sorted(set(codes)))))
        await server.stop(drain_s=1)
        for close in closers:
            await close()
        return found

    return asyncio.run(record())


def measure(
    kind: str,
    db: Path,
    *,
    sequences: dict[str, list[str]],
    codes: list[str],
    warmup: list[str],
    concurrency: int,
    profile: str,
    spy_file: str = "",
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=server_main, args=(kind, str(db), sequences, profile, theirs))
    server.start()
    assert server.pid is not None
    port = ours.recv()

    def load(batch: list[str]) -> dict[str, Any]:
        receive, send = ctx.Pipe(duplex=False)
        gen = ctx.Process(target=load_main, args=(port, batch, concurrency, send))
        gen.start()
        result: dict[str, Any] = receive.recv()
        gen.join()
        return result

    load(warmup)
    spy = None
    if spy_file and kind == "tracuu":
        # A sampling profile of the server (py-spy, installed by hand: not a dependency).
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "-p",
                str(server.pid),
                "-r",
                "500",
                "-f",
                "raw",
                "-o",
                spy_file,
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
    if profile:
        ours.send("profile-on")
        ours.recv()
    cpu0 = cpu_seconds(server.pid)
    threads0 = thread_cpu(server.pid)
    result = load(codes)
    cpu = cpu_seconds(server.pid) - cpu0
    threads = thread_cpu(server.pid)
    result["threads"] = {k: v - threads0.get(k, 0.0) for k, v in threads.items()}
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait()
    if profile:
        ours.send("profile-off")
        ours.recv()
    ours.send("stop")
    ours.recv()
    server.join()
    result["cpu_s"] = cpu
    result["us_per_command"] = cpu / max(1, result["commands"]) * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per server")
    parser.add_argument("--concurrency", type=int, default=50, help="calls in flight")
    parser.add_argument("--dossiers", type=int, default=20_000, help="dossier file size")
    parser.add_argument("--profile", default="", help="write a cProfile of the tracuu server")
    parser.add_argument("--spy", default="", help="py-spy record the tracuu server (raw stacks)")
    parser.add_argument(
        "--without-store", action="store_true", help="no IVR store (its cost told apart)"
    )
    parser.add_argument("--smoke", action="store_true", help="200 calls, 10 at a time")
    args = parser.parse_args()
    if args.smoke:
        args.calls, args.concurrency = 200, 10
    if args.without_store:
        os.environ["AGI_BENCH_WITHOUT_STORE"] = "1"  # read by the spawned server process
    db = dossier_file(args.dossiers)
    codes = keypad_codes(db, args.calls + 200)
    warmup, codes = codes[:200], codes[200:]
    sequences = command_sequences(db, warmup + codes)
    per_call = sum(len(sequences[c]) for c in codes) / len(codes)
    load_avg = os.getloadavg()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load_avg[0]:.2f} {load_avg[1]:.2f}; {args.calls} calls, "
        f"{args.concurrency} at a time, {per_call:.1f} AGI commands a call; "
        f"server on CPU 0, load generator on CPU 1"
    )
    figures = {}
    for kind in ("tracuu", "baseline", "protocol"):
        profile = args.profile if kind == "tracuu" else ""
        result = measure(
            kind,
            db,
            sequences=sequences,
            codes=codes,
            warmup=warmup,
            concurrency=args.concurrency,
            profile=profile,
            spy_file=args.spy,
        )
        figures[kind] = result["us_per_command"]
        print(
            f"{kind:>8}: {result['us_per_command']:6.1f} us server CPU per AGI command "
            f"({result['cpu_s']:.2f} s CPU for {result['commands']} commands, "
            f"wall {result['wall_s']:.1f} s), failed calls {len(result['failed'])}; "
            "CPU by thread: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(result["threads"].items()) if v)
        )
        for failure in result["failed"][:3]:
            print("   ", failure)
    print(f"ratio tracuu / baseline: {figures['tracuu'] / figures['baseline']:.2f}")
    print(f"ratio tracuu / protocol baseline: {figures['tracuu'] / figures['protocol']:.2f}")
    if args.profile:
        stats = pstats.Stats(args.profile)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
