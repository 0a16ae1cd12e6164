"""The FastAGI wire: read Asterisk's environment block, send one command, read its reply.

Owns framing and the meaning of res_agi.c's reply lines; decides nothing about a
call. Replaces panoramisk's FastAGI handling, which freezes the loop on EOF in
the header, reads one line of a multi-line 520 and reports hang-ups as errors
(shared/domain/dependency-weak-spots.md). Every read is bounded in size (the
StreamReader limit) and in time (asyncio.timeout).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

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


@dataclass(frozen=True, slots=True)
class Reply:
    """One `200 result=...` line, split into its parts."""

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


async def read_environment(reader: asyncio.StreamReader, timeout_s: float) -> dict[str, str]:
    """Read the agi_* block up to its blank line.

    CallerHungUp when Asterisk closes first (panoramisk spins forever here),
    AgiProtocolError when the block outgrows the reader's limit, TimeoutError
    when it does not end in time.
    """
    async with asyncio.timeout(timeout_s):
        try:
            block = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            raise CallerHungUp("closed before the end of the AGI environment") from exc
        except asyncio.LimitOverrunError as exc:
            raise AgiProtocolError("AGI environment larger than the limit") from exc
    return parse_environment(block)


def quote(text: str) -> str:
    """An AGI argument: res_agi.c splits on blanks and honours double quotes and backslashes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiChannel:
    """One FastAGI connection: send a command, get its reply, nothing else."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout_s = timeout_s
        self.hung_up = False

    async def run(self, command: str, *, timeout_s: float | None = None) -> Reply:
        """Send one command and return its 200 reply.

        `timeout_s` bounds the whole exchange; input and playback commands pass
        their own (prompt length plus the keying time).
        """
        if self.hung_up:
            raise CallerHungUp("caller already gone")
        if "\n" in command or "\r" in command:
            raise ValueError("an AGI command is one line")
        try:
            self._writer.write(command.encode() + b"\n")
            async with asyncio.timeout(timeout_s or self._timeout_s):
                await self._writer.drain()
                return await self._read_reply(command)
        except (ConnectionError, BrokenPipeError) as exc:
            self.hung_up = True
            raise CallerHungUp(f"connection lost: {exc}") from exc

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
        try:
            async with asyncio.timeout(grace_s):
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

    async def _read_reply(self, command: str) -> Reply:
        while True:
            line = await self._read_line()
            if line == "HANGUP":
                # res_agi.c sends a bare HANGUP at the top of its loop once the channel is
                # gone (after the reply of a command the hang-up interrupted, or while no
                # command ran), and again when the AGI ends: a notice, never the reply.
                self.hung_up = True
            elif line.startswith("200 "):
                reply = parse_reply(line)
                if self.hung_up and reply.result == "-1":
                    raise CallerHungUp(line)
                return reply
            elif line.startswith("100 "):  # "100 result=0 Trying..." before some replies
                continue
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
                continue  # stray blank line: harmless, never a reply
            else:
                raise AgiProtocolError(f"{command!r}: unexpected line {line!r}")

    async def _read_line(self) -> str:
        try:
            raw = await self._reader.readline()
        except ValueError as exc:  # LimitOverrunError re-raised by readline()
            raise AgiProtocolError("reply line longer than the limit") from exc
        except ConnectionError as exc:
            self.hung_up = True
            raise CallerHungUp(f"connection lost: {exc}") from exc
        if not raw.endswith(b"\n"):  # EOF, possibly mid-line
            self.hung_up = True
            raise CallerHungUp("Asterisk closed the connection")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def close(self) -> None:
        """Close our side; Asterisk then carries on in the dialplan."""
        self._writer.close()
        try:
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
        except (OSError, TimeoutError):
            pass
