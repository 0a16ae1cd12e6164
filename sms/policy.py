"""The SMS conversation policy as a pure decision: decide(command, state, now, limits).

What to do with one parsed incoming message, given what is stored about its
sender: whether the sender's subscription to reminders changes (opt-out or
opt-in, honoured even when the sender is over the limit), whether a lookup is
allowed (per-sender hourly and daily limits against code enumeration), and
which answer, if any, goes back:

- over the limit: ONE "too many lookups" notice per `refusal_every_s`, then
  silence (an enumerating sender must not make the office pay for a reply to
  each of its messages);
- "not understood": once per `quiet_s`, then silence, so two auto-responders
  texting each other stop after one exchange; help and lookups still answer;
- everything answered counts against the limits, help and "not understood"
  included, except a lookup the store could not answer (the citizen may retry:
  sms/responder.py leaves that one uncounted).

sms/responder.py reads the state, calls decide(), writes what the decision
says and composes the text; this module reads no clock and touches no
database (like ivr/flow.py on the voice side).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sms import commands

HOUR_S = 3600.0
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Limits:
    """From settings.sms (a plain dataclass keeps this module free of pydantic)."""

    lookups_per_hour: int = 10
    lookups_per_day: int = 30
    refusal_every_s: float = HOUR_S  # one "too many lookups" notice per this long
    quiet_s: float = 600.0  # one "not understood" per this long


@dataclass(frozen=True, slots=True)
class SenderState:
    """What is stored about one sender, read before deciding."""

    answered_last_hour: int = 0
    answered_last_day: int = 0
    refused_at: float = 0.0  # when the last "too many lookups" notice went out; 0: never
    not_understood_at: float = 0.0  # when the last "not understood" went out; 0: never
    opted_out: bool = False


class Reply(Enum):
    """Which answer goes back."""

    ANSWER = "answer"  # the command's own answer (help, opt-out confirmation, a lookup, ...)
    NOT_UNDERSTOOD = "not_understood"  # "not understood" plus the syntax
    RATE_LIMITED = "rate_limited"  # the one "too many lookups" notice
    SILENCE = "silence"  # nothing is sent


class Subscription(Enum):
    """A change to the sender's reminders."""

    STOP = "stop"  # opt out: store it, give up the reminders still queued
    RESUME = "resume"  # opt in again


@dataclass(frozen=True, slots=True)
class Decision:
    reply: Reply
    subscription: Subscription | None = None
    # State to write (each is the time `now`): the refusal notice, the "not understood".
    mark_refused: bool = False
    mark_not_understood: bool = False
    count: bool = False  # log the answer against the sender's limits


def decide(command: commands.Command, state: SenderState, now: float, limits: Limits) -> Decision:
    """What to do with one message; pure, total (every command gets a decision)."""
    subscription = _subscription(command)
    if _over_limit(state, limits):
        if state.refused_at and now - state.refused_at < limits.refusal_every_s:
            return Decision(Reply.SILENCE, subscription)
        return Decision(Reply.RATE_LIMITED, subscription, mark_refused=True)
    if isinstance(command, commands.Unrecognised):
        if state.not_understood_at and now - state.not_understood_at < limits.quiet_s:
            return Decision(Reply.SILENCE, subscription)
        return Decision(Reply.NOT_UNDERSTOOD, subscription, mark_not_understood=True, count=True)
    return Decision(Reply.ANSWER, subscription, count=True)


def _subscription(command: commands.Command) -> Subscription | None:
    # Applied even when unchanged: a repeated opt-out also gives up reminders queued since.
    if isinstance(command, commands.OptOut):
        return Subscription.STOP
    if isinstance(command, commands.OptIn):
        return Subscription.RESUME
    return None


def _over_limit(state: SenderState, limits: Limits) -> bool:
    return (
        state.answered_last_hour >= limits.lookups_per_hour
        or state.answered_last_day >= limits.lookups_per_day
    )
