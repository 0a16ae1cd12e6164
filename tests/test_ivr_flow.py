"""The call flow, replayed event by event: what the caller hears, in order (pure, no I/O)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.flow import (
    FIXED_PROMPTS,
    Action,
    Answer,
    Ask,
    Call,
    CallAnswered,
    Event,
    Found,
    Goodbye,
    Guide,
    GuidesListed,
    Keyed,
    LookUpCode,
    LookupDown,
    LookUpMine,
    MineLocked,
    MineRefused,
    MineVerified,
    NotFound,
    Play,
    Stage,
    ToOfficer,
    TooManyLookups,
    step,
)
from lookup.codes import KEYPAD_MAX_DIGITS
from prompts.catalog import load_catalog

pytestmark = pytest.mark.no_store

READY = Answer("000.00.18.H26-241129-0001", ("agency_cua_nam",), ("status_ready", "day_29"))
OTHER = Answer("000.00.19.H26-241129-0001", ("agency_hoan_kiem",), ("status_processing",))
NOT_FOUND = NotFound(("not_found", "digit_2", "digit_4", "check_receipt"))
BIRTH = Guide(("txt_birth",), ("procedure_guidance", "txt_birth", "documents_needed"))


def run(*events: Event, call: Call | None = None) -> tuple[Call, list[Action]]:
    """Replay events from a fresh call; every action in order."""
    call = call or Call()
    actions: list[Action] = []
    for event in events:
        call, more = step(call, event)
        actions += more
    return call, actions


def heard(actions: list[Action]) -> list[str]:
    """The prompt ids in the order the caller meets them, questions included."""
    out: list[str] = []
    for action in actions:
        if isinstance(action, Play | Ask):
            out += action.prompts
    return out


def after(*events: Event) -> list[str]:
    """What the caller hears after the last event only."""
    call, _ = run(*events[:-1])
    return heard(step(call, events[-1])[1])


START = CallAnswered(officer_open=True)
KNOWN = CallAnswered(officer_open=True, caller_known=True)
CLOSED = CallAnswered(officer_open=False)


def test_answer_greets_then_asks_the_main_menu() -> None:
    call, actions = run(START)
    assert actions == [Play(("ivr_welcome",)), Ask(("ivr_menu_main",), 1, 6.0, 5.0)]
    assert call.stage is Stage.MENU


def test_caller_id_adds_the_your_dossiers_option_without_saying_anything_else() -> None:
    assert heard(run(CallAnswered(caller_known=True))[1]) == ["ivr_welcome", "ivr_menu_main_mine"]


def test_status_lookup_happy_path() -> None:
    call, actions = run(START, Keyed("1"), Keyed("2411290001"), Found((READY,)))
    assert actions[2:] == [
        Ask(("ivr_enter_code",), KEYPAD_MAX_DIGITS + 1, 8.0, 5.0),
        Play(("ivr_please_wait",), barge_in=False),
        LookUpCode("2411290001"),
        Play(("status_ready", "day_29")),
        Ask(("ivr_after_result",), 1, 6.0, 5.0),
    ]
    assert call.events == ("menu", "code_asked", "code_keyed", "found", "status_spoken")


# (events after START, what the caller hears after the last one)
TABLE: list[tuple[str, list[Event], list[str]]] = [
    ("star repeats the menu", [Keyed("*")], ["ivr_menu_main"]),
    ("wrong menu key", [Keyed("7")], ["ivr_invalid_choice", "ivr_menu_main"]),
    ("3 without caller id is wrong", [Keyed("3")], ["ivr_invalid_choice", "ivr_menu_main"]),
    ("silence at the menu", [Keyed("", timed_out=True)], ["ivr_no_input", "ivr_menu_main"]),
    ("hash alone at the menu", [Keyed("")], ["ivr_no_input", "ivr_menu_main"]),
    ("code too short", [Keyed("1"), Keyed("241129")], ["ivr_code_too_short", "ivr_enter_code"]),
    ("star alone at the code repeats it", [Keyed("1"), Keyed("*")], ["ivr_enter_code"]),
    (
        "code timed out half keyed",
        [Keyed("1"), Keyed("2411", timed_out=True)],
        ["ivr_code_too_short", "ivr_enter_code"],
    ),
    ("impossible date", [Keyed("1"), Keyed("2413320001")], ["ivr_code_bad_date", "ivr_enter_code"]),
    (
        "star inside a code",
        [Keyed("1"), Keyed("241129*001")],
        ["ivr_code_bad_key", "ivr_enter_code"],
    ),
    (
        "zero sequence",
        [Keyed("1"), Keyed("2411290000")],
        ["ivr_code_bad_sequence", "ivr_enter_code"],
    ),
    (
        "not found reads the digits back",
        [Keyed("1"), Keyed("2411299999"), NOT_FOUND],
        ["not_found", "digit_2", "digit_4", "check_receipt", "ivr_enter_code"],
    ),
    (
        "replay after a result",
        [Keyed("1"), Keyed("2411290001"), Found((READY,)), Keyed("1")],
        ["status_ready", "day_29", "ivr_after_result"],
    ),
    (
        "another dossier",
        [Keyed("1"), Keyed("2411290001"), Found((READY,)), Keyed("2")],
        ["ivr_enter_code"],
    ),
    (
        "ambiguous digits: choose the agency",
        [Keyed("1"), Keyed("2411290001"), Found((READY, OTHER))],
        [
            "ivr_several_found",
            "ivr_choose_agency",
            "ivr_press_1",
            "agency_cua_nam",
            "ivr_press_2",
            "agency_hoan_kiem",
        ],
    ),
    (
        "second agency chosen",
        [Keyed("1"), Keyed("2411290001"), Found((READY, OTHER)), Keyed("2")],
        ["status_processing", "ivr_after_result"],
    ),
    (
        "agency number out of range",
        [Keyed("1"), Keyed("2411290001"), Found((READY, OTHER)), Keyed("3")],
        [
            "ivr_invalid_choice",
            "ivr_choose_agency",
            "ivr_press_1",
            "agency_cua_nam",
            "ivr_press_2",
            "agency_hoan_kiem",
        ],
    ),
    (
        "lookup down",
        [Keyed("1"), Keyed("2411290001"), LookupDown()],
        ["ivr_system_busy", "ivr_busy_menu"],
    ),
    (
        "retry after lookup down",
        [Keyed("1"), Keyed("2411290001"), LookupDown(), Keyed("1")],
        ["ivr_enter_code"],
    ),
    (
        "guidance list",
        [Keyed("2"), GuidesListed((BIRTH,))],
        ["ivr_choose_procedure", "ivr_press_1", "txt_birth"],
    ),
    (
        "guidance chosen",
        [Keyed("2"), GuidesListed((BIRTH,)), Keyed("1")],
        ["procedure_guidance", "txt_birth", "documents_needed", "ivr_after_guidance"],
    ),
    (
        "guidance replay",
        [Keyed("2"), GuidesListed((BIRTH,)), Keyed("1"), Keyed("1")],
        ["procedure_guidance", "txt_birth", "documents_needed", "ivr_after_guidance"],
    ),
    (
        "guidance back to the menu",
        [Keyed("2"), GuidesListed((BIRTH,)), Keyed("1"), Keyed("9")],
        ["ivr_menu_main"],
    ),
    (
        "no guidance configured",
        [Keyed("2"), GuidesListed(())],
        ["ivr_no_guidance", "ivr_menu_main"],
    ),
    (
        "guidance number out of range",
        [Keyed("2"), GuidesListed((BIRTH,)), Keyed("2")],
        ["ivr_invalid_choice", "ivr_choose_procedure", "ivr_press_1", "txt_birth"],
    ),
]


@pytest.mark.parametrize(
    ("events", "expected"), [(e, h) for _, e, h in TABLE], ids=[name for name, _, _ in TABLE]
)
def test_every_menu_path(events: list[Event], expected: list[str]) -> None:
    assert after(START, *events) == expected


def test_the_lookup_is_asked_for_with_the_keyed_digits_after_please_wait() -> None:
    _, actions = run(START, Keyed("1"), Keyed("2411290001"))
    assert actions[-2:] == [Play(("ivr_please_wait",), barge_in=False), LookUpCode("2411290001")]


def test_two_not_found_in_office_hours_put_the_caller_through_to_an_officer() -> None:
    call, actions = run(
        START, Keyed("1"), Keyed("2411299999"), NOT_FOUND, Keyed("2411299998"), NOT_FOUND
    )
    assert actions[-3:] == [
        Play(NOT_FOUND.said),
        Play(("ivr_connecting_officer",), barge_in=False),
        ToOfficer("not_found"),
    ]
    assert call.stage is Stage.ENDED


def test_two_not_found_out_of_hours_say_so_and_goodbye_never_a_silent_hang_up() -> None:
    _, actions = run(
        CLOSED, Keyed("1"), Keyed("2411299999"), NOT_FOUND, Keyed("2411299998"), NOT_FOUND
    )
    assert actions[-4:] == [
        Play(NOT_FOUND.said),
        Play(("ivr_officer_closed",), barge_in=False),
        Play(("ivr_goodbye",), barge_in=False),
        Goodbye(),
    ]


def test_three_silences_at_the_menu_reach_an_officer() -> None:
    silent = Keyed("", timed_out=True)
    _, actions = run(START, silent, silent, silent)
    assert heard(actions)[-2:] == ["ivr_no_input", "ivr_connecting_officer"]
    assert actions[-1] == ToOfficer("no_input")


def test_silence_and_wrong_keys_are_counted_separately() -> None:
    silent = Keyed("", timed_out=True)
    call, actions = run(START, silent, Keyed("7"), silent, Keyed("8"))
    assert call.stage is Stage.MENU  # 2 + 2 misses, neither count reached 3
    assert heard(actions)[-2:] == ["ivr_invalid_choice", "ivr_menu_main"]


def test_three_wrong_keys_out_of_hours_end_politely() -> None:
    _, actions = run(CLOSED, Keyed("7"), Keyed("7"), Keyed("7"))
    assert heard(actions)[-3:] == ["ivr_invalid_choice", "ivr_officer_closed", "ivr_goodbye"]
    assert actions[-1] == Goodbye()


def test_counts_reset_when_the_caller_moves_on() -> None:
    call, _ = run(START, Keyed("7"), Keyed("7"), Keyed("1"))
    assert (call.stage, call.invalid, call.no_input) == (Stage.CODE, 0, 0)


def test_zero_in_office_hours_transfers() -> None:
    _, actions = run(START, Keyed("0"))
    assert actions[-2:] == [Play(("ivr_connecting_officer",), barge_in=False), ToOfficer("asked")]


def test_zero_out_of_hours_says_so_and_offers_the_menu_again() -> None:
    call, actions = run(CLOSED, Keyed("0"))
    assert heard(actions)[-2:] == ["ivr_officer_closed", "ivr_menu_main"]
    assert call.stage is Stage.MENU


@pytest.mark.parametrize(
    "before",
    [[Keyed("1")], [Keyed("3")], [Keyed("1"), Keyed("2411290001"), Found((READY, OTHER))]],
    ids=["entering a code", "entering the secret", "choosing the agency"],
)
def test_zero_reaches_an_officer_from_any_question(before: list[Event]) -> None:
    _, actions = run(KNOWN, *before, Keyed("0"))
    assert actions[-1] == ToOfficer("asked")


def test_zero_after_a_result_and_when_busy_transfers() -> None:
    _, a = run(START, Keyed("1"), Keyed("2411290001"), Found((READY,)), Keyed("0"))
    _, b = run(START, Keyed("1"), Keyed("2411290001"), LookupDown(), Keyed("0"))
    assert a[-1] == ToOfficer("asked")
    assert b[-1] == ToOfficer("asked")


def test_silence_after_an_answer_ends_with_goodbye_not_an_officer() -> None:
    silent = Keyed("", timed_out=True)
    _, actions = run(
        START, Keyed("1"), Keyed("2411290001"), Found((READY,)), silent, silent, silent
    )
    assert actions[-2:] == [Play(("ivr_goodbye",), barge_in=False), Goodbye()]


# ---- caller recognition: nothing before the second factor


def test_your_dossiers_asks_the_second_factor_before_saying_anything() -> None:
    _, actions = run(KNOWN, Keyed("3"))
    assert actions[-1:] == [Ask(("ivr_enter_secret",), 12, 8.0, 5.0)]


def test_star_alone_at_the_secret_repeats_the_question() -> None:
    call, _ = run(KNOWN, Keyed("3"))
    assert heard(step(call, Keyed("*"))[1]) == ["ivr_enter_secret"]


def test_a_keyed_secret_is_checked_by_the_lookup() -> None:
    _, actions = run(KNOWN, Keyed("3"), Keyed("6789"))
    assert actions[-2:] == [Play(("ivr_please_wait",), barge_in=False), LookUpMine("6789")]


def test_a_secret_that_is_too_short_is_refused_before_any_lookup() -> None:
    _, actions = run(KNOWN, Keyed("3"), Keyed("12"))
    assert heard(actions)[-2:] == ["ivr_secret_invalid", "ivr_enter_secret"]
    assert not any(isinstance(a, LookUpMine) for a in actions)


def test_verified_caller_hears_the_count_then_each_status() -> None:
    intro = ("several_dossiers", "num_2", "several_dossiers_tail")
    _, actions = run(KNOWN, Keyed("3"), Keyed("6789"), MineVerified(intro, (READY, OTHER)))
    assert heard(actions)[-7:] == [
        *intro,
        "status_ready",
        "day_29",
        "status_processing",
        "ivr_after_mine",
    ]
    assert heard(actions)[-8] == "ivr_please_wait"  # nothing was said before the check


def test_a_refused_secret_says_only_not_verified_and_allows_one_more_try() -> None:
    _, first = run(KNOWN, Keyed("3"), Keyed("1111"), MineRefused())
    assert heard(first)[-2:] == ["ivr_secret_not_verified", "ivr_enter_secret"]
    _, second = run(KNOWN, Keyed("3"), Keyed("1111"), MineRefused(), Keyed("2222"), MineRefused())
    assert heard(second)[-3:] == [
        "ivr_secret_not_verified",
        "ivr_secret_contact_office",
        "ivr_menu_main_mine",
    ]


def test_locked_secret_checks_send_the_caller_to_the_office_in_the_same_words() -> None:
    # Locked (lookup/lockout.py): even the right secret fails, so no second try is offered;
    # the words are those of a last refused try, revealing nothing about the number.
    call, locked = run(KNOWN, Keyed("3"), Keyed("739204"), MineLocked())
    assert heard(locked)[-3:] == [
        "ivr_secret_not_verified",
        "ivr_secret_contact_office",
        "ivr_menu_main_mine",
    ]
    assert call.stage is Stage.MENU
    assert "secret_locked" in call.events


def test_events_that_cannot_happen_are_bugs() -> None:
    call, _ = run(START)
    with pytest.raises(ValueError, match="cannot happen"):
        step(call, Found((READY,)))
    ended, _ = run(START, Keyed("0"))
    with pytest.raises(ValueError, match="cannot happen"):
        step(ended, Keyed("1"))


# ---- every fixed prompt the flow can play is catalogued

FLOW_SOURCE = Path(__file__).parent.parent / "ivr" / "flow.py"


def fixed_prompt_ids() -> set[str]:
    source = FLOW_SOURCE.read_text(encoding="utf-8")
    ids = set(re.findall(r'"(ivr_[a-z0-9_]+)"', source))
    ids |= {f"ivr_press_{i}" for i in range(1, 10)}  # f"ivr_press_{i}", at most 9 options
    return ids


def test_every_prompt_the_flow_names_is_in_the_catalog() -> None:
    catalog = load_catalog()
    assert fixed_prompt_ids() <= FIXED_PROMPTS
    assert sorted(i for i in FIXED_PROMPTS if i not in catalog) == []


def test_every_prompt_played_in_the_table_is_the_flows_own_or_came_in_an_event() -> None:
    from_events = {p for a in (READY, OTHER) for p in (*a.choice, *a.status)}
    from_events |= set(NOT_FOUND.said) | set(BIRTH.name) | set(BIRTH.detail)
    for _, events, _ in TABLE:
        _, actions = run(START, *events)
        assert set(heard(actions)) <= fixed_prompt_ids() | from_events


def test_every_prompt_the_asterisk_config_plays_is_in_the_catalog() -> None:
    catalog = load_catalog()
    asterisk = Path(__file__).parent.parent / "asterisk"
    text = "\n".join(
        (asterisk / name).read_text(encoding="utf-8") for name in ("extensions.conf", "queues.conf")
    )
    used = set(re.findall(r"(?:Playback\(|announce = )tracuu/([a-z0-9_]+)", text))
    assert {"ivr_all_lines_busy", "ivr_service_unavailable", "ivr_goodbye"} <= used
    # ivr_officer_hours is rendered from the settings (prompts.service.settings_scripts).
    assert sorted(i for i in used if i not in catalog) == ["ivr_officer_hours"]


def test_too_many_lookups_says_so_and_offers_an_officer_or_goodbye() -> None:
    _, open_ = run(START, Keyed("1"), Keyed("2411290001"), TooManyLookups())
    assert heard(open_)[-2:] == ["ivr_too_many_lookups", "ivr_connecting_officer"]
    assert open_[-1] == ToOfficer("too_many_lookups")
    _, closed = run(CLOSED, Keyed("1"), Keyed("2411290001"), TooManyLookups())
    assert heard(closed)[-3:] == ["ivr_too_many_lookups", "ivr_officer_closed", "ivr_goodbye"]


def test_every_reason_a_keyed_code_can_fail_has_its_own_answer() -> None:
    from ivr.flow import _CODE_PROBLEMS
    from lookup.codes import Reason

    assert set(_CODE_PROBLEMS) == set(Reason)
    assert set(_CODE_PROBLEMS.values()) <= FIXED_PROMPTS


def test_out_of_hours_the_closed_message_is_followed_by_the_configured_hours() -> None:
    closed = CallAnswered(officer_open=False, hours=("ivr_officer_hours",))
    _, asked = run(closed, Keyed("0"))
    assert heard(asked)[-3:] == ["ivr_officer_closed", "ivr_officer_hours", "ivr_menu_main"]
    _, escalated = run(closed, Keyed("1"), Keyed("2411290001"), TooManyLookups())
    assert heard(escalated)[-4:] == [
        "ivr_too_many_lookups",
        "ivr_officer_closed",
        "ivr_officer_hours",
        "ivr_goodbye",
    ]


def test_the_hours_script_is_composed_from_the_settings() -> None:
    from datetime import time

    from ivr.settings import OfficeHours
    from messages.voice import officer_hours_script

    assert officer_hours_script([OfficeHours()]) == (
        "Giờ làm việc là Thứ Hai đến Thứ Sáu, từ 7 giờ 30 đến 17 giờ, trừ ngày lễ."
    )
    saturday = OfficeHours(weekdays=(5,), start=time(8), end=time(11, 30))
    odd = OfficeHours(weekdays=(0, 2), start=time(13), end=time(16, 45))
    assert officer_hours_script([odd, saturday]) == (
        "Giờ làm việc là Thứ Hai, Thứ Tư, từ 13 giờ đến 16 giờ 45; "
        "Thứ Bảy, từ 8 giờ đến 11 giờ 30, trừ ngày lễ."
    )


def test_no_prompt_says_fixed_office_days() -> None:
    # The days and hours belong to settings (ivr_officer_hours), not to a recorded sentence.
    texts = [p.text.casefold() for p in load_catalog()]
    assert [t for t in texts if "thứ hai" in t or "thứ sáu" in t] == []
