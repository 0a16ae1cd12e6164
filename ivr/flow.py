"""The inbound call flow as a pure state machine: step(call, event) -> (call, actions).

Owns what the caller hears and which key leads where. It never touches a
socket, a clock or the database: ivr/session.py performs the actions and turns
what Asterisk and the lookup report back into events. Anything that needs the
outside world (is the office open? what does this dossier's status sound like?)
arrives inside an event, already rendered to prompt ids.

Privacy rule for caller recognition: the menu offers "your dossiers" to every
caller with a caller ID, whether or not the number has dossiers, and the answer
to a wrong second factor is the same in both cases. Nothing, not even a count,
is said before a second factor matches (Circular 01/2018 art. 16).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum, auto
from typing import Any

from lookup.codes import KEYPAD_MAX_DIGITS, InvalidCode, Reason, parse_keypad

# ---- rules (from ivr.settings.IvrSettings; a plain dataclass keeps this module pure)


@dataclass(frozen=True, slots=True)
class Rules:
    max_no_input: int = 3  # silent answers in a row at one question
    max_invalid: int = 3  # wrong answers in a row at one question
    max_not_found: int = 2  # codes not found before we stop asking
    max_secret_tries: int = 2  # second-factor attempts per call
    menu_timeout_s: float = 6.0
    code_timeout_s: float = 8.0  # elderly callers read the receipt while keying
    inter_digit_s: float = 5.0
    secret_max_digits: int = 12


# ---- events: past-tense facts


@dataclass(frozen=True, slots=True)
class CallAnswered:
    officer_open: bool = True  # office hours and holidays, decided by the session's clock
    caller_known: bool = False  # a usable caller ID (not that it has dossiers)
    hours: tuple[str, ...] = ()  # the configured hours, said after "ivr_officer_closed"


@dataclass(frozen=True, slots=True)
class Keyed:
    digits: str  # without the terminating '#'
    timed_out: bool = False  # no terminator and no full length: the caller stopped


@dataclass(frozen=True, slots=True)
class Answer:
    """One dossier as the caller will hear it (rendered by ivr/speech.py)."""

    code: str
    choice: tuple[str, ...]  # how to tell it apart when several match (agency)
    status: tuple[str, ...]  # status, dates, where to collect


@dataclass(frozen=True, slots=True)
class Found:
    answers: tuple[Answer, ...]  # one or more; more than one means ambiguous digits


@dataclass(frozen=True, slots=True)
class NotFound:
    said: tuple[str, ...]  # "not found", the keyed digits read back, "check the receipt"


@dataclass(frozen=True, slots=True)
class LookupDown:
    pass


@dataclass(frozen=True, slots=True)
class Guide:
    """One procedure of the short guidance list."""

    name: tuple[str, ...]
    detail: tuple[str, ...]  # documents, fee, processing time


@dataclass(frozen=True, slots=True)
class GuidesListed:
    guides: tuple[Guide, ...]


@dataclass(frozen=True, slots=True)
class MineVerified:
    """The second factor matched: what the caller may now hear."""

    intro: tuple[str, ...]  # "you have N dossiers"
    answers: tuple[Answer, ...]


@dataclass(frozen=True, slots=True)
class MineRefused:
    pass  # wrong secret, or no dossiers on this number: said the same way


@dataclass(frozen=True, slots=True)
class MineLocked:
    """Wrong secrets have locked secret checks (lookup/lockout.py): even the right one
    would fail now. Said like the last refused try, so it reveals nothing more."""


@dataclass(frozen=True, slots=True)
class TooManyLookups:
    pass  # this caller ID has used up its lookups for the hour


Event = (
    CallAnswered
    | Keyed
    | Found
    | NotFound
    | LookupDown
    | GuidesListed
    | MineVerified
    | MineRefused
    | MineLocked
    | TooManyLookups
)

# ---- actions: imperative


@dataclass(frozen=True, slots=True)
class Play:
    prompts: tuple[str, ...]
    barge_in: bool = True  # a key ends the prompt and becomes the next answer's first digit


@dataclass(frozen=True, slots=True)
class Ask:
    prompts: tuple[str, ...]
    max_digits: int
    timeout_s: float
    inter_digit_s: float = 5.0
    terminator: str = "#"


@dataclass(frozen=True, slots=True)
class LookUpCode:
    digits: str


@dataclass(frozen=True, slots=True)
class ListGuides:
    pass


@dataclass(frozen=True, slots=True)
class LookUpMine:
    secret: str


@dataclass(frozen=True, slots=True)
class ToOfficer:
    reason: str  # "asked", "not_found", "ivr_no_input", "invalid", "lookup_down"


@dataclass(frozen=True, slots=True)
class Goodbye:
    pass


Action = Play | Ask | LookUpCode | ListGuides | LookUpMine | ToOfficer | Goodbye


# ---- state


class Stage(Enum):
    MENU = auto()
    CODE = auto()
    LOOKING_UP = auto()
    CHOOSE = auto()  # several dossiers match the digits: which agency?
    RESULT = auto()  # after a status: replay, another, officer
    BUSY = auto()  # lookup down: retry or officer
    GUIDES = auto()  # choose a procedure
    GUIDE = auto()  # after a procedure's guidance
    SECRET = auto()  # second factor for "your dossiers"
    MINE = auto()  # after "your dossiers"
    ENDED = auto()


@dataclass(frozen=True, slots=True)
class Call:
    rules: Rules = field(default_factory=Rules)
    stage: Stage = Stage.MENU
    officer_open: bool = True
    caller_known: bool = False
    hours: tuple[str, ...] = ()
    no_input: int = 0  # silent answers in a row at the current question
    invalid: int = 0  # wrong answers in a row at the current question
    not_found: int = 0
    secret_tries: int = 0
    answers: tuple[Answer, ...] = ()  # the candidates, or the one being spoken
    guides: tuple[Guide, ...] = ()
    spoken: tuple[str, ...] = ()  # what "1: hear it again" replays
    events: tuple[str, ...] = ()  # statistics: what happened, in order


_CALL_FIELDS = tuple(f.name for f in fields(Call))
_FIELD_SET = frozenset(_CALL_FIELDS)
_set = object.__setattr__


def replace(call: Call, **changes: Any) -> Call:
    """dataclasses.replace for Call, without its per-call introspection.

    A call takes a dozen steps of two or three replaces each, on the FastAGI path
    (bench/agi_bench.py): this is about a third of dataclasses.replace's cost.
    """
    assert changes.keys() <= _FIELD_SET, f"no such field: {changes.keys() - _FIELD_SET}"
    new = object.__new__(Call)
    for name in _CALL_FIELDS:
        _set(new, name, changes[name] if name in changes else getattr(call, name))
    return new


GOODBYE: tuple[Action, ...] = (Play(("ivr_goodbye",), barge_in=False), Goodbye())


# Every prompt the flow plays by itself; the rest arrive rendered inside events.
FIXED_PROMPTS: frozenset[str] = frozenset(
    {
        "ivr_after_guidance",
        "ivr_after_mine",
        "ivr_after_result",
        "ivr_busy_menu",
        "ivr_choose_agency",
        "ivr_choose_procedure",
        "ivr_code_bad_date",
        "ivr_code_bad_key",
        "ivr_code_bad_sequence",
        "ivr_code_invalid",
        "ivr_code_too_long",
        "ivr_code_too_short",
        "ivr_connecting_officer",
        "ivr_enter_code",
        "ivr_enter_secret",
        "ivr_goodbye",
        "ivr_invalid_choice",
        "ivr_menu_main",
        "ivr_menu_main_mine",
        "ivr_no_guidance",
        "ivr_no_input",
        "ivr_officer_closed",
        "ivr_please_wait",
        "ivr_secret_contact_office",
        "ivr_secret_invalid",
        "ivr_secret_not_verified",
        "ivr_several_found",
        "ivr_system_busy",
        "ivr_too_many_lookups",
        "ivr_welcome",
        *(f"ivr_press_{i}" for i in range(1, 10)),
    }
)


def step(call: Call, event: Event) -> tuple[Call, list[Action]]:
    """The next state and what to do, for one event."""
    match call.stage, event:
        case _, CallAnswered(officer_open=open_, caller_known=known, hours=hours):
            call = replace(
                call, officer_open=open_, caller_known=known, hours=hours, stage=Stage.MENU
            )
            return _note(call, "menu"), [Play(("ivr_welcome",)), _ask(call)]
        case Stage.LOOKING_UP, Found(answers=(one,)):
            return _speak(_note(call, "found"), one)
        case Stage.LOOKING_UP, Found(answers=answers) if answers:
            call = _at(replace(_note(call, "found"), answers=answers[:9]), Stage.CHOOSE)
            return _note(call, "ambiguous"), [Play(("ivr_several_found",)), _ask(call)]
        case Stage.LOOKING_UP, NotFound(said=said):
            return _not_found(call, said)
        case Stage.LOOKING_UP, LookupDown():
            call = _note(_at(call, Stage.BUSY), "lookup_down")
            return call, [Play(("ivr_system_busy",)), _ask(call)]
        case Stage.LOOKING_UP, GuidesListed(guides=()):
            call = _note(_at(call, Stage.MENU), "no_guides")
            return call, [Play(("ivr_no_guidance",)), _ask(call)]
        case Stage.LOOKING_UP, GuidesListed(guides=guides):
            call = _note(_at(replace(call, guides=guides[:9]), Stage.GUIDES), "guides")
            return call, [_ask(call)]
        case Stage.LOOKING_UP, MineVerified(intro=intro, answers=answers):
            spoken = intro + tuple(p for a in answers for p in a.status)
            call = _note(_at(replace(call, spoken=spoken), Stage.MINE), "mine_verified")
            return call, [Play(spoken), _ask(call)]
        case Stage.LOOKING_UP, MineRefused():
            return _mine_refused(call)
        case Stage.LOOKING_UP, MineLocked():
            return _mine_refused(_note(call, "secret_locked"), locked=True)
        case Stage.LOOKING_UP, TooManyLookups():
            return _escalate(
                _note(call, "too_many_lookups"), Play(("ivr_too_many_lookups",)), "too_many_lookups"
            )
        case Stage.ENDED | Stage.LOOKING_UP, _:
            raise ValueError(f"{event!r} cannot happen in stage {call.stage.name}")
        case _, Keyed(digits=""):
            return _no_input(call)
        case _, Keyed(digits=digits):
            return _keyed(call, digits)
    raise ValueError(f"{event!r} cannot happen in stage {call.stage.name}")


def _keyed(call: Call, digits: str) -> tuple[Call, list[Action]]:
    stage = call.stage
    if stage in (
        Stage.MENU,
        Stage.CHOOSE,
        Stage.RESULT,
        Stage.BUSY,
        Stage.GUIDES,
        Stage.GUIDE,
        Stage.MINE,
        Stage.SECRET,
    ):
        if digits == "*":
            return _repeat(call)
        if digits == "0":
            return _officer(call, "asked")
    if stage is Stage.MENU:
        if digits == "1":
            return _to_code(call)
        if digits == "2":
            return _note(_at(call, Stage.LOOKING_UP), "guidance"), [ListGuides()]
        if digits == "3" and call.caller_known:
            return _at(call, Stage.SECRET), [_ask(_at(call, Stage.SECRET))]
    elif stage is Stage.CODE:
        # A lone 0 or * is not a slip inside a code: it is the key a caller presses for
        # a person or to hear the question again, wherever they are.
        if digits == "0":
            return _officer(call, "asked")
        if digits == "*":
            return _repeat(call)
        problem = keypad_problem(digits)
        if problem is not None and len(digits) > KEYPAD_MAX_DIGITS:
            # GET DATA stopped at its one spare digit while the caller may still be keying
            # the rest: said without barge-in, so those keys are dropped (res_agi.c reads
            # and drops DTMF while no input command runs) instead of starting a new code.
            return _invalid(call, (problem,), barge_in=False)
        if problem is None:
            call = _note(_at(call, Stage.LOOKING_UP), "code_keyed")
            # Said without barge-in: keys pressed now would be lost anyway (res_agi.c reads
            # and drops DTMF while no input command runs), so don't pretend otherwise.
            return call, [Play(("ivr_please_wait",), barge_in=False), LookUpCode(digits)]
        return _invalid(call, (problem,))
    elif stage is Stage.CHOOSE:
        if digits.isdigit() and 1 <= int(digits) <= len(call.answers):
            return _speak(call, call.answers[int(digits) - 1])
    elif stage is Stage.RESULT:
        if digits == "1":
            return _repeat(call)
        if digits == "2":
            return _to_code(replace(call, not_found=0))
    elif stage is Stage.BUSY:
        if digits == "1":
            return _to_code(call)
    elif stage is Stage.GUIDES:
        if digits.isdigit() and 1 <= int(digits) <= len(call.guides):
            guide = call.guides[int(digits) - 1]
            call = _note(_at(replace(call, spoken=guide.detail), Stage.GUIDE), "guide_spoken")
            return call, [Play(guide.detail), _ask(call)]
    elif stage is Stage.GUIDE:
        if digits == "1":
            return _repeat(call)
        if digits == "2":
            return _at(call, Stage.GUIDES), [_ask(_at(call, Stage.GUIDES))]
        if digits == "9":
            return _at(call, Stage.MENU), [_ask(_at(call, Stage.MENU))]
    elif stage is Stage.SECRET:
        if digits.isdigit() and len(digits) >= 4:
            call = replace(_at(call, Stage.LOOKING_UP), secret_tries=call.secret_tries + 1)
            return call, [Play(("ivr_please_wait",), barge_in=False), LookUpMine(digits)]
        return _invalid(call, ("ivr_secret_invalid",))
    elif stage is Stage.MINE:
        if digits == "1":
            return _repeat(call)
        if digits == "9":
            return _at(call, Stage.MENU), [_ask(_at(call, Stage.MENU))]
    return _invalid(call, ("ivr_invalid_choice",))


def keypad_problem(digits: str) -> str | None:
    """Why keyed digits cannot be a YYMMDD+sequence code (a prompt id), or None."""
    try:
        parse_keypad(digits)
    except InvalidCode as exc:
        # A reason added to lookup.codes later still gets a clear (if general) answer.
        return _CODE_PROBLEMS.get(exc.reason, "ivr_code_invalid")
    return None


_CODE_PROBLEMS = {
    Reason.EMPTY: "ivr_code_too_short",
    Reason.MISSING_PART: "ivr_code_too_short",
    Reason.TOO_LONG: "ivr_code_too_long",
    Reason.BAD_CHARACTER: "ivr_code_bad_key",
    Reason.BAD_DATE: "ivr_code_bad_date",
    Reason.BAD_SEQUENCE: "ivr_code_bad_sequence",
    Reason.EXTRA_PART: "ivr_code_too_long",
    Reason.BAD_AGENCY: "ivr_code_bad_key",
}


# ---- the questions of each stage


def _ask(call: Call) -> Ask:
    rules = call.rules
    stage = call.stage
    if stage is Stage.MENU:
        menu = "ivr_menu_main_mine" if call.caller_known else "ivr_menu_main"
        return Ask((menu,), 1, rules.menu_timeout_s, rules.inter_digit_s)
    if stage is Stage.CODE:
        # One digit more than a code can have: GET DATA stops at max_digits, so at exactly
        # KEYPAD_MAX_DIGITS a longer entry would come back cut short and be misjudged (or
        # looked up); with one spare digit, "too long" is seen as too long.
        return Ask(
            ("ivr_enter_code",), KEYPAD_MAX_DIGITS + 1, rules.code_timeout_s, rules.inter_digit_s
        )
    if stage is Stage.CHOOSE:
        options = tuple(
            p for i, a in enumerate(call.answers, 1) for p in (f"ivr_press_{i}", *a.choice)
        )
        return Ask(("ivr_choose_agency", *options), 1, rules.menu_timeout_s, rules.inter_digit_s)
    if stage is Stage.RESULT:
        return Ask(("ivr_after_result",), 1, rules.menu_timeout_s, rules.inter_digit_s)
    if stage is Stage.BUSY:
        return Ask(("ivr_busy_menu",), 1, rules.menu_timeout_s, rules.inter_digit_s)
    if stage is Stage.GUIDES:
        options = tuple(
            p for i, g in enumerate(call.guides, 1) for p in (f"ivr_press_{i}", *g.name)
        )
        return Ask(("ivr_choose_procedure", *options), 1, rules.menu_timeout_s, rules.inter_digit_s)
    if stage is Stage.GUIDE:
        return Ask(("ivr_after_guidance",), 1, rules.menu_timeout_s, rules.inter_digit_s)
    if stage is Stage.SECRET:
        return Ask(
            ("ivr_enter_secret",),
            rules.secret_max_digits,
            rules.code_timeout_s,
            rules.inter_digit_s,
        )
    if stage is Stage.MINE:
        return Ask(("ivr_after_mine",), 1, rules.menu_timeout_s, rules.inter_digit_s)
    raise ValueError(f"no question in stage {stage.name}")


def _at(call: Call, stage: Stage) -> Call:
    """Move to a new question: the miss counters are per question."""
    return replace(call, stage=stage, no_input=0, invalid=0)


def _note(call: Call, what: str) -> Call:
    return replace(call, events=(*call.events, what))


def _to_code(call: Call) -> tuple[Call, list[Action]]:
    call = _at(call, Stage.CODE)
    return _note(call, "code_asked"), [_ask(call)]


def _speak(call: Call, answer: Answer) -> tuple[Call, list[Action]]:
    call = _at(replace(call, answers=(answer,), spoken=answer.status, not_found=0), Stage.RESULT)
    return _note(call, "status_spoken"), [Play(answer.status), _ask(call)]


def _repeat(call: Call) -> tuple[Call, list[Action]]:
    """'*' repeats the question; '1' after an answer replays the answer, then the question."""
    if call.stage in (Stage.RESULT, Stage.GUIDE, Stage.MINE) and call.spoken:
        return call, [Play(call.spoken), _ask(call)]
    return call, [_ask(call)]


def _not_found(call: Call, prompts: tuple[str, ...]) -> tuple[Call, list[Action]]:
    call = _note(replace(call, not_found=call.not_found + 1), "not_found")
    # Reading the digits back lets the caller hear a slip of the finger.
    said = Play(prompts)
    if call.not_found >= call.rules.max_not_found:
        return _escalate(call, said, "not_found")
    call = _at(call, Stage.CODE)
    return call, [said, _ask(call)]


def _mine_refused(call: Call, *, locked: bool = False) -> tuple[Call, list[Action]]:
    call = _note(call, "mine_refused")
    said = Play(("ivr_secret_not_verified",))
    if locked or call.secret_tries >= call.rules.max_secret_tries:
        # No more tries, or none would work: the office can help (0 in the menu reaches an
        # officer). The same words either way, so a lock says nothing about the number.
        call = _at(call, Stage.MENU)
        return call, [Play(("ivr_secret_not_verified", "ivr_secret_contact_office")), _ask(call)]
    call = _at(call, Stage.SECRET)
    return call, [said, _ask(call)]


def _no_input(call: Call) -> tuple[Call, list[Action]]:
    call = replace(call, no_input=call.no_input + 1)
    if call.no_input >= call.rules.max_no_input:
        if call.stage in (Stage.RESULT, Stage.GUIDE, Stage.MINE):
            # They have had their answer: silence now means they are done.
            return _end(_note(call, "ivr_goodbye"), GOODBYE)
        return _escalate(call, Play(("ivr_no_input",)), "no_input")
    return call, [Play(("ivr_no_input",)), _ask(call)]


def _invalid(
    call: Call, why: tuple[str, ...], *, barge_in: bool = True
) -> tuple[Call, list[Action]]:
    call = replace(call, invalid=call.invalid + 1)
    if call.invalid >= call.rules.max_invalid:
        return _escalate(call, Play(why, barge_in=barge_in), "invalid")
    return call, [Play(why, barge_in=barge_in), _ask(call)]


def _escalate(call: Call, said: Play, reason: str) -> tuple[Call, list[Action]]:
    """Too many misses: a person takes over, or, out of hours, a polite goodbye."""
    if call.officer_open:
        call = _note(_end(call, ())[0], f"officer_{reason}")
        return call, [said, Play(("ivr_connecting_officer",), barge_in=False), ToOfficer(reason)]
    call = _note(_end(call, ())[0], "ivr_goodbye")
    return call, [said, Play(("ivr_officer_closed", *call.hours), barge_in=False), *GOODBYE]


def _officer(call: Call, reason: str) -> tuple[Call, list[Action]]:
    if call.officer_open:
        call = _note(_end(call, ())[0], f"officer_{reason}")
        return call, [Play(("ivr_connecting_officer",), barge_in=False), ToOfficer(reason)]
    # Outside office hours: say so, and offer the rest of the menu.
    call = _note(_at(call, Stage.MENU), "ivr_officer_closed")
    return call, [Play(("ivr_officer_closed", *call.hours)), _ask(call)]


def _end(call: Call, actions: tuple[Action, ...]) -> tuple[Call, list[Action]]:
    return replace(call, stage=Stage.ENDED), list(actions)
