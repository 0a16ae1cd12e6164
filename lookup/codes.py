"""Dossier codes (mã số hồ sơ): parse, normalise, and the keys the store indexes.

Grammar (Circular 01/2018/TT-VPCP art. 19, and what real systems issue):

    <agency>-<YYMMDD>-<sequence>

- agency: 2 to 6 dot-separated groups of 1 to 3 characters [0-9A-Z]. The
  province group (H26, G22, ...) may stand at either end; nothing here knows
  which agencies exist, because old codes outlive reorganised agencies.
- YYMMDD: the reception date, a real calendar date in 2000-2099.
- sequence: the day's counter, starting at 1 (all zeros is refused). Receipts
  print 4 to 6 digits; a written code may have 1 to 6 ("-1" for "-0001"):
  adapters compare sequences as numbers, as the keypad does.

In the parts that can only be digits (the date and the sequence) a letter O is
read as 0 and I or L as 1. In the agency, where letters are legitimate (H26,
A0), nothing is rewritten; agency_spellings() gives the adapters the spelling
with O read as 0 in groups of only O and digits (OOO.OO.18.H26).

People type codes with lower case, spaces, Unicode dashes, full-width
characters, NFD text and stray punctuation around them; all of that is
accepted. A code whose separators are missing or replaced still has a
`compact_key` (upper-case alphanumerics only), which is what the store indexes.

Keypad form: a phone keypad has no letters or dots, so callers key the date and
the sequence: YYMMDD followed by the sequence, e.g. 2411290001. Sequences are
compared as numbers, so a caller may drop or add leading zeros: 2411291,
2411290001 and 241129000001 all mean sequence 1 of 29/11/2024. The agency comes
from the switchboard's configured agencies (resolved by the adapter).

Texts such as SMS: extract_code() finds the code in a whole message
("HS ma so 000.00.18.H26-241129-0001 739204") and says what is left (the
secret). A well-formed code anywhere in the text wins; the compact fallback
only ever joins tokens that carry digits, so words are never glued onto a
code; a date and sequence without the agency ("HS 241129-0001") is a
DATE_SEQUENCE, resolved like keypad digits.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import Enum

MAX_INPUT_CHARS = 80  # anything longer is not a code somebody typed
MIN_SEQUENCE_DIGITS, MAX_SEQUENCE_DIGITS = 4, 6  # as printed on receipts
MIN_WRITTEN_SEQUENCE_DIGITS = 1  # as citizens write them: compared as numbers
MAX_TEXT_CHARS = 480  # extract_code: three SMS parts at most
MIN_GROUPS, MAX_GROUPS = 2, 6
KEYPAD_MIN_DIGITS = 6 + 1  # a date plus at least one sequence digit (leading zeros dropped)
KEYPAD_MAX_DIGITS = 6 + MAX_SEQUENCE_DIGITS


class Reason(Enum):
    """Why a text is not a dossier code; IVR and SMS map these to Vietnamese."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_CHARACTER = "bad_character"
    MISSING_PART = "missing_part"
    EXTRA_PART = "extra_part"
    BAD_AGENCY = "bad_agency"
    BAD_DATE = "bad_date"
    BAD_SEQUENCE = "bad_sequence"


