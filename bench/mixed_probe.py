"""Where a slow reply -> next command goes, for bench/mixed_bench.py (bench-only).

Four clocks, all CLOCK_REALTIME (time.time() and the kernel's SO_TIMESTAMPNS), so
the callers' and the gateway's records can be laid side by side:

  reply   the caller is about to write its reply              (callers' code)
  rx      the gateway's protocol got the reply's bytes         (gateway's loop)
  tx      the gateway wrote the next command                   (gateway's loop)
  kernel  the command reached the callers' socket              (SO_TIMESTAMPNS)
  seen    the caller's code read the command line              (callers' code)

reply -> seen is the figure the bench always reported. reply -> kernel leaves out
the callers' own scheduling delay (their loop busy, or their process waiting for a
CPU), which is not the gateway's: on loopback the kernel stamps the segment inside
the gateway's send() call. rx -> tx is the gateway's own time for the step (its
flow, its look-ups' thread hops, its loop between them); reply -> rx is the
gateway waking to read (its loop busy with something else, the GIL held by another
of its threads, or the process waiting for a CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from array import array
from collections import defaultdict
from typing import Any

from peers.asterisk import SimulatedAsterisk, agi_environment

_STAMP = struct.Struct("qq")  # struct timespec on 64-bit Linux
# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS), which the socket module names only from 3.14.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_ANCILLARY = socket.CMSG_SPACE(_STAMP.size)


class _StampedStream:
    """A stream reader/writer over a raw socket that keeps the kernel's receive stamp of
    the bytes that completed each line (what readline() returned)."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = sock
        self.loop = loop
        self.buffer = bytearray()
        self.stamp = 0.0  # kernel receive time of the last chunk read
        self.line_stamp = 0.0
        self.eof = False
        self._waiter: asyncio.Future[None] | None = None
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = _STAMP.unpack(payload[: _STAMP.size])
                self.stamp = sec + nsec * 1e-9
        if data:
            self.buffer += data
        else:
            self.eof = True
            self.loop.remove_reader(self.sock.fileno())
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def readline(self) -> bytes:
        while (end := self.buffer.find(b"\n")) < 0:
            if self.eof:
                line = bytes(self.buffer)
                self.buffer.clear()
                return line
            self._waiter = self.loop.create_future()
            await self._waiter
        line = bytes(self.buffer[: end + 1])
        del self.buffer[: end + 1]
        self.line_stamp = self.stamp
        return line

    def write(self, data: bytes) -> None:
        sent = self.sock.send(data)  # a reply is tens of bytes: the buffer always takes it
        if sent != len(data):
            raise OSError("short write on a caller socket")

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        if not self.eof:
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class StampedCaller(SimulatedAsterisk):
    """SimulatedAsterisk with realtime marks and the kernel stamp of every command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.port = 0  # our local port: the gateway knows us by it
        self.kernel: list[float] = []  # per command
        self._stream: _StampedStream | None = None

    async def call(self, host: str, port: int, *, timeout_s: float = 30.0) -> Any:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's streams
        try:
            await loop.sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        stream = self._stream = _StampedStream(sock, loop)
        try:
            async with asyncio.timeout(timeout_s):
                stream.write(
                    agi_environment(
                        script=self.script, params=self.params, query=self.query,
                        args=self.args, caller=self.caller, uniqueid=self.uniqueid, port=port,
                    )
                )  # fmt: skip
                await self._serve(stream, stream)  # type: ignore[arg-type]
        except TimeoutError:
            self.record.ended = "timeout"
        finally:
            stream.close()
        self.record.keys_left = len(self.keys)
        return self.record

    def _mark(self, kind: str, text: str) -> None:
        self.record.timeline.append((time.time(), kind, text))
        if kind == "cmd":
            assert self._stream is not None
            self.kernel.append(self._stream.line_stamp)


class LagTicker:
    """A process's own loop lag: how late a 10 ms sleep wakes up."""

    def __init__(self, every_s: float = 0.010) -> None:
        self.every_s = every_s
        self.late = array("d")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.every_s
            await asyncio.sleep(self.every_s)
            self.late.append(loop.time() - due)


