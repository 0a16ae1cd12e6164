"""Whole calls: the real FastAGI server, a simulated Asterisk on loopback, a real SQLite file.

Each test asserts what the caller hears, in order, and what the dialplan is told.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import types
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.settings import Settings
from ivr.server import AgiServer
from ivr.service import build_server
from ivr.store import IvrStore
from kernel.bus import EventBus
from lookup.codes import KEYPAD_MAX_DIGITS
from lookup.model import Dossier, FullView, Procedure, PublicView, Status
from lookup.port import DossierLookup, Proof
from lookup.sqlite import DossierStore, SqliteLookup
from peers.asterisk import CallRecord, SimulatedAsterisk
from tests.peers.lookup import DownLookup

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 11, 30)  # a Monday
MONDAY_10AM = datetime(2026, 11, 30, 10, 0, tzinfo=ZONE)
SUNDAY_10AM = datetime(2026, 11, 29, 10, 0, tzinfo=ZONE)


def dossier(agency: str, seq: int, status: Status, due_in_days: int, **more: Any) -> Dossier:
    values: dict[str, Any] = {
        "code": f"{agency}-241129-{seq:04d}",
        "agency_id": agency,
        "procedure_code": "1.001193",
        "procedure_name": "Đăng ký khai sinh",
        "status": status,
        "received_on": date(2024, 11, 29),
        "due_on": TODAY + timedelta(days=due_in_days),
        "applicant_name": "Nguyễn Thị Lan",
        "applicant_phones": ("0912345678",),
        "applicant_id_number": "001190012345",
        **more,
    }
    return Dossier(**values)


DOSSIERS = [
    dossier("000.00.18.H26", 1, Status.READY, 2, ready_on=TODAY, secret="739204"),
    # Same keypad digits 2411290001, another agency of the switchboard: ambiguous.
    dossier("000.00.19.H26", 1, Status.RECEIVED, 1, applicant_phones=("0987654321",)),
    dossier("000.00.18.H26", 2, Status.PROCESSING, -3),  # overdue
]
PROCEDURES = [
    Procedure(
        "1.001193",
        "Đăng ký khai sinh",
        ("Tờ khai đăng ký khai sinh", "Giấy chứng sinh"),
        "Miễn lệ phí",
        "Ngay trong ngày làm việc",
        common=True,
    ),
    Procedure("2.000001", "Cấp giấy phép xây dựng", ("Đơn đề nghị",), "", "", common=False),
]


@pytest.fixture
async def lookup(tmp_path: Path) -> AsyncIterator[SqliteLookup]:
    path = tmp_path / "tracuu.sqlite3"
    store = await DossierStore.open(path)
    await store.upsert_dossiers(DOSSIERS)
    await store.upsert_procedures(PROCEDURES)
    await store.close()
    agencies = {a.id: a.name for a in Settings().agencies}
    opened = await SqliteLookup.open(path, agencies=agencies, collection_place="Bộ phận Một cửa")
    yield opened
    await opened.close()


def settings(**agi: Any) -> Settings:
    return Settings(agi={"port": 4573, **agi})


async def call(
    lookup: DossierLookup,
    keys: str,
    *,
    caller: str = "",
    now: datetime = MONDAY_10AM,
    bus: EventBus | None = None,
    params: dict[str, str] | None = None,
    **agi: Any,
) -> CallRecord:
    # Every prompt rendered; the tests of missing prompts use a real sounds directory.
    server = build_server(
        settings(**agi), lookup, bus=bus, clock=lambda: now, available=lambda _: True
    )
    return await dial(server, keys, caller=caller, params=params)


async def dial(
    server: AgiServer, keys: str, *, caller: str = "", params: dict[str, str] | None = None
) -> CallRecord:
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    try:
        async with asyncio.timeout(10):
            peer = SimulatedAsterisk(keys, caller=caller, params=params)
            return await peer.call("127.0.0.1", server.port)
    finally:
        await server.stop(drain_s=1.0)


KEYS = '"0123456789*#"'


def heard(record: CallRecord) -> list[str]:
    return [h.prompt.removeprefix("tracuu/") for h in record.heard]


async def test_caller_keys_a_unique_code_and_hears_its_status(lookup: SqliteLookup) -> None:
    record = await call(lookup, "1 2411290002# _ _ _")
    said = heard(record)
    assert said[:4] == ["ivr_welcome", "ivr_menu_main", "ivr_enter_code", "ivr_please_wait"]
    answer = said[4 : said.index("ivr_after_result")]
    # The status first (issue 11: the caller called for it), then the code read back to
    # confirm which dossier it is, never a name.
    assert answer[:2] == ["dossier_this", "status_processing"]
    assert answer.index("status_processing") < answer.index("due_date")
    digits = [f"digit_{d}" for d in "241129"] + ["code_sequence"]
    digits += [f"digit_{d}" for d in "0002"]
    confirm = answer.index("dossier_code")
    assert confirm > answer.index("due_date")
    assert answer[confirm + 1 : confirm + 12] == digits
    assert "now_overdue" in answer  # due three days ago (lookup/demo.py)
    assert not any(p.startswith("greeting_named") for p in answer)
    assert said[-2:] == ["ivr_after_result", "ivr_goodbye"]
    assert record.variables == {"TRACUU_NEXT": "goodbye"}
    assert record.ended == "returned"


async def test_ambiguous_digits_ask_for_the_agency_then_speak_the_chosen_one(
    lookup: SqliteLookup,
) -> None:
    record = await call(lookup, "1 2411290001# 2 0")
    said = heard(record)
    choose = said.index("ivr_choose_agency")
    assert said[choose - 1] == "ivr_several_found"
    assert said[choose + 1] == "ivr_press_1"
    assert "ivr_press_2" in said[choose:]
    spoken = said[said.index("ivr_press_2") + 2 : said.index("ivr_after_result")]
    assert "status_received" in spoken  # the 000.00.19.H26 dossier is "được tiếp nhận"
    assert said[-1] == "ivr_connecting_officer"
    assert record.variables == {"TRACUU_NEXT": "officer"}


async def test_a_numbers_agency_parameter_keeps_its_callers_to_its_own_dossiers(
    lookup: SqliteLookup, caplog: pytest.LogCaptureFixture
) -> None:
    # 2411290001 exists at both agencies; this DID answers for 000.00.19.H26 only.
    record = await call(lookup, "1 2411290001# _ _ _", params={"agency": "000.00.19.H26"})
    said = heard(record)
    assert "ivr_choose_agency" not in said
    answer = said[said.index("ivr_please_wait") + 1 : said.index("ivr_after_result")]
    assert "status_received" in answer  # the 000.00.19.H26 dossier, not the ready one
    assert "status_ready" not in answer
    # The other agency's own code is "not found" on this number.
    other = await call(lookup, "1 2411290002# 0", params={"agency": "000.00.19.H26"})
    assert "not_found" in heard(other)
    assert "status_processing" not in heard(other)
    assert "ERROR" not in caplog.text


@pytest.mark.parametrize(
    ("query", "args"),
    [
        ("agency=000.00.18.H26", ("000.00.19.H26&lang=vi",)),  # AGI() cut it at the comma
        ("agency=000.00.18.H26+000.00.19.H26&lang=vi", ()),
        ("agency=000.00.18.H26%2C000.00.19.H26&lang=vi", ()),
        ("agency=000.00.18.H26|000.00.19.H26&lang=vi", ()),
        ("agency=000.00.18.H26;000.00.19.H26&lang=vi", ()),  # \\; in extensions.conf
    ],
    ids=["comma", "plus", "%2C", "bar", "semicolon"],
)
async def test_a_number_for_two_agencies_answers_for_both_however_they_are_separated(
    lookup: SqliteLookup, query: str, args: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    server = build_server(settings(), lookup, clock=lambda: MONDAY_10AM, available=lambda _: True)
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    try:
        async with asyncio.timeout(10):
            peer = SimulatedAsterisk("1 2411290001# 2 0", query=query, args=args)
            record = await peer.call("127.0.0.1", server.port)
    finally:
        await server.stop(drain_s=1.0)
    # The digits are both agencies' dossiers: the caller is asked which one.
    assert "ivr_choose_agency" in heard(record)
    assert "names agencies not in settings.agencies" not in caplog.text


async def test_an_unknown_agency_parameter_is_logged_and_every_agency_answers(
    lookup: SqliteLookup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr")
    record = await call(lookup, "1 2411290001# 2 0", params={"agency": "hn", "lang": "en"})
    assert "ivr_choose_agency" in heard(record)  # both agencies, as without the parameter
    assert "agency=hn names agencies not in settings.agencies" in caplog.text
    assert "lang=en asked; only vi is recorded, speaking vi" in caplog.text


async def test_not_found_twice_reads_the_digits_back_then_transfers(lookup: SqliteLookup) -> None:
    record = await call(lookup, "1 2411299999# 2411299998#")
    said = heard(record)
    first = said.index("not_found")
    assert said[first + 1 : first + 7] == [
        "digit_2",
        "digit_4",
        "digit_1",
        "digit_1",
        "digit_2",
        "digit_9",
    ]
    assert said.count("not_found") == 2
    assert said[-1] == "ivr_connecting_officer"
    assert record.variables == {"TRACUU_NEXT": "officer"}


async def test_out_of_hours_officer_request_is_answered_and_the_menu_goes_on(
    lookup: SqliteLookup,
) -> None:
    record = await call(lookup, "0 _ _ _", now=SUNDAY_10AM)
    said = heard(record)
    closed = ["ivr_officer_closed", "ivr_officer_hours"]  # the hours as the settings say
    assert said[:5] == ["ivr_welcome", "ivr_menu_main", *closed, "ivr_menu_main"]
    assert said[-3:] == [*closed, "ivr_goodbye"]  # silence, out of hours: goodbye
    assert record.variables == {"TRACUU_NEXT": "goodbye"}


async def test_holiday_closes_the_officer_line(lookup: SqliteLookup) -> None:
    record = await call(lookup, "0 9", holidays=[TODAY.isoformat()])
    assert heard(record)[2] == "ivr_officer_closed"


async def test_barge_in_a_key_during_the_welcome_answers_the_menu(lookup: SqliteLookup) -> None:
    record = await call(lookup, ">1 2411290002# 0")
    assert record.heard[0].interrupted_by == "1"
    assert heard(record)[:2] == ["ivr_welcome", "ivr_enter_code"]  # the menu was skipped


async def test_barge_in_a_whole_code_typed_over_the_question(lookup: SqliteLookup) -> None:
    # Code keyed over "not found": the first key interrupts the prompt, and ONE command
    # collects the rest (res_agi.c drops keys pressed between two commands).
    record = await call(lookup, "1 2411299999# >2411290002# 0")
    said = heard(record)
    assert said.count("not_found") == 1
    assert "dossier_code" in said
    interrupted = record.commands.index(f"STREAM FILE tracuu/not_found {KEYS}")
    assert record.commands[interrupted + 1] == f'GET DATA "" 5000 {KEYPAD_MAX_DIGITS}'
    assert record.commands[interrupted + 2].startswith("STREAM FILE tracuu/ivr_please_wait")
    assert not any(c.startswith("WAIT FOR DIGIT") for c in record.commands)
    assert record.variables == {"TRACUU_NEXT": "officer"}


async def test_guidance_reads_a_common_procedure(lookup: SqliteLookup) -> None:
    record = await call(lookup, "2 1 9 0")
    said = heard(record)
    options = said[said.index("ivr_choose_procedure") :]
    assert options[1] == "ivr_press_1"
    assert options[2].startswith("txt_")
    detail = said[said.index("procedure_guidance") : said.index("ivr_after_guidance")]
    assert "documents_needed" in detail
    assert said[-2:] == ["ivr_menu_main", "ivr_connecting_officer"]


async def test_your_dossiers_need_the_second_factor(lookup: SqliteLookup) -> None:
    record = await call(lookup, "3 012345# 0", caller="0912345678")
    said = heard(record)
    assert said[:4] == ["ivr_welcome", "ivr_menu_main_mine", "ivr_enter_secret", "ivr_please_wait"]
    assert said[4] == "several_dossiers"
    assert "ivr_after_mine" in said


async def test_a_wrong_secret_reveals_nothing_not_even_a_count(lookup: SqliteLookup) -> None:
    known = await call(lookup, "3 1111# 2222# _ _ _", caller="0912345678")
    unknown = await call(lookup, "3 1111# 2222# _ _ _", caller="0900000001")
    assert heard(known) == heard(unknown)
    assert "several_dossiers" not in heard(known)
    assert not any(p.startswith(("dossier_code", "status_")) for p in heard(known))


async def test_caller_id_alone_is_not_a_second_factor(lookup: SqliteLookup) -> None:
    # The receipt PIN of another person's dossier is not accepted for this caller's list.
    record = await call(lookup, "3 9999# _ _ _", caller="0912345678")
    assert "several_dossiers" not in heard(record)


def sequences_read(said: list[str]) -> list[str]:
    """The sequence part of every dossier code read out, in order ("0001", ...)."""
    at = [i for i, prompt in enumerate(said) if prompt == "code_sequence"]
    return ["".join(p.removeprefix("digit_") for p in said[i + 1 : i + 5]) for i in at]


async def test_the_pin_of_one_dossier_reads_it_and_never_locks_the_callers_other(
    lookup: SqliteLookup,
) -> None:
    # 0001 (receipt PIN 739204) and 0002 are both registered to 0912345678. When each
    # dossier was checked apart, every call counted a wrong secret on 0002: the fifth
    # honest call locked it.
    other = DOSSIERS[2].code
    for _ in range(6):
        said = heard(await call(lookup, "3 739204# _ _ _", caller="0912345678"))
        assert said[4:7] == ["several_dossiers", "num_1", "several_dossiers_tail"]
        assert sequences_read(said) == ["0001"]  # only the dossier the PIN proves
        assert "ivr_secret_not_verified" not in said
    assert await lookup.secret_locked(other) is False
    # The ID digits prove the person: both dossiers are read, newest first.
    said = heard(await call(lookup, "3 012345# _ _ _", caller="0912345678"))
    assert said[4:7] == ["several_dossiers", "num_2", "several_dossiers_tail"]
    assert sequences_read(said) == ["0002", "0001"]


async def test_wrong_secrets_lock_every_dossier_of_the_number_and_the_caller_is_told(
    lookup: SqliteLookup,
) -> None:
    for _ in range(2):  # four wrong secrets: each one attempt at both dossiers
        said = heard(await call(lookup, "3 111111# 222222# _ _ _", caller="0912345678"))
        assert said.count("ivr_enter_secret") == 2
    assert not await lookup.secret_locked(DOSSIERS[0].code)
    said = heard(await call(lookup, "3 333333# _ _ _", caller="0912345678"))  # the fifth
    assert said.count("ivr_enter_secret") == 1  # locked: no second try that could not work
    assert "ivr_secret_contact_office" in said
    for dossier_of_the_number in (DOSSIERS[0], DOSSIERS[2]):
        assert await lookup.secret_locked(dossier_of_the_number.code) is True
    assert await lookup.secret_locked(DOSSIERS[1].code) is False  # another number's
    said = heard(await call(lookup, "3 739204# _ _ _", caller="0912345678"))  # the right PIN
    assert sequences_read(said) == []
    assert "ivr_secret_contact_office" in said


class StuckLookup(DownLookup):
    """A store that accepts the query and never answers (a hung database)."""

    async def by_keypad_digits(self, digits: str, *, any_agency: bool = False) -> list[PublicView]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.mark.parametrize("broken", [DownLookup(), StuckLookup()], ids=["down", "stuck"])
async def test_lookup_down_or_stuck_says_busy_and_offers_an_officer(broken: DownLookup) -> None:
    record = await call(broken, "1 2411290001# 0", lookup_timeout_s=0.05)
    said = heard(record)
    assert said[3:6] == ["ivr_please_wait", "ivr_system_busy", "ivr_busy_menu"]
    assert said[-1] == "ivr_connecting_officer"
    assert record.variables == {"TRACUU_NEXT": "officer"}


async def test_caller_hanging_up_mid_call_ends_the_session_cleanly(
    lookup: SqliteLookup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = build_server(settings(), lookup, clock=lambda: MONDAY_10AM)
    record = await dial(server, "1 H")
    assert record.ended == "caller_hangup"
    assert record.commands[-1].startswith("GET DATA tracuu/ivr_enter_code")  # nothing after
    assert server.active_calls == 0
    assert "caller hung up" in caplog.text
    assert "Traceback" not in caplog.text


async def test_the_callers_number_never_appears_in_the_logs(
    lookup: SqliteLookup, caplog: pytest.LogCaptureFixture
) -> None:
    # Our loggers at DEBUG; aiosqlite stays at INFO as kernel.logs.setup_logging holds it.
    caplog.set_level(logging.DEBUG, logger="ivr")
    await call(lookup, "3 012345# 0", caller="0912345678")
    assert "0912345678" not in caplog.text
    assert "+84912345678" not in caplog.text
    assert "+84******678" in caplog.text  # masked, still useful to match a complaint


async def test_line_state_is_published_and_cleared(lookup: SqliteLookup) -> None:
    bus = EventBus()
    async with bus.subscribe() as sub:
        await call(lookup, "1 2411290002# 0", bus=bus)
        events = []
        while not sub._queue.empty():
            events.append(await sub.get())
    stages = [e.data["stage"] for e in events if e.topic == "ivr_call"]
    assert stages[:3] == ["menu", "code", "looking_up"]
    ended = [e for e in events if e.topic == "ivr_call_ended"]
    assert len(ended) == 1
    assert "officer_asked" in ended[0].data["events"]
    assert not [k for k in bus.latest if k[0] == "ivr_call"]


# ---- the answered side of outbound notification calls, and call statistics


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[IvrStore]:
    opened = await IvrStore.open(tmp_path / "tracuu.sqlite3")
    yield opened
    await opened.close()


async def notify_call(
    lookup: DossierLookup,
    store: IvrStore,
    notify_id: str,
    keys: str,
    hangup_after_commands: int | None = None,
) -> CallRecord:
    server = build_server(
        settings(), lookup, clock=lambda: MONDAY_10AM, store=store, available=lambda _: True
    )
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    try:
        async with asyncio.timeout(10):
            peer = SimulatedAsterisk(
                keys,
                script="notify",
                params={"id": notify_id},
                hangup_after_commands=hangup_after_commands,
            )
            return await peer.call("127.0.0.1", server.port)
    finally:
        await server.stop(drain_s=1.0)


async def test_notification_call_says_its_message_and_replays_on_1(
    lookup: SqliteLookup, store: IvrStore
) -> None:
    code = "000.00.18.H26-241129-0001"
    await store.add_notification("n1", "+84912345678", code, "result_ready", MONDAY_10AM)
    await store.mark_originating("n1", "tracuu-notify/n1/1", MONDAY_10AM)
    record = await notify_call(lookup, store, "n1", "1 _")
    said = heard(record)
    message = said[: said.index("ivr_notify_replay")]
    assert "status_ready" in message
    assert said == [*message, "ivr_notify_replay", *message, "ivr_notify_replay", "ivr_goodbye"]
    assert record.variables == {"TRACUU_NEXT": "goodbye"}
    row = await store.get("n1")
    assert row is not None
    assert (row.state, row.outcome) == ("done", "heard")


async def test_notification_answered_then_hung_up_is_done_and_never_redialled(
    lookup: SqliteLookup, store: IvrStore
) -> None:
    await store.add_notification(
        "n1", "+84912345678", "000.00.18.H26-241129-0001", "result_ready", MONDAY_10AM
    )
    await store.mark_originating("n1", "tracuu-notify/n1/1", MONDAY_10AM)
    record = await notify_call(lookup, store, "n1", "H")
    assert record.ended == "caller_hangup"
    row = await store.get("n1")
    assert row is not None
    assert (row.state, row.outcome) == ("done", "answered")


async def test_a_notification_hung_up_mid_message_sends_nothing_more(
    lookup: SqliteLookup, store: IvrStore
) -> None:
    await store.add_notification(
        "n1", "+84912345678", "000.00.18.H26-241129-0001", "result_ready", MONDAY_10AM
    )
    await store.mark_originating("n1", "tracuu-notify/n1/1", MONDAY_10AM)
    # ANSWER, the first prompt, then the caller leaves during the second one.
    record = await notify_call(lookup, store, "n1", "", hangup_after_commands=2)
    assert record.ended == "caller_hangup"
    assert len(record.commands) == 3
    assert record.commands[2].startswith("STREAM FILE")
    row = await store.get("n1")
    assert row is not None
    assert (row.state, row.outcome) == ("done", "answered")


async def test_an_unknown_notification_apologises_rather_than_stay_silent(
    lookup: SqliteLookup, store: IvrStore
) -> None:
    record = await notify_call(lookup, store, "nosuch", "_")
    assert heard(record) == ["ivr_service_unavailable", "ivr_notify_replay", "ivr_goodbye"]


async def test_call_events_are_stored_for_statistics(lookup: SqliteLookup, store: IvrStore) -> None:
    server = build_server(settings(), lookup, clock=lambda: MONDAY_10AM, store=store)
    await dial(server, "1 2411299999# H")
    counts = await store.event_counts(MONDAY_10AM - timedelta(days=1))
    assert counts == {"menu": 1, "code_asked": 1, "code_keyed": 1, "not_found": 1, "hung_up": 1}


async def test_the_caller_is_back_in_the_dialplan_before_the_events_are_stored(
    lookup: SqliteLookup, store: IvrStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store's group commit waits for other calls: the caller must not.
    committed = asyncio.Event()
    record_events = store.record_events

    async def slow(uniqueid: str, at: datetime, events: Iterable[str]) -> None:
        await committed.wait()
        await record_events(uniqueid, at, events)

    monkeypatch.setattr(store, "record_events", slow)
    server = build_server(settings(), lookup, clock=lambda: MONDAY_10AM, store=store)
    await server.start()
    try:
        async with asyncio.timeout(10):
            peer = SimulatedAsterisk("1 2411299999# _ _ _", caller="0912345678")
            record = await peer.call("127.0.0.1", server.port)
        assert record.ended == "returned"
        assert record.variables.get("TRACUU_NEXT") == "officer"  # three codes not found
        assert await store.event_counts(MONDAY_10AM - timedelta(days=1)) == {}
        committed.set()
    finally:
        await server.stop(drain_s=5.0)
    counts = await store.event_counts(MONDAY_10AM - timedelta(days=1))
    assert counts["not_found"] == 1


async def test_keys_typed_over_a_prompt_then_a_pause_end_at_the_inter_digit_timeout(
    lookup: SqliteLookup,
) -> None:
    # "24" keyed over "not found…", then nothing: the '2' interrupts the prompt, one
    # GET DATA without a prompt collects the '4' and ends at the inter-digit timeout.
    record = await call(lookup, "1 2411299999# >24 _ _ _")
    said = heard(record)
    assert said[:5] == [
        "ivr_welcome",
        "ivr_menu_main",
        "ivr_enter_code",
        "ivr_please_wait",
        "not_found",
    ]
    assert record.heard[4].interrupted_by == "2"
    assert said[5:7] == ["ivr_code_too_short", "ivr_enter_code"]
    after = record.commands[record.commands.index(f"STREAM FILE tracuu/not_found {KEYS}") + 1]
    assert after == f'GET DATA "" 5000 {KEYPAD_MAX_DIGITS}'
    assert not any(c.startswith("WAIT FOR DIGIT") for c in record.commands)


async def test_a_missing_prompt_file_does_not_end_the_call(lookup: SqliteLookup) -> None:
    # STREAM FILE of a missing file answers "200 result=-1 endpos=0", like a hang-up; the
    # next command shows the caller is still there, so the call goes on.
    server = build_server(settings(), lookup, clock=lambda: MONDAY_10AM)
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    try:
        async with asyncio.timeout(10):
            peer = SimulatedAsterisk(
                "1 2411290002# _ _ _", exists=lambda name: name != "tracuu/ivr_welcome"
            )
            record = await peer.call("127.0.0.1", server.port)
    finally:
        await server.stop(drain_s=1.0)
    assert record.heard[0].missing
    assert heard(record)[-1] == "ivr_goodbye"
    assert record.variables == {"TRACUU_NEXT": "goodbye"}


async def test_a_caller_id_that_keeps_looking_up_is_stopped_across_calls(
    lookup: SqliteLookup,
) -> None:
    server = build_server(settings(lookups_per_hour=2), lookup, clock=lambda: MONDAY_10AM)
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    try:
        async with asyncio.timeout(10):
            records = [
                await SimulatedAsterisk("1 2411299999# 0", caller="0912345678").call(
                    "127.0.0.1", server.port
                )
                for _ in range(3)
            ]
            hidden = await SimulatedAsterisk("1 2411299999# 0").call("127.0.0.1", server.port)
    finally:
        await server.stop(drain_s=1.0)
    assert [heard(r).count("not_found") for r in records] == [1, 1, 0]
    assert heard(records[2])[-2:] == ["ivr_too_many_lookups", "ivr_connecting_officer"]
    assert heard(hidden).count("not_found") == 1  # a hidden number is not counted


def test_voice_texts_cover_every_dynamic_prompt_the_guidance_menu_plays() -> None:
    from ivr.speech import Speech
    from messages.parts import dynamic_prompt_id
    from messages.voice import voice_texts
    from prompts.catalog import load_catalog

    office = Settings().office
    speech = Speech(load_catalog(), office)
    played = {p for g in map(speech.guide, PROCEDURES) for p in (*g.name, *g.detail)}
    rendered = {dynamic_prompt_id(t) for t in voice_texts(PROCEDURES, ["UBND phường Cửa Nam"])}
    assert {p for p in played if p.startswith("txt_")} <= rendered
    assert dynamic_prompt_id("UBND phường Cửa Nam") in rendered


def _sounds_with(sounds: Path, prompt_ids: Iterable[str]) -> Callable[[str], bool]:
    """A live directory holding every format of these prompts; `exists` for the simulator."""
    live = sounds / "vi" / "tracuu"
    live.mkdir(parents=True)
    for prompt_id in prompt_ids:
        for fmt in ("alaw", "ulaw", "sln", "sln16", "wav"):
            (live / f"{prompt_id}.{fmt}").write_bytes(b"\0" * 160)
    return lambda name: (live / f"{name.removeprefix('tracuu/')}.wav").is_file()


async def test_a_free_text_without_audio_is_never_streamed_the_caller_hears_a_fallback(
    tmp_path: Path,
) -> None:
    from messages.parts import dynamic_prompt_id
    from prompts.catalog import load_catalog

    path = tmp_path / "imported.sqlite3"
    store = await DossierStore.open(path)
    place = "Tầng 2, nhà B, số 12 Lý Thái Tổ"  # came with an import: never rendered
    ready = dossier("000.00.18.H26", 5, Status.READY, 0, ready_on=TODAY, collection_place=place)
    await store.upsert_dossiers([ready])
    await store.close()
    office = Settings().office
    # Rendered: the catalog, the procedure and agency names, the office's own place; not the
    # dossier's place and not the office hours.
    rendered = [p.id for p in load_catalog()]
    rendered += [dynamic_prompt_id(t) for t in ("Đăng ký khai sinh", office.collection_place)]
    rendered += [dynamic_prompt_id(a.name) for a in Settings().agencies]
    exists = _sounds_with(tmp_path / "sounds", rendered)
    bus = EventBus()
    lookup = await SqliteLookup.open(path, agencies={"000.00.18.H26": "UBND phường Cửa Nam"})
    try:
        server = build_server(
            Settings(agi={"port": 4573}, sounds={"dir": str(tmp_path / "sounds")}),
            lookup,
            bus=bus,
            clock=lambda: MONDAY_10AM,
        )
        server._settings = server._settings.model_copy(update={"port": 0})
        await server.start()
        async with bus.subscribe() as events, asyncio.timeout(10):
            peer = SimulatedAsterisk("1 2411290005# _ _ _", exists=exists)
            record = await peer.call("127.0.0.1", server.port)
            await server.stop(drain_s=1.0)
            wanted = [e.data for e in _drain(events) if e.topic == "prompt_wanted"]
    finally:
        await lookup.close()

    said = heard(record)
    assert [h.prompt for h in record.heard if h.missing] == []  # no silence anywhere
    answer = said[said.index("ivr_please_wait") + 1 : said.index("ivr_after_result")]
    assert "status_ready" in answer
    at = answer.index("collect_at")
    assert answer[at + 1] == dynamic_prompt_id(office.collection_place)  # the office's place
    assert "office_hours" not in answer  # "Giờ làm việc:" is not left hanging without hours
    assert wanted == [{"text": place}, {"text": office.hours}]  # asked for once each
    assert said[-2:] == ["ivr_after_result", "ivr_goodbye"]


def _drain(events: Any) -> list[Any]:
    out = []
    while not events._queue.empty():
        out.append(events._queue.get_nowait())
    return out


class _LockedLookup:
    """The caller's dossiers, with secret checks locked by earlier wrong secrets."""

    def __init__(self, inner: SqliteLookup) -> None:
        self.inner = inner
        self.asked: list[str] = []

    async def by_phone(self, phone: str) -> list[PublicView]:
        return await self.inner.by_phone(phone)

    async def full(self, code: str, proof: Proof) -> FullView | None:
        return None  # locked: even the right secret is refused

    async def secret_locked(self, code: str) -> bool:
        self.asked.append(code)
        return True


