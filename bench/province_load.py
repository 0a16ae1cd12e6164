"""The province bench's load: callers over every gateway, the test SMSC, the office's wave.

Each generator runs in a process of its own (multiprocessing, spawn), so its CPU
is its own figure and never the gateways' or the bench driver's:

  callers  --calls lanes of paced calls (peers.asterisk), lane j dialling gateway
           j mod n, as Asterisk servers spread calls over the gateways: menu 1, a
           real keypad code, the status, silence to the goodbye;
  smsc     the test SMSC (peers/smsc.py, smpp.pdu3) every gateway binds to; it
           counts each part it receives by (destination, part number);
  office   (write_wave, in the driver) a one-stop sync of new dossiers ready today,
           one phone each, written the way lookup/postgres.py's writer orders
           changes (its advisory lock, change_seq after the last) but by COPY;
           the gateways' reminder job queues one SMS each, both links send them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import resource
import sys
import time
from array import array
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mixed_bench import percentile  # noqa: E402

PASSWORD = "bench"  # SMPP passwords are at most 8 characters


# ---- the callers process


def callers_main(
    tag: str, ports: list[int], codes: list[str], shape: dict[str, float], out: Connection
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out.send(asyncio.run(_callers(tag, ports, codes, shape, out)))


async def _callers(
    tag: str, ports: list[int], codes: list[str], shape: dict[str, float], out: Connection
) -> dict[str, Any]:
    """Calls with uniqueids `<tag>.<n>` (the phase's calls in ivr_call_event)."""
    from peers.asterisk import SimulatedAsterisk

    lanes, pace_s, ramp_s = int(shape["lanes"]), shape["pace_s"], shape["ramp_s"]
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(out.fileno(), lambda: _stop_on(loop, out, stopping))
    gaps = array("d")  # every reply -> next command, seconds
    decisions = array("d")  # the code's last key -> the status prompt: the look-up and decision
    per_port: collections.Counter[int] = collections.Counter()
    done, failed = 0, []
    counter = itertools.count(1)
    started = time.perf_counter()

    async def lane(j: int) -> None:
        nonlocal done
        port = ports[j % len(ports)]
        await asyncio.sleep(ramp_s * j / lanes)
        while not stopping.is_set():
            n = next(counter)
            code = codes[n % len(codes)]
            peer = SimulatedAsterisk(
                f"1 {code}# _ _ _", uniqueid=f"{tag}.{n}", pace_s=pace_s, caller=f"09{n:08d}"
            )
            try:
                record = await peer.call("127.0.0.1", port, timeout_s=120)
            except OSError as exc:
                failed.append(f"{tag}.{n} on {port}: connect {exc}")
                await asyncio.sleep(0.5)
                continue
            keyed = f"200 result={code}"
            for (t0, k0, text0), (t1, k1, _) in itertools.pairwise(record.timeline):
                if k0 == "reply" and k1 == "cmd":
                    gaps.append(t1 - t0)
                    if text0 == keyed:
                        decisions.append(t1 - t0)
            if record.ended != "returned" or record.variables.get("TRACUU_NEXT") != "goodbye":
                failed.append(f"{tag}.{n} on {port}: {record.ended} {record.variables}")
            else:
                done += 1
                per_port[port] += 1

    await asyncio.gather(*(lane(j) for j in range(lanes)))
    return {
        "calls": done + len(failed),
        "completed": done,
        "per_gateway": [per_port[p] for p in ports],
        "failed": len(failed),
        "failed_first": failed[:5],
        "seconds": time.perf_counter() - started,
        "decision": _figures(decisions),
        "reply_next": _figures(gaps),
    }


def _stop_on(loop: asyncio.AbstractEventLoop, conn: Connection, stop: asyncio.Event) -> None:
    """ "stop" from the bench, or its end (a closed pipe): either way, no new calls."""
    loop.remove_reader(conn.fileno())
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    stop.set()


def _figures(samples: array[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 0.5) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
    }


# ---- the SMSC process


def smsc_main(port: int, prefix: str, out: Connection) -> None:
    asyncio.run(_smsc(port, prefix, out))


async def _smsc(port: int, prefix: str, out: Connection) -> None:
    from peers.smsc import Personality, TestSmsc

    # fast_encoding: the answers packed by struct, so this one Python process keeps up
    # with two gateways (incoming PDUs are still decoded by smpp.pdu3).
    personality = Personality(password=PASSWORD, fast_encoding=True)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(out.fileno(), lambda: commands.put_nowait(_command(out)))
    async with TestSmsc(personality, host="127.0.0.1", port=port) as smsc:
        out.send("listening")
        while True:
            command = await commands.get()
            submits = smsc.record.submits
            if command == "binds":  # gateways bound now (a refused bind is in record.binds)
                out.send(sum(1 for session in smsc._sessions if session.bound))
            elif command == "count":
                out.send(sum(1 for s in submits if s.destination.startswith(prefix)))
            elif command == "gone":  # the bench died: end rather than spin on a closed pipe
                return
            elif command == "report":
                out.send(_report(submits, prefix))
                return


def _command(conn: Connection) -> str:
    try:
        return str(conn.recv())
    except (EOFError, OSError):
        return "gone"


def _report(submits: list[Any], prefix: str) -> dict[str, Any]:
    """What the SMSC got of the wave: parts, messages, duplicates, and how fast."""
    wave = [s for s in submits if s.destination.startswith(prefix)]
    # A reminder goes to a number of its own: (number, part) names one part of one message.
    parts = collections.Counter((s.destination, s.udh[2] if s.udh else 0) for s in wave)
    times = sorted(s.at for s in wave)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    by_bind = collections.Counter(getattr(s, "system_id", "") for s in wave)
    return {
        "parts": len(wave),
        "numbers": len({s.destination for s in wave}),
        "duplicate_parts": sum(n - 1 for n in parts.values() if n > 1),
        "send_s": span,
        "parts_per_s": len(wave) / span if span else float("nan"),
        "by_bind": dict(by_bind),
        "submits": len(submits),
    }


# ---- the office's wave (runs in the driver)


def wave_agencies(phase: str) -> list[str]:
    first = 20 + 10 * (ord(phase) - ord("A"))  # phase A 20..29, B 30..39: new codes each
    return [f"000.00.{n:02d}.H26" for n in range(first, first + 10)]


def wave_prefix(phase: str) -> str:
    return f"8490{ord(phase) - ord('A')}"  # +84900xxxxxx, +84901xxxxxx: a number a reminder


async def write_wave(url: str, phase: str, count: int) -> dict[str, float]:
    """`count` dossiers ready today, written as one sync would, each with its own phone."""
    import asyncpg

    from lookup.model import Dossier, Status
    from lookup.postgres import WRITE_LOCK
    from lookup.rows import COLUMNS, dossier_row

    today = date.today()
    received = today - timedelta(days=3)
    agencies, prefix = wave_agencies(phase), wave_prefix(phase)
    per_agency = -(-count // len(agencies))
    now_iso = datetime.now(UTC).isoformat()
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        for first in range(0, count, 5000):
            rows = []
            for i in range(first, min(count, first + 5000)):
                agency = agencies[i // per_agency]
                dossier = Dossier(
                    code=f"{agency}-{received:%y%m%d}-{i % per_agency + 1:04d}",
                    agency_id=agency,
                    procedure_code="1.001193",
                    procedure_name="Đăng ký khai sinh",
                    status=Status.READY,
                    received_on=received,
                    due_on=today,
                    ready_on=today,
                    applicant_phones=(f"+{prefix}{i:06d}",),
                )
                rows.append(dossier_row(dossier, now_iso))
            async with conn.transaction():
                # lookup/postgres.py's rule: writers in change_seq order, under its lock.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                last = await conn.fetchval("SELECT coalesce(max(change_seq), 0) FROM dossier")
                records = [(*row, last + k) for k, row in enumerate(rows, start=1)]
                await conn.copy_records_to_table("dossier", records=records, columns=COLUMNS)
                await conn.execute(
                    "INSERT INTO dossier_phone (phone, dossier_id)"
                    " SELECT applicant_phones, id FROM dossier WHERE change_seq > $1",
                    last,
                )
    finally:
        await conn.close()
    return {"written": count, "seconds": time.perf_counter() - started}


async def keypad_codes(url: str, agency: str, n: int) -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT code_date, seq_num FROM dossier WHERE code_agency = $1 LIMIT $2", agency, n
        )
    finally:
        await conn.close()
    return [f"{r['code_date']}{r['seq_num']:04d}" for r in rows]


async def calls_recorded(url: str, tag: str) -> int:
    """Calls of the phase whose events the gateways stored (ivr_call_event)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        count = await conn.fetchval(
            "SELECT count(DISTINCT uniqueid) FROM ivr_call_event WHERE uniqueid LIKE $1",
            f"{tag}.%",
        )
    finally:
        await conn.close()
    return int(count)
