"""The FastAGI edge against Asterisk peers that follow res_agi.c line by line."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from gateway.settings import Settings
from ivr.agi_wire import (
    AgiChannel,
    AgiCommandRejected,
    CallerHungUp,
    parse_reply,
    parse_request,
)
from ivr.server import SETUP_SLOTS, AgiServer
from ivr.service import build_server
from peers.asterisk import SimulatedAsterisk
from tests.peers.asterisk import (
    ENV,
    HUNG_UP_GET_DATA,
    HUNG_UP_STREAM,
    Outcome,
    Then,
    agi_server,
    raw_asterisk,
    recording_route,
)

pytestmark = pytest.mark.no_store

USAGE_520 = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b" Usage: STREAM FILE <filename> <escape digits> [sample offset]\n"
    b" Send the given file, allowing playback to be interrupted by the given digits, if any.\n"
    b"520 End of proper usage.\n"
)
DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"


@pytest.mark.parametrize(
    ("line", "result", "data", "endpos", "key"),
    [
        ("200 result=53 endpos=9760", "53", "", 9760, "5"),
        ("200 result=0 endpos=16000", "0", "", 16000, ""),
        ("200 result=12345", "12345", "", None, ""),
        ("200 result=123 (timeout)", "123", "timeout", None, ""),
        ("200 result= (timeout)", "", "timeout", None, ""),
        ("200 result=", "", "", None, ""),
        ("200 result=1 (1234)", "1", "1234", None, ""),
        ("200 result=-1 endpos=0", "-1", "", 0, ""),
        ("200 result=35", "35", "", None, "#"),
        ("200 result=42", "42", "", None, "*"),
    ],
)
def test_replies_read_as_res_agi_writes_them(
    line: str, result: str, data: str, endpos: int | None, key: str
) -> None:
    reply = parse_reply(line)
    assert (reply.result, reply.data, reply.endpos, reply.key) == (result, data, endpos, key)


def test_request_routes_by_script_path_with_its_query() -> None:
    env = {
        "agi_network_script": "ivr?agency=hn&lang=vi",
        "agi_request": "agi://127.0.0.1:4573/ivr?agency=hn&lang=vi",
        "agi_arg_1": "first",
        "agi_arg_2": "second",
    }
    request = parse_request(env)
    assert request.script == "ivr"
    assert request.params == {"agency": "hn", "lang": "vi"}
    assert request.args == ("first", "second")


# res_agi.c for `AGI(agi://127.0.0.1:4573/ivr?agency=000.00.18.H26,000.00.19.H26&lang=vi)`:
# app_agi splits the application's arguments at commas, launch_netscript sends what
# follows host:port/ of the first as agi_network_script, the others as agi_arg_N.
CUT_AT_A_COMMA = (
    b"agi_network: yes\n"
    b"agi_network_script: ivr?agency=000.00.18.H26\n"
    b"agi_request: agi://127.0.0.1:4573/ivr?agency=000.00.18.H26\n"
    b"agi_channel: PJSIP/vn-trunk-00000001\n"
    b"agi_language: vi\n"
    b"agi_type: PJSIP\n"
    b"agi_uniqueid: 1732860000.1\n"
    b"agi_version: 22.0.0\n"
    b"agi_callerid: 0912345678\n"
    b"agi_calleridname: unknown\n"
    b"agi_callingpres: 0\n"
    b"agi_callingani2: 0\n"
    b"agi_callington: 0\n"
    b"agi_callingtns: 0\n"
    b"agi_dnid: 2438251234\n"
    b"agi_rdnis: unknown\n"
    b"agi_context: tracuu-inbound\n"
    b"agi_extension: s\n"
    b"agi_priority: 4\n"
    b"agi_enhanced: 0.0\n"
    b"agi_accountcode: \n"
    b"agi_threadid: 140000000000000\n"
    b"agi_arg_1: 000.00.19.H26&lang=vi\n"
    b"\n"
)


async def test_agency_ids_cut_at_agis_commas_are_joined_back() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        await raw_asterisk(server.port, CUT_AT_A_COMMA, [b"200 result=0\n", b"200 result=\n"])
        await outcome.done.wait()
    assert outcome.request is not None
    assert outcome.request.params == {"agency": "000.00.18.H26,000.00.19.H26", "lang": "vi"}
    assert outcome.request.args == ()


def test_arguments_after_a_query_not_cut_in_agency_stay_arguments() -> None:
    env = {"agi_network_script": "ivr?agency=hn&lang=vi", "agi_arg_1": "x"}
    assert parse_request(env).args == ("x",)
    assert parse_request(env).params == {"agency": "hn", "lang": "vi"}


async def _two_commands(channel: AgiChannel) -> list[object]:
    first = await channel.run('STREAM FILE tracuu/ivr_welcome "0123456789*#"')
    second = await channel.run("GET DATA tracuu/ivr_enter_code 8000 12")
    return [first.key, second.result]


async def test_a_multiline_520_is_read_to_its_end_and_later_replies_stay_in_step() -> None:
    async def script(channel: AgiChannel) -> list[object]:
        replies: list[object] = []
        with pytest.raises(AgiCommandRejected) as rejected:
            await channel.run("STREAM FILE")
        replies.append(str(rejected.value))
        replies.append((await channel.run("GET DATA tracuu/ivr_enter_code 8000 12")).result)
        return replies

    outcome = Outcome()
    async with asyncio.timeout(60), agi_server({"ivr": recording_route(outcome, script)}) as server:
        sent = await raw_asterisk(server.port, ENV, [USAGE_520, b"200 result=2411290001\n"])
        await outcome.done.wait()
    assert sent == ["STREAM FILE", "GET DATA tracuu/ivr_enter_code 8000 12"]
    assert "End of proper usage" in str(outcome.replies[0])
    assert outcome.replies[1] == "2411290001"  # not a leftover usage line


async def test_510_is_a_rejected_command_not_a_hang_up() -> None:
    async def script(channel: AgiChannel) -> list[object]:
        await channel.run("SAY ALPHA tracuu")
        return []

    outcome = Outcome()
    async with asyncio.timeout(60), agi_server({"ivr": recording_route(outcome, script)}) as server:
        await raw_asterisk(server.port, ENV, [b"510 Invalid or unknown command\n"])
        await outcome.done.wait()
    assert isinstance(outcome.error, AgiCommandRejected)


async def test_hangup_notice_during_a_command_then_511_is_a_hang_up() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        sent = await raw_asterisk(
            server.port, ENV, [b"HANGUP\n200 result=-1 endpos=0\n", DEAD, DEAD]
        )
        await outcome.done.wait()
    assert isinstance(outcome.error, CallerHungUp)
    assert len(sent) == 1  # nothing more is sent to a dead channel


async def test_511_alone_is_a_hang_up() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        await raw_asterisk(server.port, ENV, [DEAD])
        await outcome.done.wait()
    assert isinstance(outcome.error, CallerHungUp)


async def test_hangup_notice_between_replies_is_not_taken_for_a_reply() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        # A HANGUP notice arrives, then the real reply of the running command: the
        # result stands, and the next command finds the channel gone.
        await raw_asterisk(server.port, ENV, [b"HANGUP\n200 result=53 endpos=9760\n", DEAD])
        await outcome.done.wait()
    assert isinstance(outcome.error, CallerHungUp)


async def test_eof_instead_of_a_reply_is_a_hang_up() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        await raw_asterisk(server.port, ENV, [b"200 result=0 endpos=16000\n", b""])
        await outcome.done.wait()
    assert isinstance(outcome.error, CallerHungUp)


async def test_eof_mid_reply_line_is_a_hang_up() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        await raw_asterisk(server.port, ENV, [b"200 resu"])
        await outcome.done.wait()
    assert isinstance(outcome.error, CallerHungUp)


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"agi_network: yes\n",
        b"agi_network: yes\nagi_network_script: ivr\nagi_chan",
    ],
    ids=["nothing", "one line", "mid line"],
)
async def test_connection_closed_in_the_header_never_reaches_a_route_nor_blocks_others(
    sent: bytes,
) -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        assert await raw_asterisk(server.port, sent, []) == []
        # The next caller is served normally: the loop did not freeze (panoramisk defect 1).
        sent_ok = await raw_asterisk(
            server.port, ENV, [b"200 result=0 endpos=16000\n", b"200 result=2411290001\n"]
        )
        await outcome.done.wait()
    assert outcome.replies == ["", "2411290001"]
    assert len(sent_ok) == 2


async def test_an_oversize_header_is_dropped() -> None:
    outcome = Outcome()
    huge = b"agi_network: yes\n" + b"agi_calleridname: " + b"x" * 20000 + b"\n\n"
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}, header_bytes=4096) as server,
    ):
        assert await raw_asterisk(server.port, huge, [], close_after=False) == []
    assert not outcome.done.is_set()


async def test_a_header_that_never_ends_times_out() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server(
            {"ivr": recording_route(outcome, _two_commands)}, header_timeout_s=0.05
        ) as server,
    ):
        # The peer keeps the socket open after half a header; the server gives up and closes.
        assert await raw_asterisk(server.port, b"agi_network: yes\n", [], close_after=False) == []
    assert not outcome.done.is_set()


async def test_unknown_route_hands_the_call_back_untouched() -> None:
    outcome = Outcome()
    env = ENV.replace(b"agi_network_script: ivr?", b"agi_network_script: nosuch?")
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        assert await raw_asterisk(server.port, env, [], close_after=False) == []
    assert not outcome.done.is_set()


async def test_surplus_calls_over_the_cap_are_told_busy_and_the_others_go_on() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def held(channel: AgiChannel, request: object, env: object) -> None:
        started.set()
        await release.wait()
        await channel.run("SET VARIABLE TRACUU_NEXT goodbye")

    async with asyncio.timeout(60), agi_server({"ivr": held}, max_calls=1) as server:
        first = asyncio.create_task(raw_asterisk(server.port, ENV, [b"200 result=1\n"]))
        await started.wait()
        surplus = await raw_asterisk(server.port, ENV, [b"200 result=1\n"], close_after=False)
        release.set()
        served = await first
    assert surplus == ["SET VARIABLE TRACUU_NEXT busy"]
    assert served == ["SET VARIABLE TRACUU_NEXT goodbye"]
    assert server.refused_busy == 1


async def test_shutdown_lets_a_live_call_finish_within_the_drain_time() -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def held(channel: AgiChannel, request: object, env: object) -> None:
        started.set()
        await release.wait()
        await channel.run("SET VARIABLE TRACUU_NEXT goodbye")

    async with asyncio.timeout(60), agi_server({"ivr": held}) as server:
        call = asyncio.create_task(raw_asterisk(server.port, ENV, [b"200 result=1\n"]))
        await started.wait()
        stopping = asyncio.create_task(server.stop(drain_s=5.0))
        await asyncio.sleep(0)  # let stop() close the listener before the call ends
        release.set()
        await stopping
        sent = await call
    assert sent == ["SET VARIABLE TRACUU_NEXT goodbye"]


async def test_shutdown_past_the_drain_time_hands_the_call_back_and_closes_it() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(channel: AgiChannel, request: object, env: object) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with asyncio.timeout(60), agi_server({"ivr": stuck}) as server:
        call = asyncio.create_task(raw_asterisk(server.port, ENV, [], close_after=False))
        await started.wait()
        await server.stop(drain_s=0.0)
        assert await call == []  # the socket closed: Asterisk continues in the dialplan
    assert cancelled.is_set()
    assert server.active_calls == 0


async def test_a_trying_line_before_the_reply_is_skipped() -> None:
    # res_agi.c may send "100 result=0 Trying..." before the real reply of a command.
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        await raw_asterisk(
            server.port,
            ENV,
            [b"100 result=0 Trying...\n200 result=50 endpos=880\n", b"200 result=12 (timeout)\n"],
        )
        await outcome.done.wait()
    assert outcome.replies == ["2", "12"]


async def test_the_environment_reaches_the_route_with_its_parameters() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server({"ivr": recording_route(outcome, _two_commands)}) as server,
    ):
        await raw_asterisk(server.port, ENV, [b"200 result=0 endpos=0\n", b"200 result=\n"])
        await outcome.done.wait()
    assert outcome.request is not None
    assert outcome.request.params == {"agency": "000.00.18.H26", "lang": "vi"}
    assert outcome.env["agi_callerid"] == "0912345678"
    assert outcome.env["agi_language"] == "vi"


async def test_a_flood_of_silent_connections_is_taken_a_few_dozen_at_a_time() -> None:
    outcome = Outcome()
    async with (
        asyncio.timeout(60),
        agi_server(
            {"ivr": recording_route(outcome, _two_commands)}, header_timeout_s=0.2
        ) as server,
    ):
        silent = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(40)]
        # A real call behind the flood is served once the silent ones time out.
        sent = await raw_asterisk(
            server.port, ENV, [b"200 result=0 endpos=16000\n", b"200 result=2411290001\n"]
        )
        await outcome.done.wait()
        for _, writer in silent:
            writer.close()
    assert sent[1] == "GET DATA tracuu/ivr_enter_code 8000 12"
    assert server.peak_in_setup == SETUP_SLOTS  # never more, though 41 were waiting
    assert server.in_setup == 0


def test_the_dialplan_handles_every_value_the_server_leaves_in_tracuu_next() -> None:
    from pathlib import Path

    dialplan = (Path(__file__).parent.parent / "asterisk" / "extensions.conf").read_text(
        encoding="utf-8"
    )
    for value in ("officer", "goodbye", "busy"):  # ivr/server.py, ivr/session.py
        assert f'$["${{TRACUU_NEXT}}" = "{value}"]' in dialplan
    assert '$["${AGISTATUS}" != "SUCCESS"]?fallback,1' in dialplan
    # tracuu owns the hours: "officer" goes straight to the queue; only the fallback
    # paths (s) check the time themselves.
    assert '$["${TRACUU_NEXT}" = "officer"]?tracuu-officer,queue,1' in dialplan
    assert dialplan.count("GotoIfTime(") == 1
    assert "exten => s,1,GotoIfTime(" in dialplan
    assert "Playback(tracuu/ivr_officer_hours)" in dialplan
    assert "AGI(${TRACUU_AGI}/ivr?" in dialplan
    assert "AGI(${TRACUU_AGI}/notify?id=${TRACUU_NOTIFY})" in dialplan
    # The fallback hours are the office's, not the Asterisk host's (often UTC).
    assert "GotoIfTime(07:30-17:00,mon-fri,*,*,Asia/Ho_Chi_Minh?queue,1)" in dialplan
    assert Settings().timezone == "Asia/Ho_Chi_Minh"
    # A DID in international form reaches the IVR: _X. does not match a leading +.
    inbound = _context(dialplan, "tracuu-inbound")
    assert "exten => _+X.,1,Goto(s,1)" in inbound
    # A citizen who answered a notification call never hears silence when tracuu is
    # down: AGISTATUS other than SUCCESS (and HANGUP) plays the apology.
    notify = _context(dialplan, "tracuu-notify")
    assert '$["${AGISTATUS}" != "SUCCESS"]?unavailable,1' in notify
    assert "exten => unavailable,1,Playback(tracuu/ivr_service_unavailable)" in notify
    assert notify.index("AGI(") < notify.index("AGISTATUS")


def _context(dialplan: str, name: str) -> str:
    """The lines of one [context], up to the next."""
    body = dialplan.split(f"[{name}]\n", 1)[1]
    return body.split("\n[", 1)[0]


# ---- hang-ups in res_agi.c's order, through the real call session

WELCOME = 'STREAM FILE tracuu/ivr_welcome "0123456789*#"'
MENU = "GET DATA tracuu/ivr_menu_main_mine 6000 1"  # ENV has a caller ID


class _NoLookup:
    """The calls below end before any lookup."""


@asynccontextmanager
async def _ivr_server() -> AsyncIterator[AgiServer]:
    settings = Settings(agi={"port": 4573})
    server = build_server(settings, _NoLookup(), available=lambda _: True)  # type: ignore[arg-type]
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    try:
        yield server
    finally:
        await server.stop(drain_s=1.0)


@pytest.mark.parametrize(
    "answer",
    [
        HUNG_UP_STREAM,  # run_agi: the reply, then HANGUP at the top of its loop
        Then(b"200 result=-1 endpos=4000\n", 0.04, b"HANGUP\n"),  # a busy Asterisk
        b"HANGUP\n200 result=-1 endpos=0\n",  # the notice first: also understood
    ],
    ids=["reply-then-hangup", "hangup-40ms-later", "hangup-first"],
)
async def test_a_hang_up_during_a_prompt_ends_the_call_without_another_command(
    answer: bytes | Then, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with asyncio.timeout(60), _ivr_server() as server:
        sent = await raw_asterisk(server.port, ENV, [b"200 result=0\n", answer], close_after=False)
        await server.idle()
    assert sent == ["ANSWER", WELCOME]  # nothing sent to the dead channel
    assert "caller hung up" in caplog.text
    assert "did not play" not in caplog.text  # not mistaken for a missing file


async def test_a_hang_up_during_get_data_is_not_taken_for_silence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    answers: list[bytes | Then] = [
        b"200 result=0\n",
        b"200 result=0 endpos=16000\n",
        HUNG_UP_GET_DATA,
    ]
    async with asyncio.timeout(60), _ivr_server() as server:
        sent = await raw_asterisk(server.port, ENV, answers, close_after=False)
        await server.idle()
    assert sent == ["ANSWER", WELCOME, MENU]  # no "ivr_no_input" played to nobody
    assert "caller hung up" in caplog.text


async def test_minus_one_without_a_hangup_is_a_missing_file_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[bytes | Then] = [
        b"200 result=0\n",
        b"200 result=-1 endpos=0\n",  # no such file: no HANGUP follows
        b"200 result=0\n",  # the menu, answered with "0": an officer (out of hours: closed)
    ]
    async with asyncio.timeout(60), _ivr_server() as server:
        sent = await raw_asterisk(server.port, ENV, answers, close_after=False)
        await server.idle()
    assert sent[:3] == ["ANSWER", WELCOME, MENU]
    assert len(sent) > 3  # the call went on after the menu's answer
    assert "prompt ivr_welcome did not play: no such file" in caplog.text


async def test_the_simulator_sends_the_reply_then_the_notice_then_511() -> None:
    async def script(channel: AgiChannel) -> list[object]:
        # Raw lines: AgiChannel itself sends nothing once it has seen the HANGUP.
        lines: list[object] = []
        for command in (WELCOME, "SET VARIABLE TRACUU_NEXT goodbye", MENU):
            channel.write_line(command)
            lines.append(await channel.read_line(30.0))
            if command == WELCOME:
                lines.append(await channel.read_line(30.0))
        return lines

    outcome = Outcome()
    async with asyncio.timeout(60), agi_server({"ivr": recording_route(outcome, script)}) as server:
        peer = SimulatedAsterisk("H", hangup_after_commands=0, hangup_notice_delay_s=0.03)
        record = await peer.call("127.0.0.1", server.port)
        await outcome.done.wait()
    assert outcome.error is None
    assert outcome.replies == [
        "200 result=-1 endpos=4000",  # the interrupted playback answers first
        "HANGUP",  # then the bare notice, before the next command is read
        "200 result=1",  # SET VARIABLE runs on a dead channel (res_agi.c: dead=1)
        DEAD.decode().strip(),  # GET DATA does not
    ]
    assert record.ended == "caller_hangup"


async def test_digits_after_a_barge_in_are_read_by_one_get_data_and_a_hang_up_there_ends_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    answers: list[bytes | Then] = [
        b"200 result=0\n",  # ANSWER
        b"200 result=0 endpos=16000\n",  # welcome
        b"200 result=1\n",  # menu: 1
        b"200 result=24\n",  # the code question: "24", too short
        b"200 result=50 endpos=3000\n",  # "too short…" interrupted by '2'
        HUNG_UP_GET_DATA,  # the rest of the code: the caller hangs up instead
    ]
    async with asyncio.timeout(60), _ivr_server() as server:
        sent = await raw_asterisk(server.port, ENV, answers, close_after=False)
        await server.idle()
    assert sent[4] == 'STREAM FILE tracuu/ivr_code_too_short "0123456789*#"'
    # One command for every remaining digit (the code question's 13, less the one typed),
    # no prompt: keys are never between commands.
    assert sent[5:] == ['GET DATA "" 5000 12']
    assert "caller hung up" in caplog.text


async def test_each_command_has_its_own_deadline_whatever_came_before() -> None:
    """One timer serves every deadline: a short one after a long one still ends in time,
    and a long one after a short one is not cut by the earlier deadline."""

    async def script(channel: AgiChannel) -> list[object]:
        replies: list[object] = []
        # Long, answered; then short, unanswered: the timer must move earlier.
        replies.append((await channel.run("ANSWER", timeout_s=30.0)).result)
        with pytest.raises(TimeoutError):
            await channel.run("NOOP", timeout_s=0.1)
        return replies

    outcome = Outcome()
    async with asyncio.timeout(60), agi_server({"ivr": recording_route(outcome, script)}) as server:
        sent = await raw_asterisk(server.port, ENV, [b"200 result=0\n"], close_after=False)
        await outcome.done.wait()
    assert outcome.error is None
    assert outcome.replies == ["0"]
    assert sent[:2] == ["ANSWER", "NOOP"]


async def test_a_later_longer_deadline_is_not_cut_by_an_earlier_one() -> None:
    async def script(channel: AgiChannel) -> list[object]:
        # Answered at once (2 s: a bound a loaded machine meets, not a race with 50 ms).
        first = await channel.run("ANSWER", timeout_s=2.0)
        # Answered after the first command's deadline has passed: still in time.
        second = await channel.run("GET DATA tracuu/ivr_enter_code 8000 12", timeout_s=60.0)
        return [first.result, second.result]

    outcome = Outcome()
    async with asyncio.timeout(60), agi_server({"ivr": recording_route(outcome, script)}) as server:
        # The second answer 2.5 s on: after the first command's 2 s deadline whenever
        # its answer came.
        answers = [b"200 result=0\n", Then(b"", 2.5, b"200 result=2411290001\n")]
        await raw_asterisk(server.port, ENV, answers)
        await outcome.done.wait()
    assert outcome.error is None
    assert outcome.replies == ["0", "2411290001"]


async def test_ended_connections_leave_no_transport_for_the_garbage_collector() -> None:
    """Every call's connection is freed when it ends, not at the next full collection,
    which comes rarely while serving (kernel/heap.py): on Python 3.11 a closed asyncio
    socket transport is a reference cycle of its own unless broken (gh-100348)."""
    calls = 20
    async with asyncio.timeout(30), agi_server({"ivr": _hang_up_after_one}) as server:
        for _ in range(calls):
            await raw_asterisk(server.port, ENV, [b"200 result=0\n"])
        await asyncio.sleep(0.1)  # the last connection_lost callbacks
        gc.collect()  # what came before the test
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(calls):
                await raw_asterisk(server.port, ENV, [b"200 result=0\n"])
            await asyncio.sleep(0.1)
            gc.collect()
            left = [
                o
                for o in gc.garbage
                if isinstance(o, asyncio.Transport)
                and o.get_extra_info("sockname", ("", 0))[1] == server.port
            ]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert left == []


async def _hang_up_after_one(channel: AgiChannel, request: object, env: object) -> None:
    await channel.run('STREAM FILE tracuu/ivr_welcome "0123456789*#"')


async def test_a_peer_that_stops_reading_is_aborted_at_close_not_waited_for() -> None:
    """close() waits for the connection to go (unsent bytes first) for one second at
    most, then aborts it: a peer that never reads cannot hold a line slot forever."""

    async def flood(channel: AgiChannel, request: object, env: object) -> None:
        for _ in range(200):  # ~10 MB, far more than the sockets' buffers
            channel.write_line("NOOP " + "x" * 50_000)

    async with asyncio.timeout(10), agi_server({"ivr": flood}) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(ENV)
            await writer.drain()
            while not server.connections:
                await asyncio.sleep(0.01)
            await server.idle()  # the server's side closed, though we read nothing
        finally:
            writer.close()
