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
from lookup.port import DossierLookup, LookupUnavailable, Proof
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

    The caller commits the outbox transaction (rate-limit log, opt-out) together
    with the reply it queues.
    """
    command = commands.parse(body)
    match command:
        case commands.Help():
            return Answer(replies.help_reply(ctx), command)
        case commands.Unrecognised():
            return Answer(replies.unrecognised_reply(ctx), command)
        case commands.OptOut():
            if record:
                outbox.set_opt_out(msisdn, True, now)
                outbox.cancel_queued_to(msisdn, "reminder", "opted out", now)
            return Answer(replies.opted_out_reply(ctx), command)
        case commands.OptIn():
            if record:
                outbox.set_opt_out(msisdn, False, now)
            return Answer(replies.opted_in_reply(ctx), command)
    if _over_limit(outbox, msisdn, settings, now):
        log.info("sms lookup refused for %s: rate limit", mask_msisdn(msisdn))
        # One refusal an hour per number: an enumerating sender must not make the
        # office pay for a reply to each of its messages.
        key = f"refused:{msisdn}"
        last = float(outbox.get_state(key, "0") or 0)
        if now - last < 3600:
            return Answer("", command, refused=True)
        if record:
            outbox.set_state(key, repr(now))
        return Answer(replies.rate_limited_reply(ctx), command, refused=True)
    try:
        text = await _lookup_reply(command, msisdn, lookup, ctx)
    except InvalidCode as exc:  # the adapter is stricter than the parser: still a clear answer
        text = replies.invalid_code_reply(exc.reason, ctx)
    except LookupUnavailable:
        log.warning("lookup unavailable while answering %s", mask_msisdn(msisdn))
        return Answer(replies.busy_reply(ctx), command)  # not counted: the citizen may retry
    if record:
        # Written only after the lookup: an open write transaction held across an await
        # would block every other writer of the shared SQLite file (the lookup's own).
        outbox.log_lookup(msisdn, now)
    return Answer(text, command)


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
        case commands.Guidance(procedure=code):
            procedure = await lookup.procedure(code)
            if procedure is None:
                return replies.procedure_not_found_reply(code, ctx)
            return replies.guidance_reply(procedure, ctx)
        case commands.Lookup(code=code, secret=secret):
            view = await lookup.by_code(code)
            if view is None:
                return replies.not_found_reply(code, ctx)
            fee = await _fee(view, lookup)
            full = await lookup.full(code, Proof(phone=to_e164(msisdn), secret=secret))
            if full is not None:
                return replies.full_reply(full, ctx, fee=fee)
            if secret:
                return replies.secret_wrong_reply(view, ctx, fee=fee)
            return replies.status_reply(view, ctx, fee=fee)
    return replies.unrecognised_reply(ctx)


async def _fee(view: PublicView, lookup: DossierLookup) -> str:
    if view.status is not Status.PAYMENT:
        return ""
    procedure = await lookup.procedure(view.procedure_code)
    return procedure.fee if procedure is not None else ""
