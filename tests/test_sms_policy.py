"""sms.policy.decide: the SMS conversation policy, without I/O (state in, decision out)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lookup.codes import Reason
from sms import commands
from sms.policy import Decision, Limits, Reply, SenderState, Subscription, decide

pytestmark = pytest.mark.no_store

NOW = 1_800_000_000.0
LIMITS = Limits(lookups_per_hour=10, lookups_per_day=30, refusal_every_s=3600, quiet_s=600)
FRESH = SenderState()
OVER_HOUR = SenderState(answered_last_hour=10, answered_last_day=10)
OVER_DAY = SenderState(answered_last_hour=0, answered_last_day=30)

ANSWERED = [
    commands.Help(),
    commands.Lookup("000.00.18.H26-241129-0001"),
    commands.Keyed("2411290001"),
    commands.Guidance("khai sinh"),
    commands.BadCode(Reason.EMPTY, ""),
]


@pytest.mark.parametrize("command", ANSWERED)
def test_within_the_limits_every_command_is_answered_and_counted(
    command: commands.Command,
) -> None:
    assert decide(command, FRESH, NOW, LIMITS) == Decision(Reply.ANSWER, count=True)


@pytest.mark.parametrize("state", [OVER_HOUR, OVER_DAY])
@pytest.mark.parametrize("command", [*ANSWERED, commands.Unrecognised("x")])
def test_over_the_limit_one_notice_then_silence(
    command: commands.Command, state: SenderState
) -> None:
    first = decide(command, state, NOW, LIMITS)
    assert first == Decision(Reply.RATE_LIMITED, mark_refused=True)
    noticed = SenderState(10, 30, refused_at=NOW)
    assert decide(command, noticed, NOW + 3599, LIMITS) == Decision(Reply.SILENCE)
    assert decide(command, noticed, NOW + 3600, LIMITS).reply is Reply.RATE_LIMITED


def test_just_under_the_limits_is_answered() -> None:
    state = SenderState(answered_last_hour=9, answered_last_day=29)
    assert decide(commands.Help(), state, NOW, LIMITS).reply is Reply.ANSWER


@pytest.mark.parametrize("state", [FRESH, OVER_HOUR, SenderState(10, 30, refused_at=NOW)])
def test_opt_out_and_in_are_honoured_even_over_the_limit(state: SenderState) -> None:
    out = decide(commands.OptOut(), state, NOW, LIMITS)
    back = decide(commands.OptIn(), state, NOW, LIMITS)
    assert out.subscription is Subscription.STOP
    assert back.subscription is Subscription.RESUME
    assert out.reply is back.reply  # the confirmation follows the limits like any answer


def test_opted_out_senders_still_get_answers_to_their_own_messages() -> None:
    state = SenderState(opted_out=True)
    assert decide(commands.Help(), state, NOW, LIMITS).reply is Reply.ANSWER
    assert decide(commands.OptIn(), state, NOW, LIMITS).subscription is Subscription.RESUME


def test_not_understood_once_per_quiet_period() -> None:
    garbage = commands.Unrecognised("Auto-reply: out of office")
    first = decide(garbage, FRESH, NOW, LIMITS)
    assert first == Decision(Reply.NOT_UNDERSTOOD, mark_not_understood=True, count=True)
    said = SenderState(answered_last_hour=1, answered_last_day=1, not_understood_at=NOW)
    assert decide(garbage, said, NOW + 599, LIMITS) == Decision(Reply.SILENCE)
    assert decide(garbage, said, NOW + 600, LIMITS).reply is Reply.NOT_UNDERSTOOD
    # Help and lookups are still answered in the quiet period.
    assert decide(commands.Help(), said, NOW + 1, LIMITS).reply is Reply.ANSWER


def test_two_auto_responders_stop_after_one_exchange() -> None:
    state, sent = FRESH, 0
    for minute in range(60):
        decision = decide(commands.Unrecognised("?!"), state, NOW + minute, LIMITS)
        if decision.reply is not Reply.SILENCE:
            sent += 1
        if decision.mark_not_understood:
            state = SenderState(sent, sent, not_understood_at=NOW + minute)
    assert sent == 1


PURE = [
    "sms/policy.py",
    "sms/intents.py",
    "sms/commands.py",
    "lookup/codes.py",
    "lookup/lockout.py",
]
IO = {"asyncio", "sqlite3", "aiosqlite", "asyncpg", "aiohttp", "smpplib", "socket", "time", "os"}


@pytest.mark.parametrize("path", PURE)
def test_the_decision_and_grammar_modules_import_no_io(path: str) -> None:
    """The house rule for the pure core: no driver, socket or clock; `now` is passed in."""
    tree = ast.parse((Path(__file__).resolve().parent.parent / path).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {name.split(".")[0] for name in imported} & IO, imported
