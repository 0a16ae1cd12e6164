"""The text of every SMS answer, from messages.compose and the prompt catalog.

The words are composed once for voice and SMS (messages/); this module picks
the SMS variant (compact, unaccented GSM-7 by default), adds the SMS-only
phrases (prompts/catalog/sms.toml) and keeps a reply within max_parts.
A code-only answer is built from a PublicView, which has no personal field;
only full_reply takes a FullView. Pure: no I/O, no clock (`today` is passed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from lookup.codes import Reason
from lookup.model import FullView, Procedure, PublicView
from messages import compose, render
from messages.parts import FreeText, Message, Phrase, Punct, clean_text
from messages.pieces import Office, sentence
from prompts.catalog import Catalog
from sms import commands
from sms.codec import DC_GSM, DC_UCS2, PER_PART, choose_coding, part_count, split_text

KEYWORD = "HS"
OPT_IN_KEYWORD = "DK"
EXAMPLE_CODE = "000.00.18.H26-241129-0001"
MAX_LISTED_CODES = 3  # several dossiers for one date and sequence: at most this many named
MAX_LISTED_PROCEDURES = 3  # "TT <name>" matching several procedures: at most this many listed
EXAMPLE_PROCEDURE = "khai sinh"  # a name every commune office handles (Đăng ký khai sinh)


@dataclass(frozen=True, slots=True)
class ReplyContext:
    catalog: Catalog
    office: Office
    today: date
    accents: bool = False
    short_code: str = "8088"
    max_parts: int = 4


def render_text(message: Message, ctx: ReplyContext) -> str:
    """The SMS body: NFC with diacritics, or unaccented GSM-7, cut to max_parts."""
    text = render.to_text(message, ctx.catalog, accents=ctx.accents)
    return fit(text, accents=ctx.accents, max_parts=ctx.max_parts)


def fit(text: str, *, accents: bool, max_parts: int) -> str:
    """Cut a text that would need more than max_parts segments, ending it with '...'."""
    body, ucs2 = choose_coding(text, accents=accents)
    coding = DC_UCS2 if ucs2 else DC_GSM
    if len(split_text(body, coding)) <= max_parts:
        return body
    room = PER_PART[coding] * max_parts - 3
    cut = body[:room]
    while len(split_text(cut + "...", coding)) > max_parts:
        cut = cut[:-1]
    return cut.rstrip() + "..."


def status_reply(view: PublicView, ctx: ReplyContext, *, fee: str = "") -> str:
    # Unaccented replies are compact so the usual answer fits one 160-character segment.
    message = compose.status_answer(
        view, ctx.today, office=ctx.office, compact=not ctx.accents, fee=fee
    )
    return render_text(message, ctx)


def full_reply(view: FullView, ctx: ReplyContext, *, fee: str = "") -> str:
    message = compose.full_answer(
        view, ctx.today, office=ctx.office, compact=not ctx.accents, fee=fee
    )
    return render_text(message, ctx)


def secret_wrong_reply(view: PublicView, ctx: ReplyContext, *, fee: str = "") -> str:
    message = compose.status_answer(view, ctx.today, office=ctx.office, compact=True, fee=fee)
    return render_text((Phrase("sms_secret_wrong"), *message), ctx)


def secret_locked_reply(ctx: ReplyContext) -> str:
    """Wrong secret while secret checks are locked: no status, contact the office."""
    return render_text((Phrase("sms_secret_locked"),), ctx)


def with_one_code_note(text: str, ctx: ReplyContext) -> str:
    """The answer to the first code, plus "one code per message" if it still fits one
    segment (an extra segment costs the office more than the note is worth)."""
    note = render_text((Phrase("sms_one_code_only"),), ctx)
    both = f"{text} {note}"
    return both if part_count(both, accents=ctx.accents) == 1 else text


def several_reply(codes: list[str], ctx: ReplyContext) -> str:
    """A date and sequence that several dossiers share: their codes (public), then ask
    for the full code. Codes only: no status or name of a dossier that may not be theirs."""
    if len(codes) > MAX_LISTED_CODES:
        return render_text((Phrase("sms_send_full_code"),), ctx)
    message: Message = (
        Phrase("sms_several_match"),
        FreeText(", ".join(codes)),
        Punct("."),
        Phrase("sms_send_full_code"),
    )
    return render_text(message, ctx)


def not_found_reply(code: str, ctx: ReplyContext) -> str:
    return render_text(compose.not_found(code), ctx)


def invalid_code_reply(reason: Reason, ctx: ReplyContext) -> str:
    # Which part is wrong and where to read the code: one segment; the syntax is in HD.
    problem = compose.CodeProblem(reason.value)
    return render_text(compose.invalid_code(problem), ctx)


def help_reply(ctx: ReplyContext) -> str:
    return render_text(_syntax(ctx.short_code), ctx)


def unrecognised_reply(ctx: ReplyContext) -> str:
    return render_text((Phrase("sms_not_understood"), *_syntax(ctx.short_code)), ctx)


def busy_reply(ctx: ReplyContext) -> str:
    return render_text(compose.system_busy(), ctx)


def guidance_reply(procedure: Procedure, ctx: ReplyContext) -> str:
    return render_text(compose.procedure_guidance(procedure), ctx)


def procedure_not_found_reply(
    procedure_code: str, ctx: ReplyContext, *, example: str = EXAMPLE_PROCEDURE
) -> str:
    message: Message = (
        Phrase("sms_procedure_not_found"),
        FreeText(procedure_code[:20]),
        Punct("."),
        *_procedure_syntax(example),
    )
    return render_text(message, ctx)


def procedure_syntax_reply(ctx: ReplyContext, *, example: str = EXAMPLE_PROCEDURE) -> str:
    """ "TT" alone: how to ask for a procedure's guidance, with an example."""
    return render_text(_procedure_syntax(example), ctx)


