"""asterisk/extensions.conf, run: the few dialplan applications tracuu's contexts use.

Reads the real file and walks a call through it as Asterisk's pbx does: priorities
`1`, `n` and `n(label)`, `${VAR}` substitution (globals, then channel variables),
`$[...]` expressions with = != & | on quoted strings, Goto, GotoIf, GotoIfTime
(the office open or not, as the test says), Set, Playback, Queue, Hangup. AGI()
dials the FastAGI address in it with the simulated Asterisk (peers/asterisk.py);
a refused or unroutable connection sets AGISTATUS=FAILURE as res_agi.c does,
a caller hang-up HANGUP, anything else SUCCESS. Variables the AGI sets with
SET VARIABLE come back to the dialplan (TRACUU_NEXT).

Refuses: any other application or expression syntax (an error, so that a change
to the dialplan that this walker does not understand cannot pass unnoticed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from peers.asterisk import CallRecord, SimulatedAsterisk

DIALPLAN = Path(__file__).parent.parent.parent / "asterisk" / "extensions.conf"

Step = tuple[str | None, str, str]  # (label, application, arguments)


def parse(text: str) -> tuple[dict[str, str], dict[str, dict[str, list[Step]]]]:
    """([globals], {context: {extension: [steps in priority order]}})."""
    globals_: dict[str, str] = {}
    contexts: dict[str, dict[str, list[Step]]] = {}
    context = ""
    last: list[Step] | None = None
    for raw in text.splitlines():
        line = re.sub(r"(?<!\\);.*", "", raw).strip().replace("\\;", ";")
        if not line:
            continue
        if match := re.fullmatch(r"\[([\w-]+)\]", line):
            context = match[1]
            contexts.setdefault(context, {})
            continue
        if context == "globals":
            name, _, value = line.partition("=")
            globals_[name.strip()] = value.strip()
            continue
        if match := re.fullmatch(r"exten\s*=>\s*([^,]+),(\d+),(\w+)\((.*)\)", line):
            if match[2] != "1":
                raise ValueError(f"only priority 1 opens an extension: {line}")
            last = contexts[context].setdefault(match[1], [])
            last.append((None, match[3], match[4]))
            continue
        if match := re.fullmatch(r"same\s*=>\s*n(?:\((\w+)\))?,(\w+)\((.*)\)", line):
            if last is None:
                raise ValueError(f"same => before any exten: {line}")
            last.append((match[1], match[2], match[3]))
            continue
        raise ValueError(f"dialplan line not understood: {line}")
    return globals_, contexts


_TOKEN = re.compile(r'\s*(?:"([^"]*)"|(!=|=|&|\|))')


def expression(text: str) -> bool:
    """$[...] with quoted operands, = and !=, & above |, as ast_expr2 orders them."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"expression not understood: {text!r}")
        tokens.append(("str", match[1]) if match[1] is not None else ("op", match[2]))
        position = match.end()

    def comparison(part: list[tuple[str, str]]) -> bool:
        if len(part) == 1 and part[0][0] == "str":
            return part[0][1] not in ("", "0")
        if len(part) == 3 and part[1][0] == "op" and part[1][1] in ("=", "!="):
            same = part[0][1] == part[2][1]
            return same if part[1][1] == "=" else not same
        raise ValueError(f"expression not understood: {text!r}")

    def split(part: list[tuple[str, str]], op: str) -> list[list[tuple[str, str]]]:
        out: list[list[tuple[str, str]]] = [[]]
        for token in part:
            if token == ("op", op):
                out.append([])
            else:
                out[-1].append(token)
        return out

    return any(
        all(comparison(c) for c in split(alternative, "&")) for alternative in split(tokens, "|")
    )