class InvalidCode(ValueError):
    """A text that is not a dossier code; `reason` is machine-readable."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class DossierCode:
    """A parsed code. `text` is the canonical spelling."""

    agency: str  # upper case, dot-separated, e.g. 000.00.18.H26
    received_on: date
    sequence: str  # the digits as written on the receipt, e.g. "0001"

    @property
    def yymmdd(self) -> str:
        return yymmdd(self.received_on)

    @property
    def text(self) -> str:
        return f"{self.agency}-{self.yymmdd}-{self.sequence}"

    @property
    def compact(self) -> str:
        return f"{self.agency.replace('.', '')}{self.yymmdd}{self.sequence}"

    @property
    def keypad(self) -> str:
        return f"{self.yymmdd}{self.sequence}"

    @property
    def sequence_number(self) -> int:
        return int(self.sequence)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class KeypadCode:
    """What a caller keyed: a reception date and a sequence number."""

    received_on: date
    sequence_number: int

    @property
    def yymmdd(self) -> str:
        return yymmdd(self.received_on)


# Dash-like characters people (and word processors) put between the parts. NFKC
# already folds full-width forms and small hyphens; these survive it.
_DASHES = dict.fromkeys(
    map(
        ord,
        "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\u2e3a\u2e3b"
        "\u02d7\u2796\u30fc\u2500\u2501\ufe58\u058a\u05be\u1806\u2e17~\u301c",
    ),
    "-",
)
# Invisible characters that phones and word processors slip into a pasted code.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
_DOTS = dict.fromkeys(map(ord, "\u00b7\u2022\u3002\u30fb\u2219"), ".")
# Stray punctuation around a code: quotes, brackets, sentence ends, and so on.
_SURROUNDING = " \t\r\n.,;:!?'\"`()[]{}<>«»“”‘’「」-_/\\*#"
_ALLOWED = re.compile(r"[0-9A-Z.\-]*")
_GROUP = re.compile(r"[0-9A-Z]{1,3}")
_CANONICAL = re.compile(r"([0-9A-Z]{1,3}(?:\.[0-9A-Z]{1,3}){1,5})-(\d{6})-(\d{4,6})", re.ASCII)
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_SPACED_SEPARATOR = re.compile(r"\s+(?=[.\-])|(?<=[.\-])\s+")  # no template: fast
_SPACES = re.compile(r"\s+")


def yymmdd(day: date) -> str:
    """The date part of a code (strftime is several times slower on bulk imports)."""
    return f"{day.year % 100:02d}{day.month:02d}{day.day:02d}"


def normalise(text: str) -> str:
    """Fold a typed code to upper-case ASCII-like form with '-' and '.' separators."""
    return _spaced(_prefold(text))


def _prefold(text: str) -> str:
    """Case, width, invisible characters and odd dashes and dots folded (per token)."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return folded.translate(_DASHES).translate(_DOTS).upper()


def _spaced(folded: str) -> str:
    # Spaces around separators are noise; spaces between parts stand in for dashes.
    return _SPACES.sub("-", _SPACED_SEPARATOR.sub("", folded.strip(_SURROUNDING)))