def procedure_choices_reply(procedures: Sequence[Procedure], query: str, ctx: ReplyContext) -> str:
    """Several procedures match the name the citizen typed: up to MAX_LISTED_PROCEDURES
    codes with names, shortened (full name, then without the typed words, then fewer
    words, then fewer procedures) until the reply fits one segment. With accents the
    fixed words alone outgrow one 70-character UCS-2 segment, so two are allowed."""
    budget = 1 if not ctx.accents else min(2, ctx.max_parts)
    listed = list(procedures[:MAX_LISTED_PROCEDURES])
    shapes: list[list[str]] = []
    for count in range(len(listed), 0, -1):
        shown = listed[:count]
        shapes.append([f"{p.code} {clean_text(p.name)}" for p in shown])
        shorts = [commands.short_name(clean_text(p.name), query).split() for p in shown]
        for words in range(max(map(len, shorts)), -1, -1):
            shapes.append(
                [" ".join([p.code, *s[:words]]) for p, s in zip(shown, shorts, strict=True)]
            )
    text = ""
    for shape in shapes:
        message: Message = (
            Phrase("sms_procedure_several"),
            FreeText("; ".join(shape)),
            Punct("."),
            Phrase("sms_procedure_pick"),
        )
        text = render_text(message, ctx)
        if part_count(text, accents=ctx.accents) <= budget:
            return text
    return text  # even one bare code does not fit: the shortest, cut to max_parts


def _procedure_syntax(example: str) -> Message:
    return (
        Phrase("sms_procedure_syntax"),
        *sentence("help_example", FreeText(f"TT {clean_text(example)}")),
    )


def rate_limited_reply(ctx: ReplyContext) -> str:
    return render_text((Phrase("sms_rate_limited"),), ctx)


def opted_out_reply(ctx: ReplyContext) -> str:
    message: Message = (
        Phrase("sms_opted_out"),
        FreeText(OPT_IN_KEYWORD),
        Phrase("sms_send_to"),
        FreeText(ctx.short_code),
        Punct("."),
    )
    return render_text(message, ctx)


def opted_in_reply(ctx: ReplyContext) -> str:
    return render_text((Phrase("sms_opted_in"),), ctx)


def test_text(ctx: ReplyContext) -> str:
    return render_text((Phrase("sms_test_message"),), ctx)


def _syntax(short_code: str = "") -> Message:
    return compose.help_text(KEYWORD, example_code=EXAMPLE_CODE, short_code=short_code)
