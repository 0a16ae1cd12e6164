"""Runs one inbound call: performs the flow's actions on the AGI channel and the lookup.

Owns the translation between flow actions and AGI commands (prompts as
STREAM FILE / GET DATA with escape digits, so keys interrupt
prompts: res_agi.c drops DTMF that arrives while no input command runs), the
lookup's time limit, and what is recorded about the call. Decides nothing the
flow decides.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from ivr import flow
from ivr.agi_wire import ALL_KEYS, AgiChannel, CallerHungUp, Request, quote
from ivr.hours import officer_open
from ivr.limits import CallerLimiter
from ivr.settings import AgiSettings
from ivr.speech import Speech
from ivr.store import IvrStore
from kernel.bus import EventBus
from kernel.db import DatabaseError
from kernel.logs import mask_msisdn
from lookup.codes import InvalidCode
from lookup.model import PublicView
from lookup.phones import normalise_phone
from lookup.port import DossierLookup, LookupUnavailable, Proof, SecretGuard

log = logging.getLogger(__name__)

# Between agency ids in `agency=`: a query's `+` arrives as a space; `;` needs `\;` in
# extensions.conf (a comment otherwise) and `,` is split by AGI() (rejoined on arrival).
AGENCY_SEPARATORS = re.compile(r"[\s,;|+]+")

# How long a `result=-1` waits for res_agi.c's HANGUP notice, which follows the reply at
# once when the caller hung up; without it, the -1 was a missing file (asterisk-wire.md).
HANGUP_GRACE_S = 0.1
SOUNDS = "tracuu/"  # <sounds>/vi/tracuu/<prompt id>.<ext>, channel language vi
_STAGE_NAMES = {stage: stage.name.lower() for stage in flow.Stage}
MINE_SPOKEN_MAX = 5  # "your dossiers" reads the newest five; an office phone has more
_ANY_KEY = quote(ALL_KEYS)  # the escape digits of nearly every prompt, quoted once
_NO_KEY = quote("")  # a prompt no key interrupts


@dataclass(frozen=True)
class CallDeps:
    """What a call needs from the rest of the gateway."""

    settings: AgiSettings
    lookup: DossierLookup
    speech: Speech
    zone: ZoneInfo
    bus: EventBus | None = None
    clock: Callable[[], datetime] = datetime.now  # called with the zone; tests pass their own
    store: IvrStore | None = None  # where call events are kept for statistics
    agencies: tuple[str, ...] = ()  # configured agency ids (settings.agencies)
    rules: flow.Rules = field(init=False)  # derived once from settings, not per call
    limiter: CallerLimiter = field(init=False)  # shared by every call of this server

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", rules_of(self.settings))
        object.__setattr__(self, "limiter", CallerLimiter(self.settings.lookups_per_hour))

    def now(self) -> datetime:
        return self.clock().astimezone(self.zone)


@runtime_checkable
class _LockReporter(Protocol):
    """The part of lookup.port.SecretGuard that says whether a dossier is locked."""

    async def secret_locked(self, code: str) -> bool: ...


def route_agencies(
    params: dict[str, str], configured: tuple[str, ...], uniqueid: str
) -> frozenset[str]:
    """The agencies a call answers for, from the dialplan's `agency=` (one or more ids).

    Ids are separated by `+` (read as a space), `,` (also `%2C`; see
    ivr/agi_wire.py parse_request for AGI()'s comma split), `|` or `;`.

    Each DID of a shared server names its own (asterisk/extensions.conf). No parameter:
    every configured agency. An id that is not configured is a dialplan mistake: logged
    loudly and left out; if none is left, the call answers for every configured agency
    rather than for none (the citizen still gets an answer; the error log shows the fix).
    `lang=`: only `vi` is spoken; anything else is logged and answered in Vietnamese.
    """
    lang = params.get("lang", "vi")
    if lang.lower() != "vi":
        log.info("call %s: lang=%s asked; only vi is recorded, speaking vi", uniqueid, lang)
    asked = [a for a in AGENCY_SEPARATORS.split(params.get("agency", "")) if a]
    if not asked:
        return frozenset()
    unknown = [a for a in asked if a not in configured]
    if unknown:
        log.error(
            "call %s: AGI parameter agency=%s names agencies not in settings.agencies "
            "(%s); check the dialplan",
            uniqueid,
            ",".join(unknown),
            ", ".join(configured),
        )
    return frozenset(a for a in asked if a in configured)


def rules_of(settings: AgiSettings) -> flow.Rules:
    return flow.Rules(
        max_no_input=settings.max_no_input,
        max_invalid=settings.max_invalid,
        max_not_found=settings.max_not_found,
        max_secret_tries=settings.max_secret_tries,
        menu_timeout_s=settings.menu_timeout_s,
        code_timeout_s=settings.code_timeout_s,
        inter_digit_s=settings.inter_digit_s,
    )


class InboundCall:
    """One caller on one channel, from ANSWER to the hand-back to the dialplan."""

    def __init__(
        self, channel: AgiChannel, request: Request, env: dict[str, str], deps: CallDeps
    ) -> None:
        self.channel = channel
        self.request = request
        self.deps = deps
        self.uniqueid = env.get("agi_uniqueid", "?")
        self.caller = normalise_phone(env.get("agi_callerid"))
        self.call = flow.Call(deps.rules)
        self._typed = ""  # a key that interrupted a prompt: the next answer's first digit
        self.agencies = route_agencies(request.params, deps.agencies, self.uniqueid)
        self.answered_at: datetime | None = None  # in the office's zone (deps.now)
        # Said in every bus event of the call: worked out once, not at every step.
        self._masked = mask_msisdn(self.caller)
        self._since = ""
        self._prompt_s = deps.settings.prompt_max_s  # a prompt's time limit

    async def run(self) -> None:
        settings = self.deps.settings
        log.info("call %s from %s", self.uniqueid, self._masked)
        now = self.answered_at = self.deps.now()
        # The office's clock with its offset: the console shows this, not its own clock.
        self._since = now.isoformat(timespec="seconds")
        event: flow.Event | None = flow.CallAnswered(
            officer_open=officer_open(now, settings.hours, settings.holidays),
            caller_known=self.caller is not None,
            hours=self.deps.speech.officer_hours(),
        )
        try:
            await self.channel.run("ANSWER")
            while event is not None:
                self.call, actions = flow.step(self.call, event)
                self._publish()
                event = await self._perform(actions)
        finally:
            if self.channel.hung_up:
                self.call = replace(self.call, events=(*self.call.events, "hung_up"))
            self._publish(ended=True)
            # Back to the dialplan (goodbye, the officer queue) first: the statistics'
            # group commit (ivr/store.py) is nobody's dead air.
            await self.channel.close()
            await self._record()

    async def _record(self) -> None:
        """Keep the call's events for statistics; a failure here never reaches the caller."""
        store = self.deps.store
        if store is None:
            return
        try:
            async with asyncio.timeout(2.0):
                await store.record_events(self.uniqueid, self.deps.now(), self.call.events)
        except TimeoutError:
            # The store keeps them and retries until the database takes them
            # (ivr/store.py): the session stops waiting, the line slot is freed.
            log.info("call %s: events wait for the database", self.uniqueid)
        except DatabaseError:
            log.exception("call %s: events not recorded", self.uniqueid)

    async def _perform(self, actions: list[flow.Action]) -> flow.Event | None:
        """Carry out one step's actions; the last one yields the next event (or ends)."""
        # A lookup starts before the "please wait" that precedes it, so it overlaps the prompt.
        pending: asyncio.Task[flow.Event] | None = None
        last = actions[-1]
        if isinstance(last, flow.LookUpCode | flow.ListGuides | flow.LookUpMine):
            pending = asyncio.create_task(self._look_up(last))
        try:
            for action in actions:
                match action:
                    case flow.Play(prompts=prompts, barge_in=barge_in):
                        # Played here, not in a helper coroutine: one layer fewer in the
                        # call's stack for every prompt it hears.
                        tail = _ANY_KEY if barge_in else _NO_KEY
                        for prompt in prompts:
                            if barge_in and self._typed:
                                break  # the caller has already answered: skip to the question
                            reply = await self.channel.run(
                                f"STREAM FILE {SOUNDS}{prompt} {tail}", timeout_s=self._prompt_s
                            )
                            if reply.result == "-1":
                                await self._gone_or_missing(prompt)
                            self._typed = reply.key
                    case flow.Ask():
                        return await self._ask(action)
                    case flow.LookUpCode() | flow.ListGuides() | flow.LookUpMine():
                        assert pending is not None
                        return await pending
                    case flow.ToOfficer(reason=reason):
                        log.info("call %s to an officer (%s)", self.uniqueid, reason)
                        await self._hand_back("officer")
                        return None
                    case flow.Goodbye():
                        await self._hand_back("goodbye")
                        return None
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with suppress(asyncio.CancelledError):
                    await pending
        raise ValueError(f"a step ended without a question or an ending: {actions!r}")

    # ---- prompts and keys

    def _play_timeout(self, extra_s: float = 0.0) -> float:
        return self._prompt_s + extra_s

    async def _gone_or_missing(self, prompt: str) -> None:
        """`result=-1`: the caller hung up (CallerHungUp) or the prompt's file is missing."""
        if await self.channel.hangup_follows(HANGUP_GRACE_S):
            raise CallerHungUp(f"hung up during {prompt}")
        log.error("call %s: prompt %s did not play: no such file", self.uniqueid, prompt)

    async def _ask(self, ask: flow.Ask) -> flow.Keyed:
        for prompt in ask.prompts[:-1]:
            if self._typed:
                break
            reply = await self.channel.run(
                f"STREAM FILE {SOUNDS}{prompt} {_ANY_KEY}", timeout_s=self._prompt_s
            )
            if reply.result == "-1":
                await self._gone_or_missing(prompt)
            self._typed = reply.key
        typed, self._typed = self._typed, ""
        if not typed:
            # GET DATA plays the question with every key as an escape and collects the
            # answer in one command; app.c uses one timeout for the first and later digits.
            timeout_ms = int(ask.timeout_s * 1000)
            reply = await self.channel.run(
                f"GET DATA {SOUNDS}{ask.prompts[-1]} {timeout_ms} {ask.max_digits}",
                timeout_s=self._play_timeout(ask.timeout_s * (ask.max_digits + 1)),
            )
            if reply.result == "-1":
                # Hang-up during the question, or its file is missing (app.c returns before
                # reading keys): then nothing was heard or keyed, like silence.
                await self._gone_or_missing(ask.prompts[-1])
                return flow.Keyed("", timed_out=True)
            return flow.Keyed(reply.result, timed_out=reply.timed_out)
        return await self._rest_of(typed, ask)

    async def _rest_of(self, typed: str, ask: flow.Ask) -> flow.Keyed:
        """The digits after one that barged into a prompt, collected by ONE command.

        res_agi.c reads and drops DTMF while no input command runs, so a WAIT FOR DIGIT
        per digit lost every key pressed between two commands. GET DATA with an empty
        file name plays nothing (app.c ast_app_getdata_full skips an empty prompt) and
        reads the rest with the inter-digit time for each key, up to '#' or the length.
        Left: keys pressed in the moment between the prompt's reply and this command.
        """
        digits = "" if typed == ask.terminator else typed
        if typed == ask.terminator or len(digits) >= ask.max_digits:
            return flow.Keyed(digits)
        wait_ms = int(ask.inter_digit_s * 1000)
        remaining = ask.max_digits - len(digits)
        reply = await self.channel.run(
            f'GET DATA "" {wait_ms} {remaining}',
            timeout_s=self._play_timeout(ask.inter_digit_s * (remaining + 1)),
        )
        if reply.result == "-1":
            if await self.channel.hangup_follows(HANGUP_GRACE_S):
                raise CallerHungUp("hung up while keying")
            return flow.Keyed(digits, timed_out=True)
        return flow.Keyed(digits + reply.result, timed_out=reply.timed_out)

    async def _hand_back(self, next_step: str) -> None:
        """Tell the dialplan what comes next (officer queue, hang-up) and return to it."""
        name = self.deps.settings.next_variable
        await self.channel.run(f"SET VARIABLE {name} {next_step}")

    # ---- lookups

    async def _look_up(self, action: flow.Action) -> flow.Event:
        speech = self.deps.speech
        lookup = self.deps.lookup
        if isinstance(action, flow.LookUpCode | flow.LookUpMine) and not self.deps.limiter.allow(
            self.caller, self.deps.now()
        ):
            log.warning("call %s: lookups per hour used up", self.uniqueid)
            return flow.TooManyLookups()
        try:
            async with asyncio.timeout(self.deps.settings.lookup_timeout_s):
                match action:
                    case flow.LookUpCode(digits=digits):
                        views = self._ours(await lookup.by_keypad_digits(digits))
                        if not views:
                            return flow.NotFound(speech.not_found(digits))
                        today = self.deps.now().date()
                        return flow.Found(tuple(speech.answer(v, today) for v in views))
                    case flow.ListGuides():
                        procedures = await lookup.procedures(common_only=True)
                        # A procedure whose name is not rendered yet waits for the next caller.
                        ready = [p for p in procedures if speech.guide_ready(p)]
                        return flow.GuidesListed(tuple(speech.guide(p) for p in ready))
                    case flow.LookUpMine(secret=secret):
                        return await self._mine(secret)
        except (LookupUnavailable, TimeoutError) as exc:
            log.warning("call %s: lookup unavailable: %s", self.uniqueid, type(exc).__name__)
            return flow.LookupDown()
        except InvalidCode:
            # The flow checks keypad digits first; a stricter adapter is still "not found".
            return flow.NotFound(speech.not_found(""))
        raise ValueError(f"not a lookup: {action!r}")

    async def _mine(self, secret: str) -> flow.Event:
        """Option 3: the dossiers caller ID finds, read out only as far as the secret proves.

        Caller ID found the dossiers; the keyed secret alone must prove them.
        Proof(phone=...) would pass on caller ID by itself (lookup.proof.proves), and
        caller ID is trivially spoofed, so it is deliberately left out here.

        A SecretGuard checks the secret against all of them as ONE attempt (full_any):
        the receipt PIN of one dossier counts no failure on the caller's others, and a
        wrong secret counts one failure on each. Other adapters get one full() per
        dossier. Either way only the dossiers the secret proves are read out, not every
        dossier of the number: a receipt PIN proves one dossier, not a person, and a
        number is often shared (a family, a relative or a service that filed for
        someone). The last ID digits, which the prompt offers first, prove all of one
        person's dossiers at once.
        """
        if self.caller is None:
            return flow.MineRefused()
        lookup = self.deps.lookup
        ours = self._ours(await lookup.by_phone(self.caller))
        verified: list[PublicView] = []
        if isinstance(lookup, SecretGuard):
            proven = {f.public.code for f in await lookup.full_any([v.code for v in ours], secret)}
            verified = [v for v in ours if v.code in proven]
        else:
            proof = Proof(secret=secret)
            for view in ours:
                if await lookup.full(view.code, proof) is not None:
                    verified.append(view)
        if not verified:
            # Once a dossier is locked even its right secret fails, so the caller is told
            # to contact the office rather than try again (and count on the others).
            if isinstance(lookup, _LockReporter):
                for view in ours:
                    if await lookup.secret_locked(view.code):
                        log.info("call %s: secret checks locked", self.uniqueid)
                        return flow.MineLocked()
            return flow.MineRefused()
        today = self.deps.now().date()
        speech = self.deps.speech
        answers = tuple(
            speech.answer(v, today, status_first=False) for v in verified[:MINE_SPOKEN_MAX]
        )
        return flow.MineVerified(self.deps.speech.several(len(verified)), answers)

    def _ours(self, views: list[PublicView]) -> list[PublicView]:
        """Only the dossiers of the agencies this number answers for (route `agency=`)."""
        if not self.agencies:
            return views
        return [v for v in views if v.agency_id in self.agencies]

    # ---- live state

    def _publish(self, *, ended: bool = False) -> None:
        bus = self.deps.bus
        if bus is None:
            return
        data: dict[str, Any] = {
            "uniqueid": self.uniqueid,
            "caller": self._masked,
            "stage": _STAGE_NAMES[self.call.stage],
            "events": list(self.call.events),
            "ended": ended,
            "since": self._since,
        }
        if ended:
            bus.forget("ivr_call", self.uniqueid)
            bus.publish("ivr_call_ended", data)
        else:
            bus.publish("ivr_call", data, key=self.uniqueid)