def compact_key(text: str) -> str:
    """Upper-case alphanumerics only: the store's index key for a code."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).upper())


def parse_code(text: str) -> DossierCode:
    """Parse any spelling of a dossier code; raise InvalidCode with the reason."""
    if len(text) > MAX_INPUT_CHARS:
        raise InvalidCode(Reason.TOO_LONG, f"longer than {MAX_INPUT_CHARS} characters")
    canonical = _CANONICAL.fullmatch(text)
    if canonical:  # already clean (stored data, bulk imports): skip the folding
        agency, yymmdd, sequence = canonical.groups()
        return DossierCode(agency, _date(yymmdd), _sequence(sequence))
    return _parse_folded(normalise(text))


def _parse_folded(folded: str) -> DossierCode:
    """parse_code after normalise()."""
    if not folded:
        raise InvalidCode(Reason.EMPTY, "no code given")
    if not _ALLOWED.fullmatch(folded):
        bad = next(ch for ch in folded if not _ALLOWED.fullmatch(ch))
        raise InvalidCode(Reason.BAD_CHARACTER, f"character {bad!r} cannot be in a code")
    parts = folded.split("-")
    if len(parts) < 3 or not all(parts):
        raise InvalidCode(Reason.MISSING_PART, "a code has three parts: agency-YYMMDD-sequence")
    if len(parts) > 3:
        raise InvalidCode(Reason.EXTRA_PART, "a code has only three parts: agency-YYMMDD-sequence")
    agency, yymmdd, sequence = parts
    return DossierCode(_agency(agency), _date(_digits(yymmdd)), _sequence(_digits(sequence)))


def parse_keypad(digits: str) -> KeypadCode:
    """Parse keyed digits YYMMDD + sequence (1-6 digits, leading zeros optional)."""
    keyed = digits.strip().rstrip("#")
    if not keyed:
        raise InvalidCode(Reason.EMPTY, "no digits keyed")
    if not keyed.isascii() or not keyed.isdigit():
        raise InvalidCode(Reason.BAD_CHARACTER, "only the digits 0-9 can be keyed")
    if len(keyed) < KEYPAD_MIN_DIGITS:
        raise InvalidCode(Reason.MISSING_PART, "key the date (YYMMDD) and then the sequence")
    if len(keyed) > KEYPAD_MAX_DIGITS:
        raise InvalidCode(
            Reason.TOO_LONG, f"at most {KEYPAD_MAX_DIGITS} digits: YYMMDD and the sequence"
        )
    number = int(keyed[6:])
    if number == 0:
        raise InvalidCode(Reason.BAD_SEQUENCE, "the sequence cannot be zero: counters start at 1")
    return KeypadCode(_date(keyed[:6]), number)


def lookup_key(text: str) -> str:
    """The compact key to search for, also when the separators are missing.

    A code found in the text (extract_code) gives its compact key; when the
    separators are missing or replaced (e.g. "000.00.18.H26-2411290001",
    "0000018H26-241129-0001", "0000018H262411290001") and the text ends in a
    plausible date and sequence, its compact key is still worth a search.
    Words are never part of the key. A date and sequence alone, or anything
    else, raises InvalidCode with the reason.
    """
    query = code_query(text)
    return query if isinstance(query, str) else query.compact


def code_query(text: str) -> DossierCode | str:
    """What by_code() searches: a code (agency, date, sequence as a number) or a compact key.

    A date and sequence without the agency raises InvalidCode(MISSING_PART):
    those go to by_keypad_digits(), which may find several dossiers.
    """
    found = extract_code(text)
    if found.kind is QueryKind.DATE_SEQUENCE:
        raise InvalidCode(Reason.MISSING_PART, "the agency part of the code is missing")
    return found.code if found.code is not None else found.query


class QueryKind(Enum):
    """What extract_code found, and so which lookup answers it."""

    CODE = "code"  # a well-formed code: DossierLookup.by_code(query)
    KEY = "key"  # separators missing: DossierLookup.by_code(query) searches the compact key
    DATE_SEQUENCE = "date_sequence"  # no agency: DossierLookup.by_keypad_digits(query)


@dataclass(frozen=True, slots=True)
class Extracted:
    """A code found in a text, and the text that follows it."""

    kind: QueryKind
    # CODE: the code as written, canonical spelling; KEY: the compact key;
    # DATE_SEQUENCE: keypad digits YYMMDD + sequence, for by_keypad_digits().
    query: str
    rest: str  # what follows the code, as typed (e.g. the secret); "" if nothing
    code: DossierCode | None = None  # set for CODE


# Words people write in front of a code (folded: upper case, no diacritics).
FILLER_WORDS = frozenset(
    {"HS", "HO", "SO", "HOSO", "MA", "MASO", "MAHS", "SOHS", "MAHOSO", "SOHOSO", "TRA", "CUU",
     "TRACUU", "XEM", "KIEM", "TT", "TINH", "TRANG", "CUA", "LA", "TOI", "CHO", "HOI", "NO",
     "CODE", "ID"}
)  # fmt: skip
_WORD_EDGE = "\"'`()[]{}<>«»“”‘’「」:;,.!?*#=/\\_-"
# A token that carries a digit, or only punctuation (a dash between spaced parts).
_CODE_LIKE = re.compile(r"[0-9A-Z.\-_,/]*[0-9][0-9A-Z.\-_,/]*")
_DATE_SEQUENCE = re.compile(r"([0-9OIL]{6})[-/._]*([0-9OIL]{1,6})")
_SEPARATOR_REASONS = (Reason.MISSING_PART, Reason.EXTRA_PART, Reason.BAD_CHARACTER)
# A code with a space around every separator: 6 groups, 5 dots, 2 dashes, date, sequence.
MAX_CODE_TOKENS = 2 * MAX_GROUPS + 5


def extract_code(text: str) -> Extracted:
    """Find the dossier code in a whole message and say what follows it.

    In order: a well-formed code anywhere in the text (also inside a URL);
    then, after known filler words (FILLER_WORDS: HS, MA SO, HỒ SƠ, ...), a
    date and sequence without the agency ("241129-0001", "2411290001"), or
    tokens with digits run together into a compact key. A keyword glued to
    the code ("HS000.00.18.H26-241129-0001") is split off unless the text as
    written holds a well-formed code. Raises InvalidCode (reason from the parser) when
    there is none.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidCode(Reason.TOO_LONG, f"longer than {MAX_TEXT_CHARS} characters")
    tokens = text.split()
    unglued = [part for token in tokens for part in _unglue(token)]
    try:
        found = _extract(tokens)
    except InvalidCode:
        if unglued == tokens:
            raise
        try:
            return _extract(unglued)
        except InvalidCode:
            pass
        raise
    if found.kind is QueryKind.KEY and unglued != tokens:  # never "HS0000018H26..."
        try:
            return _extract(unglued)
        except InvalidCode:
            pass
    return found


_GLUED = re.compile(r"(HS|HOSO|MASO|MAHS|SOHS|MA|SO)(?=[0-9])", re.IGNORECASE)


def _unglue(token: str) -> list[str]:
    glued = _GLUED.match(token)
    return [token[: glued.end()], token[glued.end() :]] if glued else [token]