async def test_a_caller_whose_secret_checks_are_locked_is_told_to_contact_the_office(
    lookup: SqliteLookup,
) -> None:
    locked = _LockedLookup(lookup)
    record = await call(locked, "3 739204 0", caller="0912345678")  # type: ignore[arg-type]
    said = heard(record)
    refused = said.index("ivr_secret_not_verified")
    assert said[refused : refused + 3] == [
        "ivr_secret_not_verified",
        "ivr_secret_contact_office",
        "ivr_menu_main_mine",
    ]
    assert said.count("ivr_enter_secret") == 1  # no second try that could not work
    assert said[-1] == "ivr_connecting_officer"  # 0: a person, in office hours
    assert locked.asked  # asked only after the secret was refused


def test_a_free_text_without_audio_is_left_out_with_its_lead_in_and_nothing_else() -> None:
    from ivr.speech import Speech
    from messages.parts import dynamic_prompt_id
    from prompts.catalog import load_catalog

    rendered = {"Đăng ký khai sinh", "Giấy chứng sinh", "UBND phường Cửa Nam"}
    wanted: list[str] = []
    speech = Speech(
        load_catalog(),
        Settings().office,
        available=lambda pid: pid in {dynamic_prompt_id(t) for t in rendered},
        wanted=wanted.append,
        agency_names={"000.00.18.H26": "UBND phường Cửa Nam"},
    )
    guide = speech.guide(
        Procedure(
            "1",
            "Đăng ký khai sinh",
            ("Tờ khai đăng ký khai sinh", "Giấy chứng sinh"),  # the first one not rendered
            "Miễn phí",  # a catalog phrase, not a free text: its label stays
            "Ngay trong ngày làm việc",  # not rendered: its label goes too
        )
    )
    detail = guide.detail
    assert detail[:2] == ("procedure_guidance", dynamic_prompt_id("Đăng ký khai sinh"))
    assert detail[2:4] == ("documents_needed", dynamic_prompt_id("Giấy chứng sinh"))
    assert "fee_label" in detail
    assert "fee_free" in detail
    assert "processing_time_label" not in detail
    assert not [p for p in detail if p.startswith("txt_") and p not in guide.name + detail[:4]]
    assert wanted == ["Tờ khai đăng ký khai sinh", "Ngay trong ngày làm việc"]

    nameless = dossier("000.00.18.H26", 9, Status.PROCESSING, 3, procedure_name="Thủ tục mới")
    answer = speech.answer(nameless.public(), TODAY)
    assert "procedure_of" not in answer.status  # "thủ tục" without its name: left out
    assert answer.status[:2] == ("dossier_this", "status_processing")
    assert "dossier_code" in answer.status  # the code confirms it, after the status
    assert answer.choice == (dynamic_prompt_id("UBND phường Cửa Nam"),)  # configured name
    unknown = dossier("000.00.77.H26", 9, Status.PROCESSING, 3, agency_name="Sở Mới")
    choice = speech.answer(unknown.public(), TODAY).choice
    assert choice[:2] == ("digit_2", "digit_4")  # neither name has audio: the code, read out