@dataclass
class Walk:
    """What one call met on its way through the dialplan."""

    played: list[str] = field(default_factory=list)  # Playback() files, in order
    agi: list[tuple[str, str]] = field(default_factory=list)  # (address, AGISTATUS)
    calls: list[CallRecord] = field(default_factory=list)  # each AGI that connected
    ended: str = ""  # "hangup" or "queue"
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def heard(self) -> list[str]:
        """Every prompt, from the gateways and from the dialplan itself, in order."""
        out = [h.prompt for call in self.calls for h in call.heard]
        return [p.removeprefix("tracuu/") for p in out + self.played]


class Dialplan:
    def __init__(self, text: str | None = None, **globals_: str) -> None:
        parsed, self.contexts = parse(DIALPLAN.read_text("utf-8") if text is None else text)
        self.globals = {**parsed, **globals_}

    async def call(
        self,
        keys: str = "",
        *,
        context: str = "tracuu-inbound",
        exten: str = "s",
        office_open: bool = True,
        timeout_s: float = 30.0,
        **variables: str,
    ) -> Walk:
        walk = Walk(variables=dict(variables))
        where, index = (context, exten), 0
        for _ in range(200):  # a loop in the dialplan is a bug: bounded
            steps = self.contexts[where[0]][where[1]]
            if index >= len(steps):
                walk.ended = "hangup"  # Asterisk hangs up at the end of an extension
                return walk
            _, app, raw = steps[index]
            args = self._substitute(raw, walk.variables)
            index += 1
            if app in ("NoOp", "Answer"):
                continue
            if app == "Set":
                name, _, value = args.partition("=")
                walk.variables[name] = value
            elif app == "Playback":
                walk.played.append(args)
            elif app == "Hangup":
                walk.ended = "hangup"
                return walk
            elif app == "Queue":
                walk.ended = "queue"
                return walk
            elif app in ("Goto", "GotoIf", "GotoIfTime"):
                target = self._branch(app, args, office_open)
                if target is not None:
                    where, index = self._jump(where, target)
            elif app == "AGI":
                await self._agi(args, keys, walk, timeout_s)
            else:
                raise ValueError(f"application {app} not simulated")
        raise RuntimeError("the dialplan did not end within 200 steps")

    def _substitute(self, text: str, variables: dict[str, str]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match[1]
            return variables.get(name, self.globals.get(name, ""))

        text = re.sub(r"\$\{(\w+)\}", one, text)
        return re.sub(r"\$\[(.*?)\]", lambda m: "1" if expression(m[1]) else "0", text)

    @staticmethod
    def _branch(app: str, args: str, office_open: bool) -> str | None:
        if app == "Goto":
            return args
        condition, _, targets = args.partition("?")
        if_true, _, if_false = targets.partition(":")
        holds = office_open if app == "GotoIfTime" else condition.strip() not in ("", "0")
        return (if_true if holds else if_false) or None

    def _jump(self, where: tuple[str, str], target: str) -> tuple[tuple[str, str], int]:
        parts = target.split(",")
        if len(parts) == 1:  # a label in this extension
            steps = self.contexts[where[0]][where[1]]
            return where, next(i for i, s in enumerate(steps) if s[0] == parts[0])
        if len(parts) == 2:
            return (where[0], parts[0]), int(parts[1]) - 1
        return (parts[0], parts[1]), int(parts[2]) - 1

    async def _agi(self, url: str, keys: str, walk: Walk, timeout_s: float) -> None:
        address = urlsplit(url)
        peer = SimulatedAsterisk(keys, script=address.path.lstrip("/"), query=address.query)
        if address.scheme != "agi" or not address.hostname:
            walk.agi.append((url, "FAILURE"))  # res_agi: no host to connect to
            walk.variables["AGISTATUS"] = "FAILURE"
            return
        try:
            record = await peer.call(address.hostname, address.port or 4573, timeout_s=timeout_s)
        except OSError:
            status = "FAILURE"  # connection refused or unreachable
        else:
            walk.calls.append(record)
            walk.variables.update(record.variables)
            status = "HANGUP" if record.ended == "caller_hangup" else "SUCCESS"
        walk.agi.append((f"{address.hostname}:{address.port}", status))
        walk.variables["AGISTATUS"] = status