class GcPauses:
    """How long this process's garbage collections stop it, by generation (gc.callbacks):
    a full collection walks every live object, with the GIL held."""

    def __init__(self, census: bool = False) -> None:
        self.pauses: dict[int, array[float]] = {0: array("d"), 1: array("d"), 2: array("d")}
        self.collected: dict[int, int] = {0: 0, 1: 0, 2: 0}
        self._started = 0.0
        # --attribute: what a full pass walks, by type, every tenth pass (costs a few ms)
        self._census = census
        self.walked: dict[str, int] = {}
        self.walked_total = 0

    def install(self) -> None:
        import gc

        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            generation = info["generation"]
            self.pauses[generation].append(time.perf_counter() - self._started)
            self.collected[generation] += info.get("collected", 0)
            if self._census and generation == 2 and len(self.pauses[2]) % 10 == 1:
                import gc
                from collections import Counter

                tracked = gc.get_objects(2)
                self.walked_total = len(tracked)
                counts = Counter(type(o).__qualname__ for o in tracked)
                self.walked = dict(counts.most_common(12))
                del tracked

    def garbage_left(self) -> dict[str, Any]:
        """Once the load is over: the cyclic garbage no pass has freed yet, by type. What
        the load leaves in cycles waits for a full pass, however rare; none is best."""
        import gc
        from collections import Counter

        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            found = gc.collect()
            counts = Counter(type(o).__qualname__ for o in gc.garbage)
            gc.garbage.clear()
        finally:
            gc.set_debug(0)
        return {"total": found} | dict(counts.most_common(15))

    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            f"gen{g}": {
                "count": len(v),
                "total_ms": round(sum(v) * 1000, 1),
                "collected": self.collected[g],  # cyclic garbage this generation's passes freed
            }
            | _summary(list(v))
            for g, v in self.pauses.items()
        }
        if self._census:
            figures["walked_by_a_full_pass"] = {"total": self.walked_total} | self.walked
        return figures


# ---- the gateway side (installed in the gateway process before serve())


class GatewayMarks:
    """rx (reply bytes received) and tx (next command written) per FastAGI connection,
    by the caller's port. Patches ivr.agi_wire in this process only."""

    def __init__(self) -> None:
        # Columns of plain doubles, not tuples: hundreds of thousands of small objects
        # would lengthen this process's own garbage collections (the ruler would move).
        self.port, self.rx, self.tx = array("d"), array("d"), array("d")

    @property
    def by_port(self) -> dict[int, list[tuple[float, float]]]:
        rows: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for port, rx, tx in zip(self.port, self.rx, self.tx, strict=True):
            rows[int(port)].append((rx, tx))
        return rows

    def columns(self) -> tuple[array[float], array[float], array[float]]:
        return self.port, self.rx, self.tx

    def install(self) -> None:
        from ivr import agi_wire

        ports, rxs, txs = self.port, self.rx, self.tx
        received = agi_wire.AgiConnection.data_received
        made = agi_wire.AgiConnection.connection_made
        run = agi_wire.AgiChannel.run

        def connection_made(conn: Any, transport: Any) -> None:
            made(conn, transport)
            peer = transport.get_extra_info("peername")
            conn._bench_port = peer[1] if peer else 0
            conn._bench_rx = 0.0

        def data_received(conn: Any, data: bytes) -> None:
            conn._bench_rx = time.time()
            received(conn, data)

        async def run_marked(channel: Any, command: str, **kwargs: Any) -> Any:
            conn = channel._conn
            ports.append(conn._bench_port)
            rxs.append(conn._bench_rx)
            txs.append(time.time())
            return await run(channel, command, **kwargs)

        agi_wire.AgiConnection.connection_made = connection_made  # type: ignore[method-assign]
        agi_wire.AgiConnection.data_received = data_received  # type: ignore[method-assign]
        agi_wire.AgiChannel.run = run_marked  # type: ignore[method-assign]


# ---- side by side


def by_phase(
    exchanges: list[tuple[int, float, float, float, str]],
    phases: dict[str, tuple[float, float]],
) -> dict[str, dict[str, float]]:
    """reply -> next command in the callers' kernel, by the phase (wall-clock span) the
    reply fell in: the tail during the reminder scan is not the tail while it sends."""
    spans: dict[str, list[float]] = {name: [] for name in phases}
    for _, reply, kernel, _, _ in exchanges:
        for name, (start, end) in phases.items():
            if start <= reply < end:
                spans[name].append(kernel - reply)
                break
    return {name: {"exchanges": len(v)} | summary_ms(array("d", v)) for name, v in spans.items()}