def _extract(tokens: list[str]) -> Extracted:
    folded = [_prefold(token) for token in tokens]  # once, not once per window
    for start in range(len(tokens)):
        if _continues(tokens, start):
            continue  # never the tail of a longer code ("000. .00.18…" is not 00.18…)
        for end in range(start + 1, min(len(tokens), start + MAX_CODE_TOKENS) + 1):
            code = _window_code(" ".join(folded[start:end]))
            if code is not None:
                return Extracted(QueryKind.CODE, code.text, " ".join(tokens[end:]), code)
    for at, token in enumerate(tokens):
        embedded = None if _continues(tokens, at) else find_code(token)
        if embedded is not None:
            return Extracted(QueryKind.CODE, embedded.text, " ".join(tokens[at + 1 :]), embedded)
    start = 0
    while start < len(tokens) and _fold_word(tokens[start]) in (*FILLER_WORDS, ""):
        start += 1
    candidate = " ".join(tokens[start:])
    if start == len(tokens):
        raise _why_not(candidate)
    for end in range(start + 1, min(len(tokens), start + 3) + 1):  # "210519 - 0003"
        keyed = _date_sequence(tokens[start:end])
        if keyed is not None:
            return Extracted(QueryKind.DATE_SEQUENCE, keyed, " ".join(tokens[end:]))
    end = start
    while end < len(tokens) and _CODE_LIKE.fullmatch(_fold_token(tokens[end]) or "0"):
        end += 1
        run = " ".join(tokens[start:end])
        why = _why_not(run)
        separators_off = why.reason in _SEPARATOR_REASONS or (
            why.reason is Reason.BAD_AGENCY and _dots_missing(run)
        )
        key = compact_key(normalise(run))
        if separators_off and _plausible_compact(key):
            return Extracted(QueryKind.KEY, key, " ".join(tokens[end:]))
    raise _why_not_any(tokens[start : start + MAX_CODE_TOKENS])


def _window_code(window: str) -> DossierCode | None:
    """The code a run of pre-folded tokens spells, if any; cheap when it spells none
    (a long message tries many runs: only those with exactly two dashes are parsed)."""
    if len(window) > MAX_INPUT_CHARS:
        return None
    folded = _spaced(window)
    if folded.count("-") != 2:
        return None
    try:
        return _parse_folded(folded)
    except InvalidCode:
        return None


_GROUP_AND_DOT = re.compile(r"[0-9A-Z]{1,3}\.")


def _continues(tokens: list[str], start: int) -> bool:
    """Whether tokens[start] carries on a code begun before it: it starts with a dot,
    or the token before is an agency group and its dot ("000." in "000. 00. 18.")."""
    here = _separators(tokens[start])
    if here.startswith("."):
        return True
    if start == 0:
        return False
    before = _separators(tokens[start - 1]).upper()
    return bool(_GROUP_AND_DOT.fullmatch(before)) and any(ch.isdigit() for ch in before)


def _separators(token: str) -> str:
    return unicodedata.normalize("NFKC", token).translate(_DASHES).translate(_DOTS)


def agency_spellings(agency: str) -> tuple[str, ...]:
    """The agency as written, then (if different) with O read as 0 in all-digit groups."""
    groups = agency.split(".")
    read = ".".join(g.replace("O", "0") if _O_FOR_ZERO.fullmatch(g) else g for g in groups)
    return (agency,) if read == agency else (agency, read)


_O_FOR_ZERO = re.compile(r"[0-9O]*O[0-9O]*")


def find_code(text: str) -> DossierCode | None:
    """The first well-formed code inside longer text (an SMS, a QR-code URL), if any."""
    folded = normalise(text)
    for match in _EMBEDDED.finditer(folded):
        try:
            return parse_code(match.group(0))
        except InvalidCode:
            continue
    return None


_EMBEDDED = re.compile(
    r"(?<![0-9A-Z.])[0-9A-Z]{1,3}(?:\.[0-9A-Z]{1,3}){1,5}-[0-9OIL]{6}-[0-9OIL]{1,6}(?![0-9A-Z])"
)
_DIGIT_LOOKALIKES = str.maketrans("OIL", "011")
_LOOKS_LIKE_DIGITS = re.compile(r"[0-9OIL]+")


def _digits(part: str) -> str:
    """A part that must be digits, with O typed for 0 and I or L for 1 read as digits."""
    return part.translate(_DIGIT_LOOKALIKES) if _LOOKS_LIKE_DIGITS.fullmatch(part) else part


def _fold_token(token: str) -> str:
    folded = unicodedata.normalize("NFKC", token).translate(_DASHES).translate(_DOTS).upper()
    return folded.strip(_SURROUNDING)


