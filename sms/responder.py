"""From an incoming SMS to the text of its reply: parse, apply policy, look up.

Policy lives here, between the pure parser/replies and the lookup port:
rate limits per sender (stored in the database, so a restart does not reset
them), opt-out/opt-in, and the second factor (the sender's own number or a
secret) that alone unlocks the applicant's name. Exception text never reaches
a citizen: a lookup failure becomes the catalogued "system busy" reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.logs import mask_msisdn
from lookup.codes import InvalidCode
from lookup.model import PublicView, Status
from lookup.port import DossierLookup, LookupUnavailable, Proof, SecretGuard
from sms import commands, replies
from sms.address import to_e164
from sms.outbox import Outbox
from sms.replies import ReplyContext
from sms.settings import SmsSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    text: str  # "" = send nothing (a repeated refusal)
    command: commands.Command
    refused: bool = False  # rate-limited


async def answer(
    body: str,
    msisdn: str,
    *,
    lookup: DossierLookup,
    outbox: Outbox,
    ctx: ReplyContext,
    settings: SmsSettings,
    now: float,
    record: bool = True,
) -> Answer:
    """The reply to one SMS. `record=False` (the CLI preview) changes no stored state.

    Every reply counts against the sender's hourly and daily limit, whatever it
    answers (help and "not understood" included): two auto-responders texting each
    other stop after a few messages. An opt-out or opt-in is honoured even when the
    limit silences its confirmation. The caller commits the outbox transaction
    (rate-limit log, opt-out) together with the reply it queues.
    """
    command = commands.parse(body)
    if record and isinstance(command, commands.OptOut):
        outbox.set_opt_out(msisdn, True, now)
        outbox.cancel_queued_to(msisdn, "reminder", "opted out", now)
    elif record and isinstance(command, commands.OptIn):
        outbox.set_opt_out(msisdn, False, now)
    if _over_limit(outbox, msisdn, settings, now):
        log.info("sms reply refused for %s: rate limit", mask_msisdn(msisdn))
        # One refusal an hour per number: an enumerating sender must not make the
        # office pay for a reply to each of its messages.
        key = f"refused:{msisdn}"
        last = float(outbox.get_state(key, "0") or 0)
        if now - last < 3600:
            return Answer("", command, refused=True)
        if record:
            outbox.set_state(key, repr(now))
        return Answer(replies.rate_limited_reply(ctx), command, refused=True)
    match command:
        case commands.Help():
            text = replies.help_reply(ctx)
        case commands.Unrecognised():
            # "Not understood" once per QUIET_S per number: the syntax has been sent;
            # an auto-responder answering our answer gets silence.
            key = f"quiet:{msisdn}"
            if now - float(outbox.get_state(key, "0") or 0) < QUIET_S:
                return Answer("", command, refused=True)
            if record:
                outbox.set_state(key, repr(now))
            text = replies.unrecognised_reply(ctx)
        case commands.OptOut():
            text = replies.opted_out_reply(ctx)
        case commands.OptIn():
            text = replies.opted_in_reply(ctx)
        case _:
            try:
                text = await _lookup_reply(command, msisdn, lookup, ctx)
            except InvalidCode as exc:  # the adapter is stricter than the parser
                text = replies.invalid_code_reply(exc.reason, ctx)
            except LookupUnavailable:
                log.warning("lookup unavailable while answering %s", mask_msisdn(msisdn))
                return Answer(replies.busy_reply(ctx), command)  # not counted: may retry
    if record:
        # Written only after the lookup: an open write transaction held across an await
        # would block every other writer of the shared SQLite file (the lookup's own).
        outbox.log_lookup(msisdn, now)
    return Answer(text, command)


QUIET_S = 600.0


def _over_limit(outbox: Outbox, msisdn: str, settings: SmsSettings, now: float) -> bool:
    if outbox.lookups_since(msisdn, now - 3600) >= settings.lookups_per_hour:
        return True
    return outbox.lookups_since(msisdn, now - 86_400) >= settings.lookups_per_day


async def _lookup_reply(
    command: commands.Command, msisdn: str, lookup: DossierLookup, ctx: ReplyContext
) -> str:
    match command:
        case commands.BadCode(reason=reason):
            return replies.invalid_code_reply(reason, ctx)
        case commands.Guidance(procedure=""):
            return replies.procedure_syntax_reply(ctx)
        case commands.Guidance(procedure=code):
            return await _guidance_reply(code, lookup, ctx)
        case commands.Lookup(code=code, secret=secret, more_codes=more):
            view = await lookup.by_code(code)
            if view is None:
                text = replies.not_found_reply(code, ctx)
            else:
                text = await _dossier_reply(view, secret, msisdn, lookup, ctx)
            return replies.with_one_code_note(text, ctx) if more else text
        case commands.Keyed(digits=digits, secret=secret):
            views = await lookup.by_keypad_digits(digits)
            if not views:
                return replies.not_found_reply(f"{digits[:6]}-{digits[6:]}", ctx)
            if len(views) > 1:
                return replies.several_reply(sorted(v.code for v in views), ctx)
            return await _dossier_reply(views[0], secret, msisdn, lookup, ctx)
    return replies.unrecognised_reply(ctx)


async def _guidance_reply(text: str, lookup: DossierLookup, ctx: ReplyContext) -> str:
    """A procedure by its code, else by the words of its name (one match: its guidance;
    several: their codes to choose from; none: the TT syntax)."""
    procedure = await lookup.procedure(text)
    if procedure is not None:
        return replies.guidance_reply(procedure, ctx)
    if not any(ch.isalpha() for ch in text):  # a code that does not exist
        return replies.procedure_not_found_reply(text, ctx)
    found = commands.match_procedures(text, await lookup.procedures())
    if len(found) == 1:
        return replies.guidance_reply(found[0], ctx)
    if found:
        return replies.procedure_choices_reply(found, text, ctx)
    return replies.procedure_not_found_reply(text, ctx)


async def _dossier_reply(
    view: PublicView, secret: str | None, msisdn: str, lookup: DossierLookup, ctx: ReplyContext
) -> str:
    """Full answer with a second factor (own phone or secret), else the public one."""
    fee = await _fee(view, lookup)
    full = await lookup.full(view.code, Proof(phone=to_e164(msisdn), secret=secret))
    if full is not None:
        return replies.full_reply(full, ctx, fee=fee)
    if secret:
        if isinstance(lookup, SecretGuard) and await lookup.secret_locked(view.code):
            return replies.secret_locked_reply(ctx)
        return replies.secret_wrong_reply(view, ctx, fee=fee)
    return replies.status_reply(view, ctx, fee=fee)


async def _fee(view: PublicView, lookup: DossierLookup) -> str:
    if view.status is not Status.PAYMENT:
        return ""
    procedure = await lookup.procedure(view.procedure_code)
    return procedure.fee if procedure is not None else ""