@pytest.mark.parametrize("extra", ["1", "0000001"], ids=["13 digits", "19 digits"])
async def test_a_code_longer_than_any_is_too_long_never_cut_and_looked_up(
    lookup: SqliteLookup, extra: str
) -> None:
    # 241129 and a sequence of 7 or 13 digits: KEYPAD_MAX_DIGITS (12) at most is a code.
    keyed = "241129000000" + extra
    assert len(keyed) > KEYPAD_MAX_DIGITS
    record = await call(lookup, f"1 {keyed}# 0")
    said = heard(record)
    assert said[:4] == ["ivr_welcome", "ivr_menu_main", "ivr_enter_code", "ivr_code_too_long"]
    assert "ivr_code_bad_sequence" not in said
    assert "ivr_code_too_short" not in said
    assert "ivr_please_wait" not in said  # nothing looked up
    assert "dossier_code" not in said
    assert f"GET DATA tracuu/ivr_enter_code 8000 {KEYPAD_MAX_DIGITS + 1}" in record.commands


# ---- what a call leaves for the garbage collector (issue 8: every object a call keeps
# alive, or leaves in a cycle, lengthens every collection, dead air for every call)

_OURS = ("ivr.", "lookup.", "kernel.", "messages.")
_OUR_DIRS = tuple(f"/{d[:-1]}/" for d in _OURS)


