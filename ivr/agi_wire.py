"""The FastAGI wire: read Asterisk's environment block, send one command, read its reply.

Owns framing and the meaning of res_agi.c's reply lines; decides nothing about a
call. Replaces panoramisk's FastAGI handling, which freezes the loop on EOF in
the header, reads one line of a multi-line 520 and reports hang-ups as errors
(shared/domain/dependency-weak-spots.md). Every read is bounded in size (`limit`)
and in time (a deadline per command).

Lean by design, since a call sends about thirty commands (bench/agi_bench.py,
docs/benchmarks.md): an asyncio.Protocol that buffers bytes and wakes the one
waiting reader only when a whole line is in, instead of StreamReader's
readline machinery; and one lazily moved timer per connection instead of an
asyncio.timeout (a TimerHandle, a cancel and a reschedule) per command.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

from kernel.heap import release_transport

# res_agi.c answers STREAM FILE/GET OPTION with the key's ASCII code; these are the keys a
# phone can send.
ALL_KEYS = "0123456789*#"


class AgiError(Exception):
    """Base class for FastAGI failures."""


class CallerHungUp(AgiError):
    """HANGUP notice, 511 on a dead channel, or the socket closed."""


class AgiCommandRejected(AgiError):
    """Asterisk refused a command (510/520): a bug on our side, never the caller's."""


class AgiProtocolError(AgiError):
    """A line that res_agi.c never sends, or an oversize header or line."""


class Reply(NamedTuple):
    """One `200 result=...` line, split into its parts (a tuple: built once per command)."""

    result: str  # the text after "result=", e.g. "53", "12345", "-1", ""
    data: str  # the parenthesised part: "timeout", "1234" (GET VARIABLE), or ""
    endpos: int | None  # STREAM FILE / GET OPTION: sample offset where playback stopped
    line: str

    @property
    def number(self) -> int:
        """The result as an integer; 0 when it is not one (GET DATA digits are text)."""
        try:
            return int(self.result)
        except ValueError:
            return 0

    @property
    def key(self) -> str:
        """The key of a STREAM FILE / WAIT FOR DIGIT / GET OPTION reply ('' for none)."""
        code = self.number
        return chr(code) if code > 0 and chr(code) in ALL_KEYS else ""

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"


# res_agi.c formats: "200 result=%d", "200 result=%s (timeout)", "200 result=%d endpos=%ld",
# "200 result=1 (%s)" (GET VARIABLE). GET DATA's digits may be empty ("200 result=").
_REPLY = re.compile(
    r"200 result=(?P<result>\S*)(?: \((?P<data>[^)]*)\))?(?: endpos=(?P<endpos>-?\d+))?\s*$"
)


def parse_reply(line: str) -> Reply:
    """Split a `200 ...` line; AgiProtocolError for anything else."""
    # The two shapes nearly every reply has, without the regular expression:
    # "200 result=<digits>" and "200 result=<digits or -1> endpos=<digits>".
    if line.startswith("200 result="):
        rest = line[11:]
        if rest.isdigit() or rest == "-1" or not rest:
            return Reply(rest, "", None, line)
        result, _, endpos = rest.partition(" endpos=")
        if endpos.isascii() and endpos.isdigit() and (result.isdigit() or result == "-1"):
            return Reply(result, "", int(endpos), line)
    match = _REPLY.fullmatch(line)
    if match is None:
        raise AgiProtocolError(f"unexpected reply line {line!r}")
    endpos = match["endpos"]
    return Reply(match["result"], match["data"] or "", int(endpos) if endpos else None, line)


def parse_environment(block: bytes) -> dict[str, str]:
    """The `agi_name: value` lines of the header; odd lines are skipped, not fatal."""
    env: dict[str, str] = {}
    for raw in block.decode("utf-8", "replace").splitlines():
        name, sep, value = raw.partition(": ")
        if sep and name.startswith("agi_"):
            env[name] = value
    return env


@dataclass(frozen=True, slots=True)
class Request:
    """What the dialplan asked for: `agi://host:port/ivr?agency=hn&lang=vi`."""

    script: str  # "ivr"
    params: dict[str, str]
    args: tuple[str, ...]  # AGI(agi://...,arg1,arg2) -> agi_arg_1, agi_arg_2


# The one parameter whose value is a list (ivr/session.py route_agencies).
LIST_PARAMETER = "agency"


def parse_request(env: dict[str, str]) -> Request:
    """The script path, its query parameters and the AGI() arguments after the URL.

    AGI() splits its arguments at commas (app_agi AST_STANDARD_APP_ARGS), so
    `AGI(agi://h/ivr?agency=A,B&lang=vi)` arrives as agi_network_script `ivr?agency=A`
    and agi_arg_1 `B&lang=vi`. Rule: when the query string ends inside an `agency=`
    value and arguments follow, they are the rest of that URL, cut at its commas, and
    are joined back on (`agency=A,B&lang=vi`, no arguments left). tracuu's scripts take
    no positional arguments, so nothing meant as one is lost; asterisk/README.md
    recommends `+` between agency ids, which AGI() leaves alone.
    """
    # agi_network_script carries the query string (asterisk-wire.md); agi_request the whole URL.
    script = env.get("agi_network_script") or urlsplit(env.get("agi_request", "")).path
    args: list[str] = []
    index = 1
    while f"agi_arg_{index}" in env:
        args.append(env[f"agi_arg_{index}"])
        index += 1
    _, has_query, query = script.partition("?")
    if args and has_query and query.rpartition("&")[2].startswith(LIST_PARAMETER + "="):
        script = ",".join([script, *args])
        args = []
    parts = urlsplit("/" + script.lstrip("/"))
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    return Request(parts.path.strip("/"), params, tuple(args))


