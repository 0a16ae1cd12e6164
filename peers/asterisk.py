"""Asterisk's side of a FastAGI call, simulated: what `tracuu call` and the tests dial with.

Owns the behaviour of res_agi.c as seen on the wire (shared/domain/asterisk-wire.md,
observed on Asterisk 22): the agi_* environment block, `200 result=...` replies,
key codes as ASCII numbers, GET DATA's "(timeout)" and dropped '#', STREAM FILE
of a missing file answering `result=-1 endpos=0`, 510 for unknown commands, the
multi-line 520 usage block, and a hang-up in run_agi's order: the command the
hang-up interrupted answers first (`200 result=-1 endpos=<where playback stopped>`
for STREAM FILE, `200 result=-1` for GET DATA and WAIT FOR DIGIT), then the bare
HANGUP notice (sent at the top of run_agi's loop, before the next command is
read), then 511 for every command not allowed on a dead channel (SET VARIABLE,
GET VARIABLE, EXEC, VERBOSE, NOOP still run). res_agi.c waits for the AGI to close
the socket; the simulator also stops after a few 511s, as a bound.

Time is virtual: a prompt "plays" instantly and a caller's silence is a timeout
reported at once, so a simulated call costs microseconds, not minutes.

The caller's keys are a script of groups separated by spaces, one group per
moment the flow waits for input:
    "1"              press 1 when asked
    "2411290001#"    key a code, then '#'
    "_"              stay silent (the question times out)
    ">1"             press 1 while the prompt is still playing (barge-in)
    "H"              hang up instead of answering
Refuses: deciding anything about the call (that is the server's job).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

# res_agi.c strings (Asterisk 22).
DEAD_CHANNEL = b"511 Command Not Permitted on a dead channel or intercept routine\n"
UNKNOWN_COMMAND = b"510 Invalid or unknown command\n"
USAGE_HEAD = b"520-Invalid command syntax.  Proper usage follows:\n"
USAGE_TAIL = b"520 End of proper usage.\n"
USAGE = {
    "STREAM FILE": b" Usage: STREAM FILE <filename> <escape digits> [sample offset]\n"
    b" Send the given file, allowing playback to be interrupted by the given digits, if any.\n",
    "GET DATA": b" Usage: GET DATA <file to be streamed> [timeout] [max digits]\n"
    b" Stream the given file, and receive DTMF data.\n",
    "WAIT FOR DIGIT": b" Usage: WAIT FOR DIGIT <timeout>\n"
    b" Waits up to 'timeout' milliseconds for channel to receive a DTMF digit.\n",
    "SET VARIABLE": b" Usage: SET VARIABLE <variablename> <value>\n Sets a variable.\n",
    "GET VARIABLE": b" Usage: GET VARIABLE <variablename>\n Gets a channel variable.\n",
    "GET OPTION": b" Usage: GET OPTION <filename> <escape_digits> [timeout]\n"
    b" Behaves similar to STREAM FILE but used with a timeout option.\n",
    "EXEC": b" Usage: EXEC <application> <options>\n Executes a given Application.\n",
}
# res_agi.c's command table: the commands with dead=1, which still run after a hang-up.
DEAD_COMMANDS = frozenset(
    {"EXEC", "GET VARIABLE", "GET FULL VARIABLE", "NOOP", "SET VARIABLE", "VERBOSE", "DATABASE"}
)


def _verb(command: str) -> str:
    words = command.upper().split()
    for size in (3, 2, 1):
        if " ".join(words[:size]) in DEAD_COMMANDS:
            return " ".join(words[:size])
    return " ".join(words[:2])


# Samples a simulated prompt lasts (8 kHz: 2 s); endpos of a whole playback.
PROMPT_SAMPLES = 16000


@dataclass(frozen=True, slots=True)
class Heard:
    """One prompt as the caller met it."""

    prompt: str  # the file the server asked for, e.g. "tracuu/welcome"
    interrupted_by: str = ""  # the key that cut it short (barge-in)
    missing: bool = False  # Asterisk had no such file: the caller heard nothing


@dataclass
class CallRecord:
    """What happened on one simulated call, for the CLI, the tests and the bench."""

    heard: list[Heard] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    # (perf_counter, "cmd" | "reply", text): for latency figures in bench/ivr_bench.py.
    timeline: list[tuple[float, str, str]] = field(default_factory=list)
    ended: str = ""  # "returned" (server closed), "agi_hangup", "caller_hangup", "timeout"
    keys_left: int = 0  # key groups the flow never asked for


def agi_environment(
    *,
    script: str = "ivr",
    params: dict[str, str] | None = None,
    caller: str = "",
    uniqueid: str = "1732860000.1",
    host: str = "127.0.0.1",
    port: int = 4573,
    args: Iterable[str] = (),
    query: str | None = None,
) -> bytes:
    """The agi_* block Asterisk 22 sends for AGI(agi://host:port/script?params,args...).

    `query` is the query string verbatim, as the dialplan wrote it up to AGI()'s first
    comma (`params` is URL-encoded instead); `args` are agi_arg_1… (after the commas).
    """
    if query is None:
        query = urlencode(params) if params else ""
    network_script = f"{script}?{query}" if query else script
    lines = [
        ("agi_network", "yes"),
        ("agi_network_script", network_script),
        ("agi_request", f"agi://{host}:{port}/{network_script}"),
        ("agi_channel", "PJSIP/trunk-00000001"),
        ("agi_language", "vi"),
        ("agi_type", "PJSIP"),
        ("agi_uniqueid", uniqueid),
        ("agi_version", "22.10.1"),
        ("agi_callerid", caller or "unknown"),
        ("agi_calleridname", "unknown"),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", "unknown"),
        ("agi_rdnis", "unknown"),
        ("agi_context", "tracuu-inbound"),
        ("agi_extension", "s"),
        ("agi_priority", "3"),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", "140000000000000"),
    ]
    lines += [(f"agi_arg_{i}", a) for i, a in enumerate(args, 1)]
    return "".join(f"{k}: {v}\n" for k, v in lines).encode() + b"\n"


class KeyScript:
    """The caller's key groups, consumed the way res_agi.c consumes DTMF."""

    def __init__(self, keys: str | Iterable[str]) -> None:
        groups = keys.split() if isinstance(keys, str) else list(keys)
        self._groups: deque[str] = deque(groups)
        self._burst: str | None = None  # keys of the group being typed right now
        self.hangup = False

    def __len__(self) -> int:
        return len(self._groups)

    def _start(self, barge: bool) -> None:
        if self._burst is not None or not self._groups:
            return
        head = self._groups[0]
        if barge and not head.startswith(">"):
            return
        self._groups.popleft()
        if head == "H":
            self.hangup = True
            self._burst = ""
        elif head == "_":
            self._burst = ""
        else:
            self._burst = head.lstrip(">")

    def next_command(self) -> None:
        """A new command: a group typed to its end in the last one is over."""
        if self._burst == "":
            self._burst = None

    def during_prompt(self, escapes: str) -> str:
        """The key that interrupts a playing prompt, or ''. Keys not in `escapes` are lost."""
        if not escapes:
            self._burst = None  # res_agi.c reads and drops DTMF no command asked for
            return ""
        self._start(barge=True)
        if self.hangup:
            return ""
        if self._burst:
            key, self._burst = self._burst[0], self._burst[1:]
            if key in escapes:
                return key
        self._burst = None
        return ""

    def wait(self) -> tuple[str, bool]:
        """One key for an input command, or ('', True) when the caller stays silent."""
        self._start(barge=False)
        if self.hangup or not self._burst:
            self._burst = None
            return "", True
        key, self._burst = self._burst[0], self._burst[1:]
        return key, False


class SimulatedAsterisk:
    """Dials a FastAGI server and plays Asterisk's part of one call."""

    def __init__(
        self,
        keys: str | Iterable[str] = "",
        *,
        caller: str = "",
        script: str = "ivr",
        params: dict[str, str] | None = None,
        query: str | None = None,
        args: Iterable[str] = (),
        exists: Callable[[str], bool] | None = None,
        uniqueid: str = "1732860000.1",
        pace_s: float = 0.0,
        hangup_after_commands: int | None = None,
        max_commands: int = 500,
        hangup_notice_delay_s: float = 0.0,
    ) -> None:
        self.keys = KeyScript(keys)
        self.caller = caller
        self.script = script
        self.params = params
        self.query = query  # verbatim, instead of params (see agi_environment)
        self.args = tuple(args)
        self.exists = exists or (lambda _name: True)
        self.uniqueid = uniqueid
        self.pace_s = pace_s  # real seconds each prompt takes, for paced benchmarks
        self.hangup_after_commands = hangup_after_commands
        self.max_commands = max_commands  # a runaway flow cannot loop forever
        # Between the interrupted command's reply and the HANGUP notice (a busy Asterisk).
        self.hangup_notice_delay_s = hangup_notice_delay_s
        self.record = CallRecord()
        self._dead = False
        self._notice_due = False

    async def call(self, host: str, port: int, *, timeout_s: float = 30.0) -> CallRecord:
        """Run the whole call; returns when either side has closed it."""
        reader, writer = await asyncio.open_connection(host, port)
        try:
            async with asyncio.timeout(timeout_s):
                env = agi_environment(
                    script=self.script,
                    params=self.params,
                    query=self.query,
                    args=self.args,
                    caller=self.caller,
                    uniqueid=self.uniqueid,
                    port=port,
                )
                writer.write(env)
                await writer.drain()
                await self._serve(reader, writer)
        except TimeoutError:
            self.record.ended = "timeout"
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self.record.keys_left = len(self.keys)
        return self.record

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dead_replies = 0
        while len(self.record.commands) < self.max_commands:
            raw = await reader.readline()
            if not raw.endswith(b"\n"):
                self.record.ended = self.record.ended or "returned"
                return
            command = raw.decode().strip()
            self.record.commands.append(command)
            self._mark("cmd", command)
            if (
                self.hangup_after_commands is not None
                and len(self.record.commands) > self.hangup_after_commands
                and not self._dead
            ):
                self.keys.hangup = True
            if self._dead and _verb(command) not in DEAD_COMMANDS:
                # res_agi.c agi_handle_command on a dead channel; it keeps answering until
                # the AGI closes, the simulator gives up after a few as a bound.
                writer.write(DEAD_CHANNEL)
                await writer.drain()
                dead_replies += 1
                if dead_replies >= 3:
                    return
                continue
            reply = await self._execute(command)
            self._mark("reply", reply.decode().strip())
            writer.write(reply)
            await writer.drain()
            if self._notice_due:
                # run_agi: ast_read() finds the channel gone, then "HANGUP" at the loop top.
                self._notice_due = False
                if self.hangup_notice_delay_s:
                    await asyncio.sleep(self.hangup_notice_delay_s)
                writer.write(b"HANGUP\n")
                await writer.drain()
            if self.record.ended == "agi_hangup":
                return
        self.record.ended = "too_many_commands"

    def _mark(self, kind: str, text: str) -> None:
        self.record.timeline.append((time.perf_counter(), kind, text))

    async def _execute(self, command: str) -> bytes:
        try:
            argv = shlex.split(command)
        except ValueError:
            return UNKNOWN_COMMAND
        words = [a.upper() for a in argv[:3]]
        name = next(
            (
                n
                for n in (*USAGE, "ANSWER", "HANGUP", "VERBOSE")
                if words[: len(n.split())] == n.split()
            ),
            None,
        )
        if name is None:
            return UNKNOWN_COMMAND
        args = argv[len(name.split()) :]
        self.keys.next_command()
        if self.keys.hangup and not self._dead:
            return await self._hang_up(name)
        handler = {
            "ANSWER": self._answer,
            "HANGUP": self._agi_hangup,
            "VERBOSE": self._verbose,
            "STREAM FILE": self._stream_file,
            "GET OPTION": self._get_option,
            "GET DATA": self._get_data,
            "WAIT FOR DIGIT": self._wait_for_digit,
            "SET VARIABLE": self._set_variable,
            "GET VARIABLE": self._get_variable,
            "EXEC": self._exec,
        }[name]
        try:
            reply = await handler(args)
        except _BadSyntax:
            return USAGE_HEAD + USAGE[name] + USAGE_TAIL
        if self.keys.hangup and not self._dead:
            return await self._hang_up(name)
        return reply

    async def _hang_up(self, name: str) -> bytes:
        """The caller is gone during this command: it answers -1; the notice comes after."""
        self._dead = True
        self._notice_due = True
        self.record.ended = "caller_hangup"
        if name in ("STREAM FILE", "GET OPTION"):
            # handle_streamfile: "200 result=%d endpos=%ld" with where playback stopped.
            return f"200 result=-1 endpos={PROMPT_SAMPLES // 4}\n".encode()
        if name in ("GET DATA", "WAIT FOR DIGIT"):
            return b"200 result=-1\n"
        return b"200 result=0\n"  # ANSWER and the like: done before the hang-up

    async def _answer(self, args: list[str]) -> bytes:
        return b"200 result=0\n"

    async def _agi_hangup(self, args: list[str]) -> bytes:
        # After the AGI's own HANGUP: "200 result=1", then the notice, then EOF.
        self.record.ended = "agi_hangup"
        self._dead = True
        return b"200 result=1\nHANGUP\n"

    async def _verbose(self, args: list[str]) -> bytes:
        return b"200 result=1\n"

    async def _play(self, name: str, escapes: str) -> tuple[str, bool]:
        if not self.exists(name):
            self.record.heard.append(Heard(name, missing=True))
            return "", False
        if self.pace_s:
            await asyncio.sleep(self.pace_s)
        key = self.keys.during_prompt(escapes)
        self.record.heard.append(Heard(name, interrupted_by=key))
        return key, True

    async def _stream_file(self, args: list[str]) -> bytes:
        if len(args) < 2 or len(args) > 3:
            raise _BadSyntax
        key, played = await self._play(args[0], args[1])
        if not played:
            return b"200 result=-1 endpos=0\n"
        endpos = PROMPT_SAMPLES // 2 if key else PROMPT_SAMPLES
        return f"200 result={ord(key) if key else 0} endpos={endpos}\n".encode()

    async def _get_option(self, args: list[str]) -> bytes:
        if len(args) < 2 or len(args) > 3:
            raise _BadSyntax
        key, played = await self._play(args[0], args[1])
        if not played:
            return b"200 result=-1 endpos=0\n"
        if not key:
            key, _silent = self.keys.wait()
            key = key if key in args[1] else ""
        return f"200 result={ord(key) if key else 0} endpos={PROMPT_SAMPLES}\n".encode()

    async def _get_data(self, args: list[str]) -> bytes:
        if not 1 <= len(args) <= 3:
            raise _BadSyntax
        try:
            max_digits = int(args[2]) if len(args) > 2 else 1024
        except ValueError:
            raise _BadSyntax from None
        # The prompt plays with every key as an escape; that key is the first digit.
        # app.c ast_app_getdata_full: an empty file name plays nothing, reads keys at once.
        first, played = await self._play(args[0], "0123456789*#") if args[0] else ("", True)
        if not played:
            return b"200 result=-1\n"
        digits = ""
        key = first
        while True:
            if not key:
                key, silent = self.keys.wait()
                if silent:
                    return f"200 result={digits} (timeout)\n".encode()
            if key == "#":  # app.c ast_readstring: the terminator is not returned
                return f"200 result={digits}\n".encode()
            digits += key
            key = ""
            if len(digits) >= max_digits:
                return f"200 result={digits}\n".encode()

    async def _wait_for_digit(self, args: list[str]) -> bytes:
        if len(args) != 1:
            raise _BadSyntax
        key, _silent = self.keys.wait()
        return f"200 result={ord(key) if key else 0}\n".encode()

    async def _set_variable(self, args: list[str]) -> bytes:
        if len(args) != 2:
            raise _BadSyntax
        self.record.variables[args[0]] = args[1]
        return b"200 result=1\n"

    async def _get_variable(self, args: list[str]) -> bytes:
        if len(args) != 1:
            raise _BadSyntax
        if args[0] in self.record.variables:
            return f"200 result=1 ({self.record.variables[args[0]]})\n".encode()
        return b"200 result=0\n"

    async def _exec(self, args: list[str]) -> bytes:
        if not args:
            raise _BadSyntax
        return b"200 result=0\n"


class _BadSyntax(Exception):
    """Arguments res_agi.c would answer with its usage block."""