def _ours(obj: object) -> bool:
    """An object of the server's own making: one of its types, or a coroutine, frame or
    task running its code."""
    if type(obj).__module__.startswith(_OURS):
        return True
    if isinstance(obj, asyncio.Task):
        obj = obj.get_coro()
    code = getattr(obj, "cr_code", None) or getattr(obj, "f_code", None)
    return code is not None and any(d in code.co_filename for d in _OUR_DIRS)


async def test_calls_leave_no_cyclic_garbage_of_their_own(lookup: SqliteLookup) -> None:
    """Whole calls (status heard, not found, hang-ups mid-prompt and mid-keying, silence)
    free what they made by reference counting: nothing of the server's own is left in a
    cycle for the collector. DEBUG_SAVEALL keeps whatever any collection finds."""
    paths = ["1 2411290002# _ _ _", "1 2411290009# 2411290008# 0", "1 H", "1 24112H", "_ _ _"]
    server = build_server(settings(), lookup, clock=lambda: MONDAY_10AM, available=lambda _: True)
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    try:
        async with asyncio.timeout(30):
            for keys in paths:  # warm: caches, lazy imports, first-use state
                await SimulatedAsterisk(keys).call("127.0.0.1", server.port)
            await asyncio.sleep(0.05)
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for n in range(4):
                    for keys in paths:
                        peer = SimulatedAsterisk(keys, uniqueid=f"1732860000.{n}")
                        await peer.call("127.0.0.1", server.port)
                await asyncio.sleep(0.05)  # the last connection_lost callbacks
                gc.collect()
                left = sorted({repr(o)[:100] for o in gc.garbage if _ours(o)})
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
    finally:
        await server.stop(drain_s=1.0)
    assert left == []