def attribute(
    exchanges: list[tuple[int, float, float, float, str]],
    gateway: dict[int, list[tuple[float, float]]],
    slow_s: float = 0.010,
) -> dict[str, Any]:
    """exchanges: (caller port, reply, kernel, seen, next command) from the callers.
    Splits each slow one (reply -> seen over slow_s) into its legs, by the gateway's
    tx nearest the kernel stamp (on loopback they are microseconds apart)."""
    txs = {port: sorted(rows, key=lambda r: r[1]) for port, rows in gateway.items()}
    legs: dict[str, list[float]] = defaultdict(list)
    whole: dict[str, list[float]] = defaultdict(list)
    slow_by_command: dict[str, int] = defaultdict(int)
    worst: list[dict[str, Any]] = []
    unmatched = 0
    for port, reply, kernel, seen, command in exchanges:
        whole["reply_to_seen"].append(seen - reply)
        whole["reply_to_kernel"].append(kernel - reply)
        whole["kernel_to_seen"].append(seen - kernel)
        row = _nearest(txs.get(port, []), kernel)
        if row is not None:
            rx, tx = row
            whole["reply_to_rx"].append(rx - reply)
            whole["rx_to_tx"].append(tx - rx)
        if seen - reply <= slow_s:
            continue
        slow_by_command[command.split(" ")[0] + " " + _label(command)] += 1
        if row is None:
            unmatched += 1
            continue
        rx, tx = row
        leg = {
            "gateway_wake": rx - reply,
            "gateway_step": tx - rx,
            "wire": kernel - tx,
            "callers_wake": seen - kernel,
        }
        for name, value in leg.items():
            legs[name].append(value)
        worst.append(
            {"total_ms": round((seen - reply) * 1000, 2), "next": command[:40]}
            | {k: round(v * 1000, 2) for k, v in leg.items()}
        )
    worst.sort(key=lambda w: -w["total_ms"])
    return {
        "exchanges": len(exchanges),
        "slow": sum(slow_by_command.values()),
        "slow_unmatched": unmatched,
        "all_ms": {k: _summary(v) for k, v in whole.items()},
        "slow_legs_ms": {
            k: _summary(v) | {"sum": round(sum(v) * 1000, 1)} for k, v in legs.items()
        },
        "slow_by_next_command": dict(sorted(slow_by_command.items(), key=lambda kv: -kv[1])[:8]),
        "worst": worst[:12],
    }


def _label(command: str) -> str:
    words = command.split()
    return words[2] if len(words) > 2 else ""


def _nearest(rows: list[tuple[float, float]], at: float) -> tuple[float, float] | None:
    best = None
    for rx, tx in rows:
        if abs(tx - at) < 0.002 and (best is None or abs(tx - at) < abs(best[1] - at)):
            best = (rx, tx)
    return best


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    n = len(ordered)
    return {
        "p50": round(ordered[n // 2] * 1000, 2),
        "p99": round(ordered[min(n - 1, int(0.99 * n))] * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


def summary_ms(values: Any) -> dict[str, float]:
    return _summary(list(values))


# ---- CPU per thread (/proc)


def thread_ticks(pid: int) -> dict[int, int]:
    """utime + stime (clock ticks) of every thread of a process, by thread id."""
    ticks: dict[int, int] = {}
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks[int(tid)] = int(fields[11]) + int(fields[12])
    return ticks


def children(pid: int) -> list[int]:
    """The process's child processes (e.g. the gateway's SMPP link worker)."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            path = f"/proc/{pid}/task/{tid}/children"
            with contextlib.suppress(FileNotFoundError), open(path) as f:
                found += [int(c) for c in f.read().split()]
    return found


def cpu_share(
    before: dict[int, int], after: dict[int, int], seconds: float, names: dict[int, str]
) -> dict[str, float]:
    """Each thread's CPU over the interval, in % of one CPU, by thread name."""
    hz = os.sysconf("SC_CLK_TCK")
    share: dict[str, float] = defaultdict(float)
    for tid, ticks in after.items():
        used = (ticks - before.get(tid, 0)) / hz
        share[names.get(tid, f"tid {tid}")] += 100 * used / seconds
    return {k: round(v, 1) for k, v in sorted(share.items(), key=lambda kv: -kv[1]) if v >= 0.5}
