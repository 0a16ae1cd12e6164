"""What a citizen's SMS asks for: the command parser.

Accepted (case, diacritics, NFC/NFD, full-width forms, extra spaces and
punctuation after the keyword do not matter):

    HS <code> [<secret>]        also HOSO, HO SO, TRACUU, TRA CUU, TC, MHS;
    <code> [<secret>]           a bare code is a lookup too
    TT <procedure code>         also THUTUC, THU TUC: procedure guidance
    HD | HELP | ? | HUONG DAN   the syntax
    TU CHOI | HUY | STOP | TAT  no more reminders to this number (opt-out)
    DK | DANG KY | BAT | START  reminders again (opt-in; DK = "đăng ký", subscribe)

Codes are validated by lookup.codes, whose separators may be missing or
replaced (spaces for dashes, no dots). Pure: never raises on any text, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from lookup.codes import InvalidCode, Reason, find_code, lookup_key, parse_code

MAX_TEXT = 480  # longer input is cut: three concatenated parts is plenty for a command


@dataclass(frozen=True, slots=True)
class Lookup:
    code: str  # as typed (cleaned); lookup.codes accepts every spelling
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class Guidance:
    procedure: str


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class OptOut:
    pass


@dataclass(frozen=True, slots=True)
class OptIn:
    pass


@dataclass(frozen=True, slots=True)
class BadCode:
    """A lookup keyword followed by something that is not a dossier code."""

    reason: Reason
    text: str


@dataclass(frozen=True, slots=True)
class Unrecognised:
    text: str


Command = Lookup | Guidance | Help | OptOut | OptIn | BadCode | Unrecognised

_LOOKUP = r"TRA\s*CUU|HO\s*SO|HOSO|HS|TC|MHS|MA\s*HS|MA\s*HO\s*SO"
_KEYWORDS = re.compile(
    r"^\s*(?:(?P<lookup>" + _LOOKUP + r")"
    r"|(?P<guide>THU\s*TUC|TT)"
    r"|(?P<help>HD|HELP|HUONG\s*DAN|TRO\s*GIUP|\?)"
    r"|(?P<out>TU\s*CHOI|HUY|STOP|TAT|OFF)"
    r"|(?P<in>DANG\s*KY|DK|BAT|START|ON))"
    r"(?![A-Z])[\s:;,.=#\-_/>]*"
)
_MORE_LOOKUP = re.compile(r"^(?:" + _LOOKUP + r")(?![A-Z])[\s:;,.=#\-_/>]*")
_SECRET = re.compile(r"[0-9A-Za-z]{3,12}")
_END_PUNCT = " \t\r\n.,;:!?'\"()[]"


def _fold_char(ch: str) -> str:
    """One character to its unaccented upper-case base: keeps offsets aligned."""
    if ch in "đĐ":
        return "D"
    base = unicodedata.normalize("NFD", ch)[:1] or ch
    return base.upper()[:1] or base


def parse(text: str) -> Command:
    """Any SMS text to a command; never raises."""
    clean = unicodedata.normalize("NFKC", text[:MAX_TEXT]).strip()
    # Invisible and control characters some phones add.
    clean = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zs", "Zl", "Zp") else ch
        for ch in clean
        if unicodedata.category(ch) not in ("Cf", "Mn")
    ).strip()
    folded = "".join(_fold_char(ch) for ch in clean)
    if not folded.strip(_END_PUNCT):
        return Help()
    match = _KEYWORDS.match(folded)
    if match is None:
        return _bare(clean)
    rest, rest_folded = clean[match.end() :], folded[match.end() :]
    kind = match.lastgroup
    if kind == "lookup":
        more = _MORE_LOOKUP.match(rest_folded)  # "TRA CUU HO SO 000..."
        if more:
            rest = rest[more.end() :]
        return _lookup(rest.strip(_END_PUNCT))
    if kind == "guide":
        procedure = rest.strip(_END_PUNCT)
        return Guidance(procedure) if procedure else Help()
    if rest.strip(_END_PUNCT):
        # "HUY" alone is an opt-out; "Huy ho so 123" is not: be safe, show the syntax.
        return _bare(clean) if kind in ("out", "in") else Help()
    if kind == "out":
        return OptOut()
    if kind == "in":
        return OptIn()
    return Help()


# A strict parse failing for one of these reasons may still be a code whose separators
# were dropped or replaced ("00000018H262411290001"): lookup.codes.lookup_key decides.
_SEPARATOR_TROUBLE = (Reason.MISSING_PART, Reason.EXTRA_PART, Reason.BAD_CHARACTER)


def _code_and_secret(rest: str) -> tuple[str, str | None] | InvalidCode:
    """The code (and a trailing secret) in `rest`, or why there is none.

    Order: a well-formed code (with or without a secret), a well-formed code inside
    a sentence, then a code with missing separators. A code with a wrong date or
    sequence keeps that reason, so the citizen is told which part to check.
    """
    tokens = rest.split()
    head = " ".join(tokens[:-1]).strip(_END_PUNCT)
    secret = tokens[-1].strip(_END_PUNCT) if len(tokens) > 1 else ""
    with_secret = bool(head) and _SECRET.fullmatch(secret) is not None
    try:
        return parse_code(rest).text, None
    except InvalidCode as exc:
        first = exc
    if with_secret:
        try:
            return parse_code(head).text, secret
        except InvalidCode:
            pass
    embedded = find_code(rest)
    if embedded is not None:
        return embedded.text, None
    if first.reason not in _SEPARATOR_TROUBLE:
        return first
    for candidate, extra in ((rest, None), (head, secret if with_secret else None)):
        if candidate and (candidate == rest or with_secret):
            try:
                lookup_key(candidate)
                return candidate, extra
            except InvalidCode:
                continue
    return first


def _lookup(rest: str) -> Command:
    if not rest:
        return BadCode(Reason.EMPTY, "")
    found = _code_and_secret(rest)
    if isinstance(found, InvalidCode):
        return BadCode(found.reason, rest)
    code, secret = found
    return Lookup(code, secret)


def _bare(clean: str) -> Command:
    text = clean.strip(_END_PUNCT)
    found = _code_and_secret(text) if text else InvalidCode(Reason.EMPTY, "")
    if not isinstance(found, InvalidCode):
        return Lookup(*found)
    return Unrecognised(text)