def _fold_word(token: str) -> str:
    """Upper case without diacritics (Đ as D) or surrounding punctuation: "Mã:" -> "MA"."""
    decomposed = unicodedata.normalize("NFD", token)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.replace("đ", "d").replace("Đ", "D").upper().strip(_WORD_EDGE)


def _date_sequence(tokens: list[str]) -> str | None:
    """YYMMDD and a sequence ("241129-0001", "241129 0001", "2411290001") as keypad digits."""
    joined = "-".join(_fold_token(t) for t in tokens)
    match = _DATE_SEQUENCE.fullmatch(joined)
    if match is None:
        return None
    digits = _digits(match[1]) + _digits(match[2])
    if len(tokens) == 1 and "-" not in joined and not 7 <= len(digits) <= KEYPAD_MAX_DIGITS:
        return None
    try:
        parse_keypad(digits)
    except InvalidCode:
        return None
    return digits


_SPECIFIC_REASONS = (Reason.BAD_DATE, Reason.BAD_SEQUENCE, Reason.BAD_AGENCY)


def _why_not_any(tokens: list[str]) -> InvalidCode:
    """Why the code at the start of `tokens` is none: "31/02 is no date" rather than
    "too many parts" when a secret follows the code."""
    whole = _why_not(" ".join(tokens))
    for end in range(1, len(tokens)):
        why = _why_not(" ".join(tokens[:end]))
        if why.reason in _SPECIFIC_REASONS:
            return why
    return whole


def _why_not(text: str) -> InvalidCode:
    try:
        parse_code(text)
    except InvalidCode as exc:
        return exc
    return InvalidCode(Reason.EXTRA_PART, "unexpected text around the code")  # pragma: no cover


def _agency(agency: str) -> str:
    groups = agency.split(".")
    if not MIN_GROUPS <= len(groups) <= MAX_GROUPS:
        raise InvalidCode(
            Reason.BAD_AGENCY,
            f"the agency part {agency!r} needs {MIN_GROUPS} to {MAX_GROUPS} dot-separated groups",
        )
    for group in groups:
        if not _GROUP.fullmatch(group):
            raise InvalidCode(
                Reason.BAD_AGENCY,
                f"agency group {group!r} must be 1 to 3 letters or digits",
            )
    return agency


def _date(yymmdd: str) -> date:
    if len(yymmdd) != 6 or not yymmdd.isdigit():
        raise InvalidCode(Reason.BAD_DATE, f"the date part {yymmdd!r} must be 6 digits YYMMDD")
    try:
        return date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        raise InvalidCode(
            Reason.BAD_DATE, f"{yymmdd[4:]}/{yymmdd[2:4]}/20{yymmdd[:2]} is not a calendar date"
        ) from None


def _sequence(sequence: str) -> str:
    if not sequence.isdigit():
        raise InvalidCode(Reason.BAD_SEQUENCE, f"the sequence {sequence!r} must be digits")
    if not MIN_WRITTEN_SEQUENCE_DIGITS <= len(sequence) <= MAX_SEQUENCE_DIGITS:
        raise InvalidCode(
            Reason.BAD_SEQUENCE,
            f"the sequence {sequence!r} must have {MIN_WRITTEN_SEQUENCE_DIGITS} to "
            f"{MAX_SEQUENCE_DIGITS} digits",
        )
    if int(sequence) == 0:
        raise InvalidCode(Reason.BAD_SEQUENCE, "the sequence cannot be zero: counters start at 1")
    return sequence


def _plausible_compact(key: str) -> bool:
    """An agency (2+ characters), a real YYMMDD and a 4-6 digit sequence, run together."""
    for length in range(MIN_SEQUENCE_DIGITS, MAX_SEQUENCE_DIGITS + 1):
        head, yymmdd, sequence = key[: -6 - length], key[-6 - length : -length], key[-length:]
        if len(head) < MIN_GROUPS or len(head) > 3 * MAX_GROUPS or not sequence.isdigit():
            continue
        try:
            _date(yymmdd)
        except InvalidCode:
            continue
        return True
    return False


def _dots_missing(text: str) -> bool:
    """An agency typed without its dots (0000018H26-241129-0001), without one of them
    (000.00.18H26-…: a group longer than a group can be) or with one doubled
    (000..00.18.H26-…). Never repaired into a code (000..18.H26 is not 000.18.H26):
    such a text is looked up by its compact key, which only the code as typed,
    separators aside, can match."""
    agency = normalise(text).split("-", 1)[0]
    if "." not in agency:
        return len(agency) >= 2 * MIN_GROUPS
    return any(not 1 <= len(group) <= 3 for group in agency.split("."))