def quote(text: str) -> str:
    """An AGI argument: res_agi.c splits on blanks and honours double quotes and backslashes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiConnection(asyncio.Protocol):
    """The bytes of one FastAGI connection: a buffer, and a wake-up for its one reader.

    data_received only appends and wakes the reader when a line (or the header's
    blank line) may be complete; all parsing happens in AgiChannel on demand.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit  # the longest header block or line accepted
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = False  # EOF or connection lost: no more bytes will come
        self._waiter: asyncio.Future[None] | None = None
        self.writable = True  # False while the transport's buffer is full (pause_writing)
        self._loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self._waiter
        if waiter is not None and (b"\n" in data or len(self.buffer) > self.limit):
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def eof_received(self) -> bool:
        self._end()
        return False  # close our side too: Asterisk has finished with the call

    def connection_lost(self, exc: Exception | None) -> None:
        release_transport(self.transport)  # no cycle left for the collector (kernel/heap.py)
        self._end()
        self.writable = True

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        self._wake()

    def _end(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def wait(self) -> asyncio.Future[None]:
        """A future resolved at the next line end, overflow, EOF or resumed writing."""
        # One reader per connection; a waiter left behind is one its task was cancelled on.
        assert self._waiter is None or self._waiter.done(), "one reader per connection"
        loop = self._loop or asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        return waiter

    def fail(self, exc: BaseException) -> bool:
        """Fail the waiting reader (its deadline passed); False when none waits."""
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return False
        waiter.set_exception(exc)
        return True


class AgiChannel:
    """One FastAGI connection: send a command, get its reply, nothing else.

    Time: each exchange has a deadline (`timeout_s`); one timer per channel serves
    them all. It is moved only when a deadline comes earlier than where it stands,
    and when it fires before the current deadline (later commands pushed it on) it
    re-arms itself there. Reaching the deadline fails the read with TimeoutError.
    """

    def __init__(
        self, connection: AgiConnection, *, timeout_s: float = 30.0, loop: asyncio.AbstractEventLoop
    ) -> None:
        assert connection.transport is not None
        self._conn = connection
        self._transport = connection.transport
        self._timeout_s = timeout_s
        self._loop = loop
        self._deadline = 0.0  # loop.time() by which the current exchange must end
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.hung_up = False

    async def read_environment(self, timeout_s: float) -> dict[str, str]:
        """Read the agi_* block up to its blank line.

        CallerHungUp when Asterisk closes first (panoramisk spins forever here),
        AgiProtocolError when the block outgrows the limit, TimeoutError when it does
        not end in time.
        """
        conn = self._conn
        self._arm(timeout_s)
        try:
            while True:
                end = conn.buffer.find(b"\n\n")
                if 0 <= end <= conn.limit:
                    break
                if end > conn.limit or len(conn.buffer) > conn.limit:
                    raise AgiProtocolError("AGI environment larger than the limit")
                if conn.closed:
                    raise CallerHungUp("closed before the end of the AGI environment")
                await self._wait()
        finally:
            self._deadline = 0.0
        block = bytes(conn.buffer[: end + 2])
        del conn.buffer[: end + 2]
        return parse_environment(block)

    async def run(self, command: str, *, timeout_s: float | None = None) -> Reply:
        """Send one command and return its 200 reply.

        `timeout_s` bounds the whole exchange; input and playback commands pass
        their own (prompt length plus the keying time).
        """
        if self.hung_up:
            raise CallerHungUp("caller already gone")
        if "\n" in command or "\r" in command:
            raise ValueError("an AGI command is one line")
        conn = self._conn
        if conn.closed:
            self.hung_up = True
            raise CallerHungUp("connection lost")
        self._transport.write(command.encode() + b"\n")
        self._arm(timeout_s or self._timeout_s)
        try:
            while not conn.writable and not conn.closed:
                await self._wait()  # the peer is not reading: wait for room, as drain() did
            # The common case inline (about 30 commands a call): one "200 " line. Anything
            # else (HANGUP notices, 100 Trying, 5xx) takes the full path.
            line = self._take_line()
            while line is None:
                await self._wait()
                line = self._take_line()
            if line.startswith("200 "):
                return parse_reply(line)
            return await self._read_reply(command, line)
        finally:
            self._deadline = 0.0

    async def hangup_follows(self, grace_s: float) -> bool:
        """After a `result=-1`: is the caller gone? True once a HANGUP notice is read.

        res_agi.c (run_agi) answers the interrupted command first (`200 result=-1
        endpos=...` for STREAM FILE, `200 result=-1` for GET DATA) and sends the bare
        HANGUP at the top of its loop, once ast_read() finds the channel gone: just
        after the reply, before it reads another command. A missing file gives the same
        reply and no HANGUP. So wait up to `grace_s` for the notice; EOF counts too.
        """
        if self.hung_up:
            return True
        self._arm(grace_s)
        try:
            while True:
                line = await self._read_line()
                if line == "HANGUP":
                    self.hung_up = True
                    return True
                if line != "":
                    raise AgiProtocolError(f"unexpected line between commands {line!r}")
        except CallerHungUp:
            return True
        except TimeoutError:
            return False
        finally:
            self._deadline = 0.0

    # ---- raw lines, for tests of the peers (a call uses run())

    def write_line(self, line: str) -> None:
        self._transport.write(line.encode() + b"\n")

    async def read_line(self, timeout_s: float) -> str:
        """The next line as it came, HANGUP notices included."""
        self._arm(timeout_s)
        try:
            return await self._read_line()
        finally:
            self._deadline = 0.0

    # ---- the deadline

    def _arm(self, timeout_s: float) -> None:
        self._deadline = deadline = self._loop.time() + timeout_s
        if self._timer is None or deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._expired)

    def _wait(self) -> asyncio.Future[None]:
        """The future to await for the connection to move, until the current exchange's
        deadline. A plain function, not a coroutine: one coroutine layer (and object)
        fewer in every call's stack while it waits for a reply."""
        if self._timer is None:
            # It fired while this task was busy: past the deadline, or re-arm it. (A live
            # timer stands at or before the deadline, and fails this wait when it fires.)
            if self._loop.time() >= self._deadline:
                raise TimeoutError
            self._timer_at = self._deadline
            self._timer = self._loop.call_at(self._deadline, self._expired)
        return self._conn.wait()

    def _expired(self) -> None:
        self._timer = None
        if not self._deadline:
            return  # no exchange running: the next one arms the timer again
        if self._loop.time() >= self._deadline:
            self._conn.fail(TimeoutError())
        else:
            self._timer_at = self._deadline
            self._timer = self._loop.call_at(self._deadline, self._expired)

    # ---- reading

    async def _read_reply(self, command: str, first: str) -> Reply:
        line = first
        while True:
            if line.startswith("200 "):
                reply = parse_reply(line)
                if self.hung_up and reply.result == "-1":
                    raise CallerHungUp(line)
                return reply
            if line == "HANGUP":
                # res_agi.c sends a bare HANGUP at the top of its loop once the channel is
                # gone (after the reply of a command the hang-up interrupted, or while no
                # command ran), and again when the AGI ends: a notice, never the reply.
                self.hung_up = True
            elif line.startswith("100 "):  # "100 result=0 Trying..." before some replies
                pass
            elif line.startswith("511"):
                # "511 Command Not Permitted on a dead channel or intercept routine"
                self.hung_up = True
                raise CallerHungUp(line)
            elif line.startswith("520-"):
                # res_agi.c: "520-Invalid command syntax.  Proper usage follows:", the usage
                # text, then "520 End of proper usage.". Read it all, or every later reply
                # would be one line late (panoramisk defect 3).
                usage = [line]
                while not usage[-1].startswith("520 "):
                    usage.append(await self._read_line())
                raise AgiCommandRejected(f"{command!r}: " + " | ".join(usage))
            elif line.startswith(("510", "520")):
                raise AgiCommandRejected(f"{command!r}: {line}")
            elif line == "":
                pass  # stray blank line: harmless, never a reply
            else:
                raise AgiProtocolError(f"{command!r}: unexpected line {line!r}")
            line = await self._read_line()

    async def _read_line(self) -> str:
        line = self._take_line()
        while line is None:
            await self._wait()
            line = self._take_line()
        return line

    def _take_line(self) -> str | None:
        """The next whole line from the buffer, or None until one is in."""
        conn = self._conn
        buffer = conn.buffer
        end = buffer.find(b"\n")
        if end < 0 or end > conn.limit:
            if end > conn.limit or len(buffer) > conn.limit:
                raise AgiProtocolError("reply line longer than the limit")
            if conn.closed:  # EOF, possibly mid-line
                self.hung_up = True
                raise CallerHungUp("Asterisk closed the connection")
            return None
        raw = buffer[:end]
        del buffer[: end + 1]
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def close(self) -> None:
        """Close our side; Asterisk then carries on in the dialplan.

        Returns once the connection is gone (connection_lost, at the next loop turn
        unless unsent bytes wait for a peer that does not read: then 1 s at most, and
        the connection is aborted). Waits on the channel's own deadline timer, not an
        asyncio.timeout and a future of its own: nothing more made per call.
        """
        conn = self._conn
        self._transport.close()
        if not conn.closed:  # after close() only connection_lost sets it
            self._arm(1.0)
            try:
                while not conn.closed:
                    await self._wait()
            except TimeoutError:
                self._transport.abort()
            finally:
                self._deadline = 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