class _HeldAsterisk(SimulatedAsterisk):
    """Stops answering at its `at`-th command until `go` is set (the call in flight)."""

    def __init__(self, keys: str, at: int, there: asyncio.Event, go: asyncio.Event) -> None:
        super().__init__(keys)
        self._at, self._there, self._go = at, there, go

    async def _execute(self, command: str) -> bytes:
        if len(self.record.commands) == self._at:
            self._there.set()
            await self._go.wait()
        return await super()._execute(command)


@pytest.mark.parametrize(
    ("at", "command", "most"),
    [(2, "STREAM FILE tracuu/ivr_welcome", 4), (3, "GET DATA tracuu/ivr_menu_main", 5)],
    ids=["prompt", "question"],
)
async def test_a_call_in_flight_keeps_few_coroutines(
    lookup: SqliteLookup, at: int, command: str, most: int
) -> None:
    """The coroutines a call keeps alive while it waits for Asterisk's reply, which every
    full collection walks for every call in flight: the connection, the call, its step,
    the question (GET DATA only) and the wire's exchange. No wrapper layers, no
    per-command helper coroutines; the wire waits on a future, not a coroutine."""
    server = build_server(settings(), lookup, clock=lambda: MONDAY_10AM, available=lambda _: True)
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    there, go = asyncio.Event(), asyncio.Event()
    peer = _HeldAsterisk("1 2411290002# 0", at, there, go)
    try:
        async with asyncio.timeout(10):
            task = asyncio.create_task(peer.call("127.0.0.1", server.port))
            await there.wait()
            held = [
                o.cr_code.co_qualname
                for o in gc.get_objects()
                if isinstance(o, types.CoroutineType) and _ours(o) and o.cr_frame is not None
            ]
            held.remove("AgiServer._accept_loop")  # the server's, not the call's
            go.set()
            await task
    finally:
        await server.stop(drain_s=1.0)
    assert peer.record.commands[at - 1].startswith(command)
    assert len(held) <= most, held
