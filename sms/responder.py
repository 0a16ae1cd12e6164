"""From an incoming SMS to the text of its reply: parse, decide, store, look up.

The conversation policy (opt-out/opt-in, per-sender limits, one refusal then
silence, "not understood" throttling) is decided by the pure sms/policy.py;
this module does the I/O around it: it reads the sender's state from the
outbox (stored, so a restart resets nothing), writes what was decided, and
looks the dossier up with the second factor (the sender's own number or a
secret) that alone unlocks the applicant's name. Exception text never reaches
a citizen: a lookup failure becomes the catalogued "system busy" reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kernel.logs import mask_msisdn
from lookup.codes import InvalidCode
from lookup.model import PublicView, Status
from lookup.port import DossierLookup, LookupUnavailable, Proof, SecretGuard
from sms import commands, policy, replies
from sms.address import to_e164
from sms.replies import ReplyContext
from sms.senders import SenderStore
from sms.settings import SmsSettings

log = logging.getLogger(__name__)


QUIET_S = 600.0  # one "not understood" per sender per this long


@dataclass(frozen=True, slots=True)
class Answer:
    text: str  # "" = send nothing (a repeated refusal)
    command: commands.Command
    refused: bool = False  # rate-limited or silenced "not understood"


def limits(settings: SmsSettings) -> policy.Limits:
    return policy.Limits(
        lookups_per_hour=settings.lookups_per_hour,
        lookups_per_day=settings.lookups_per_day,
        quiet_s=QUIET_S,
    )


def sender_state(outbox: SenderStore, msisdn: str, now: float) -> policy.SenderState:
    """What sms.policy.decide needs to know about a sender, read from the outbox."""
    return policy.SenderState(
        answered_last_hour=outbox.lookups_since(msisdn, now - policy.HOUR_S),
        answered_last_day=outbox.lookups_since(msisdn, now - policy.DAY_S),
        refused_at=float(outbox.get_state(f"refused:{msisdn}", "0") or 0),
        not_understood_at=float(outbox.get_state(f"quiet:{msisdn}", "0") or 0),
        opted_out=outbox.opted_out(msisdn),
    )


async def answer(
    body: str,
    msisdn: str,
    *,
    lookup: DossierLookup,
    outbox: SenderStore,
    ctx: ReplyContext,
    settings: SmsSettings,
    now: float,
    record: bool = True,
) -> Answer:
    """The reply to one SMS. `record=False` (the CLI preview) changes no stored state.

    sms.policy.decide says what to do (subscription change, limits, silence);
    this function reads its inputs from the outbox, writes what it decided and
    composes the text. The caller commits the outbox transaction (rate-limit
    log, opt-out) together with the reply it queues.
    """
    command = commands.parse(body)
    decision = policy.decide(command, sender_state(outbox, msisdn, now), now, limits(settings))
    if record:
        _apply(decision, outbox, msisdn, now)
    match decision.reply:
        case policy.Reply.SILENCE:
            return Answer("", command, refused=True)
        case policy.Reply.RATE_LIMITED:
            log.info("sms reply refused for %s: rate limit", mask_msisdn(msisdn))
            return Answer(replies.rate_limited_reply(ctx), command, refused=True)
        case policy.Reply.NOT_UNDERSTOOD:
            text = replies.unrecognised_reply(ctx)
        case policy.Reply.ANSWER:
            try:
                text = await _reply(command, msisdn, lookup, ctx)
            except LookupUnavailable:
                log.warning("lookup unavailable while answering %s", mask_msisdn(msisdn))
                return Answer(replies.busy_reply(ctx), command)  # not counted: may retry
    if record and decision.count:
        # Written only after the lookup: an open write transaction held across an await
        # would block every other writer of the shared SQLite file (the lookup's own).
        outbox.log_lookup(msisdn, now)
    return Answer(text, command)


def _apply(decision: policy.Decision, outbox: SenderStore, msisdn: str, now: float) -> None:
    """Store what the decision changes (before any lookup: no await in between)."""
    if decision.subscription is policy.Subscription.STOP:
        outbox.set_opt_out(msisdn, True, now)
        outbox.cancel_queued_to(msisdn, "reminder", "opted out", now)
    elif decision.subscription is policy.Subscription.RESUME:
        outbox.set_opt_out(msisdn, False, now)
    if decision.mark_refused:
        outbox.set_state(f"refused:{msisdn}", repr(now))
    if decision.mark_not_understood:
        outbox.set_state(f"quiet:{msisdn}", repr(now))


async def _reply(
    command: commands.Command, msisdn: str, lookup: DossierLookup, ctx: ReplyContext
) -> str:
    """The command's own answer (the policy allowed it)."""
    match command:
        case commands.Help():
            return replies.help_reply(ctx)
        case commands.OptOut():
            return replies.opted_out_reply(ctx)
        case commands.OptIn():
            return replies.opted_in_reply(ctx)
    try:
        return await _lookup_reply(command, msisdn, lookup, ctx)
    except InvalidCode as exc:  # the adapter is stricter than the parser
        return replies.invalid_code_reply(exc.reason, ctx)


