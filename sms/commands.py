"""What a citizen's SMS asks for: the command parser.

Accepted (case, diacritics, NFC/NFD, full-width forms, extra spaces and
punctuation after the keyword do not matter):

    HS <code> [<secret>]        also HOSO, HO SO, TRACUU, TRA CUU, TC, MHS;
    <code> [<secret>]           a bare code is a lookup too; filler words
                                ("HS so", "ma so") and quotes are skipped, the
                                secret may follow "MK", "mã bí mật", an ID
                                label (CCCD, CMND, căn cước, số định danh) or a comma
    HS <YYMMDD-sequence>        no agency: a Keyed lookup (like keypad digits)
    TT <procedure code|name>    also THUTUC, THU TUC: procedure guidance; the name
                                is matched by words (match_procedures); TT alone
                                asks for the TT syntax
    HD | HELP | ? | HUONG DAN   the syntax
    TU CHOI | HUY | STOP | TAT  no more reminders to this number (opt-out)
    DK | DANG KY | BAT | START  reminders again (opt-in; DK = "đăng ký", subscribe)

Codes are found by lookup.codes.extract_code, whose separators may be missing
or replaced (spaces for dashes, no dots). The same code twice is one code.

A text without a code is read in ordinary words (sms/intents.py): "không nhận
tin nữa" is an OptOut, "Đăng ký nhận tin lại" an OptIn, "tra cứu hồ sơ như thế
nào" Help, "Cho hỏi thủ tục đăng ký kết hôn cần giấy tờ gì" a Guidance question,
and a lookup keyword or a question about "my dossier" without any digit
("HS ?", "HS <mã hồ sơ>", "khi nào nhận kết quả") a BadCode(EMPTY), answered
with the syntax. Pure: never raises on any text, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from lookup.codes import (
    Extracted,
    InvalidCode,
    QueryKind,
    Reason,
    compact_key,
    extract_code,
    find_code,
)
from lookup.model import Procedure
from sms import intents

MAX_TEXT = 480  # longer input is cut: three concatenated parts is plenty for a command


@dataclass(frozen=True, slots=True)
class Lookup:
    code: str  # canonical code, or the compact key when separators are missing
    secret: str | None = None
    more_codes: bool = False  # the message held another code (only the first is looked up)


@dataclass(frozen=True, slots=True)
class Keyed:
    """A date and sequence without the agency ("HS 241129-0001"): keypad digits."""

    digits: str  # YYMMDD + sequence, for DossierLookup.by_keypad_digits
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class Guidance:
    """TT and what follows: a procedure code, words of its name, or "" for the syntax;
    or a question in plain words that names a procedure somewhere inside it."""

    procedure: str
    question: bool = False  # "Cho hỏi thủ tục đăng ký kết hôn cần giấy tờ gì"


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


Command = Lookup | Keyed | Guidance | Help | OptOut | OptIn | BadCode | Unrecognised

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
        return Guidance(rest.strip(_END_PUNCT))  # "TT" alone: the TT syntax, not HS help
    if rest.strip(_END_PUNCT):
        # "HUY" alone is an opt-out, and so is "HUY DK"; "Huy ho so 123" is not: a code
        # wins, then the plain words, else the syntax.
        return _bare(clean) if kind in ("out", "in") else Help()
    if kind == "out":
        return OptOut()
    if kind == "in":
        return OptIn()
    return Help()


# Words that introduce the secret after the code (folded): MK, mật khẩu, mã bí mật, PIN,
# and the ID-card labels offices print as the second factor: CCCD, CMND, căn cước
# (công dân), (số/mã) định danh, each optionally after "số" ("số CCCD 012345").
_SECRET_WORD = re.compile(
    r"^(?:MK|MBM|MAT\s*KHAU|MA\s*BI\s*MAT|BI\s*MAT|MA\s*PIN|PIN|PASS(?:WORD)?"
    r"|(?:SO\s*|MA\s*)?(?:CCCD|CMND|CMT|CAN\s*CUOC(?:\s*CONG\s*DAN)?|DINH\s*DANH(?:\s*CA\s*NHAN)?))"
    r"(?![A-Z0-9])[\s:;,.=#\-]*"
)
# A comma or semicolon straight after a code's sequence separates the secret:
# "HS 000.00.18.H26-241129-0001,739204".
_GLUED_SECRET = re.compile(r"(-[0-9OIL]{1,6})[,;]+(?=[0-9A-Za-z])")


def _code_and_secret(rest: str) -> Lookup | Keyed | InvalidCode:
    """The code in `rest` (lookup.codes.extract_code), the secret after it, or why none.

    A code with a wrong date or sequence keeps that reason, so the citizen is told
    which part to check.
    """
    try:
        found = extract_code(_GLUED_SECRET.sub(r"\1 ", rest))
    except InvalidCode as exc:
        return exc
    secret, more = _after_code(_without_repeats(found.rest, _same_code_key(found)))
    if found.kind is QueryKind.DATE_SEQUENCE:
        return Keyed(found.query, secret)
    return Lookup(found.query, secret, more)


def _same_code_key(found: Extracted) -> str:
    """What makes two spellings one code: the compact key, the sequence as a number."""
    code = found.code
    if code is not None:
        return f"{compact_key(code.agency)}{code.yymmdd}{code.sequence_number}"
    return found.query


MAX_REPEATS = 3  # copies of one code looked for after it (each search walks the text)


def _without_repeats(after: str, key: str) -> str:
    """`after` without further copies of the same code (pasted twice, or a receipt
    quoting it twice): one code, not "only one code per message"."""
    for _ in range(MAX_REPEATS):
        if not after.strip(_END_PUNCT):
            return after
        try:
            again = extract_code(_GLUED_SECRET.sub(r"\1 ", after))
        except InvalidCode:
            return after
        if again.kind is QueryKind.DATE_SEQUENCE or _same_code_key(again) != key:
            return after
        if not after.split() or again.rest == after:
            return after
        after = again.rest
    return after


def _after_code(after: str) -> tuple[str | None, bool]:
    """(secret, another code follows) from the text after the code.

    A secret is one token of 3-12 letters or digits: after a secret word (MK 739204)
    anything of that shape, else it must hold a digit, so "Cam on" or "Thanks" is not
    a wrong secret. "HS <code> 45" has no secret: the code alone is looked up.
    """
    after = after.strip(_END_PUNCT).lstrip("-\u2013\u2014=>/ ")  # "<code> - 739204"
    if not after:
        return None, False
    try:
        another = extract_code(after).kind is QueryKind.CODE
    except InvalidCode:
        another = False
    if another or find_code(after) is not None:
        return None, True
    folded = "".join(_fold_char(ch) for ch in after)
    word = _SECRET_WORD.match(folded)
    candidate = after[word.end() :] if word else after
    tokens = candidate.split()
    if len(tokens) != 1:
        return None, False
    token = tokens[0].strip(_END_PUNCT)
    glued = None if word else _GLUED_SECRET_WORD.fullmatch(token)
    if glued:  # "mk739204": the word typed without a space
        return glued[1], False
    if _SECRET.fullmatch(token) and (word or any(ch.isdigit() for ch in token)):
        return token, False
    return None, False


_GLUED_SECRET_WORD = re.compile(r"(?:MK|MBM|PIN|CCCD|CMND)[:.=#]?([0-9]{3,12})", re.IGNORECASE)


# The template's own "gửi 8088" (send to the short code), copied along with it.
_SEND_TO = re.compile(r"\s*g(?:ử|u)i\s+\d{3,6}\s*$", re.IGNORECASE)


def _lookup(rest: str) -> Command:
    if not rest:
        return BadCode(Reason.EMPTY, "")
    found = _code_and_secret(rest)
    if not isinstance(found, InvalidCode):
        return found
    if not any(ch.isdigit() for ch in _SEND_TO.sub("", rest)):
        # No digit, so no code: "HS ?", "HS <mã hồ sơ>", "tra cứu hồ sơ như thế nào".
        match intents.intent(rest):
            case intents.Intent.HOW_TO:
                return Help()
            case intents.Intent.GUIDANCE:
                return Guidance(rest, question=True)
        return BadCode(Reason.EMPTY, rest)
    return BadCode(found.reason, rest)


def _bare(clean: str) -> Command:
    text = clean.strip(_END_PUNCT)
    found = _code_and_secret(text) if text else InvalidCode(Reason.EMPTY, "")
    if not isinstance(found, InvalidCode):
        return found
    match intents.intent(text):
        case intents.Intent.STOP:
            return OptOut()
        case intents.Intent.START:
            return OptIn()
        case intents.Intent.GUIDANCE:
            return Guidance(text, question=True)
        case intents.Intent.HOW_TO:
            return Help()
        case intents.Intent.NO_CODE:
            return BadCode(Reason.EMPTY, text)
    return Unrecognised(text)


_WORD = re.compile(r"[A-Z0-9]+")


def _words(text: str) -> list[str]:
    """Folded words, read through Telex/VNI leftovers like the plain-words intents."""
    return [w for word in intents.words(text) for w in _WORD.findall(word)]


# Words nearly every procedure name holds: not enough, alone, to name one.
_GENERIC_NAME_WORDS = frozenset(
    _words("Đăng ký cấp xác nhận thủ tục của các và trong giấy bản lại đổi")
)
# Words a question about a procedure wraps its name in ("cho hỏi ... cần giấy tờ gì").
_QUESTION_WORDS = frozenset(
    _words(
        "cho hỏi xin tôi em mình con cháu ạ nhé thủ tục làm cần những gì giấy tờ mang theo nộp"
        " chuẩn bị hồ sơ gồm lệ phí bao nhiêu tiền mất lâu thời gian giải quyết thì là của"
        " nhà ở để được không có muốn"
    )
)
MAX_UNNAMED_WORDS = 2  # content words a question may hold beside the procedure's name


def match_procedures(query: str, procedures: Sequence[Procedure]) -> list[Procedure]:
    """The procedures whose name holds every word of `query` (accent- and case-insensitive,
    whole words): "khai sinh" finds "Đăng ký khai sinh" but not "Đăng ký khai tử".

    A question names the procedure among other words ("Cho hỏi thủ tục đăng ký kết
    hôn cần giấy tờ gì"): then the procedures whose name holds every word of it that
    is not a question word, else those whose whole name is in it (the longest
    names), else those whose distinctive words are all in it ("làm giấy khai sinh cần
    gì": khai sinh), as long as what is left beside the name is question words and
    at most MAX_UNNAMED_WORDS others (a longer name of another procedure that merely
    contains "cấp giấy phép xây dựng" is not that procedure). Common procedures
    first, each group by code. No words: no match."""
    wanted = _words(query)
    if not wanted:
        return []
    typed = set(wanted)
    found = [p for p in procedures if typed <= set(_words(p.name))]
    content = typed - _QUESTION_WORDS  # "chứng thực bản sao lệ phí bao nhiêu"
    if not found and content:
        found = [p for p in procedures if content <= set(_words(p.name))]
    if not found:
        named = [p for p in procedures if _names_it(set(_words(p.name)), typed)]
        longest = max((len(_words(p.name)) for p in named), default=0)
        found = [p for p in named if len(_words(p.name)) == longest]
    if not found:
        found = [
            p for p in procedures if _names_it(set(_words(p.name)) - _GENERIC_NAME_WORDS, typed)
        ]
    return sorted(found, key=lambda p: (not p.common, p.code))


def _names_it(name: set[str], typed: set[str]) -> bool:
    """`typed` holds every word of `name`, and little else but question words."""
    left = typed - name - _QUESTION_WORDS
    return bool(name) and name <= typed and len(left) <= MAX_UNNAMED_WORDS


def short_name(name: str, query: str) -> str:
    """A procedure's name without the words the citizen already typed ("Đăng ký khai tử"
    for "TT dang ky" is "khai tử"); the whole name when nothing else is left."""
    typed = set(_words(query))
    kept = [w for w in name.split() if not set(_words(w)) <= typed]
    return " ".join(kept) if kept else name