async def _lookup_reply(
    command: commands.Command, msisdn: str, lookup: DossierLookup, ctx: ReplyContext
) -> str:
    match command:
        case commands.BadCode(reason=reason):
            return replies.invalid_code_reply(reason, ctx)
        case commands.Guidance(procedure=""):
            return replies.procedure_syntax_reply(ctx)
        case commands.Guidance(procedure=code, question=question):
            return await _guidance_reply(code, lookup, ctx, question=question)
        case commands.Lookup(code=code, secret=secret, more_codes=more):
            view = await lookup.by_code(code)
            if view is None:
                text = replies.not_found_reply(code, ctx)
            else:
                text = await _dossier_reply(view, secret, msisdn, lookup, ctx)
            return replies.with_one_code_note(text, ctx) if more else text
        case commands.Keyed(digits=digits, secret=secret):
            # A short code serves every agency in the database, not only the
            # switchboard's: ask back only when two agencies share the digits.
            views = await lookup.by_keypad_digits(digits, any_agency=True)
            if not views:
                return replies.not_found_reply(f"{digits[:6]}-{digits[6:]}", ctx)
            if len(views) > 1:
                return replies.several_reply(sorted(v.code for v in views), ctx)
            return await _dossier_reply(views[0], secret, msisdn, lookup, ctx)
    return replies.unrecognised_reply(ctx)


async def _guidance_reply(
    text: str, lookup: DossierLookup, ctx: ReplyContext, *, question: bool = False
) -> str:
    """A procedure by its code, else by the words of its name (one match: its guidance;
    several: their codes to choose from; none: the TT syntax, after "not found" unless
    it was a question in plain words, which is no procedure name to echo)."""
    procedure = None if question else await lookup.procedure(text)
    if procedure is not None:
        return replies.guidance_reply(procedure, ctx)
    if not any(ch.isalpha() for ch in text):  # a code that does not exist
        return replies.procedure_not_found_reply(text, ctx)
    found = commands.match_procedures(text, await lookup.procedures())
    if len(found) == 1:
        return replies.guidance_reply(found[0], ctx)
    if found:
        return replies.procedure_choices_reply(found, text, ctx)
    if question:
        return replies.procedure_syntax_reply(ctx)
    return replies.procedure_not_found_reply(text, ctx)


async def _dossier_reply(
    view: PublicView, secret: str | None, msisdn: str, lookup: DossierLookup, ctx: ReplyContext
) -> str:
    """Full answer with a second factor (own phone or secret), else the public one."""
    fee = await _fee(view, lookup)
    sender = to_e164(msisdn)
    full = await lookup.full(view.code, Proof(phone=sender, secret=secret, guesser=sender))
    if full is not None:
        return replies.full_reply(full, ctx, fee=fee)
    if secret:
        # A wrong or locked secret never hides what the code alone reveals: the public
        # status comes with the notice. The lock is this sender's only (lookup/lockout.py).
        locked = isinstance(lookup, SecretGuard) and await lookup.secret_locked(
            view.code, guesser=sender
        )
        if locked:
            return replies.secret_locked_reply(view, ctx, fee=fee)
        return replies.secret_wrong_reply(view, ctx, fee=fee)
    return replies.status_reply(view, ctx, fee=fee)


async def _fee(view: PublicView, lookup: DossierLookup) -> str:
    if view.status is not Status.PAYMENT:
        return ""
    procedure = await lookup.procedure(view.procedure_code)
    return procedure.fee if procedure is not None else ""
