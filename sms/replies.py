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
MAX_WORD_CUT = 25  # fit() backs up this far at most to cut at a space
MAX_ECHOED_CHARS = 40  # what the citizen typed, echoed in "procedure not found"


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
    if not body[len(cut)].isspace() and " " in cut[-MAX_WORD_CUT:]:
        cut = cut.rsplit(" ", 1)[0]  # never mid-word (a procedure or place name)
    return cut.rstrip(" ,;:") + "..."


# Shortening steps for the collection place, in order: as written, abbreviated, then cut.
_PLACE_CHARS: tuple[int | None, ...] = (None, 1000, 60, 45, 30, 20, 12)


def status_reply(view: PublicView, ctx: ReplyContext, *, fee: str = "") -> str:
    # Unaccented replies are compact so the usual answer fits one 160-character segment.
    return _fitted(view, ctx, fee=fee, compact=not ctx.accents)


def full_reply(view: FullView, ctx: ReplyContext, *, fee: str = "") -> str:
    """Greeted by name ("<Name>: Hồ sơ …") when that fits; the status and dates always."""
    return _fitted(view.public, ctx, fee=fee, compact=not ctx.accents, full=view)


def secret_wrong_reply(view: PublicView, ctx: ReplyContext, *, fee: str = "") -> str:
    """The public answer after "wrong secret"; the short notice when the long one would
    take a second segment."""
    return _with_notice("sms_secret_wrong", view, ctx, fee=fee)


def secret_locked_reply(view: PublicView, ctx: ReplyContext, *, fee: str = "") -> str:
    """The public answer after a secret while this sender's secret checks are locked:
    the lock hides the name, never the status the code alone gives anyone."""
    return _with_notice("sms_secret_locked", view, ctx, fee=fee)


def _with_notice(notice: str, view: PublicView, ctx: ReplyContext, *, fee: str) -> str:
    """A notice, then the public answer: the long notice (`notice`) while the place
    still fits as written or abbreviated, else the short one (`notice`_short)."""
    budget = ctx.max_parts if ctx.accents else 1
    shapes = _shapes(view, ctx, fee=fee, compact=True)
    # The place is worth more than the long notice: cut the notice before the place.
    messages = [(Phrase(notice), *m) for m in shapes[:2]]
    messages += [(Phrase(f"{notice}_short"), *m) for m in shapes]
    return _first_fitting(messages, ctx, budget)


def _fitted(
    view: PublicView,
    ctx: ReplyContext,
    *,
    fee: str,
    compact: bool,
    full: FullView | None = None,
) -> str:
    """The first answer that fits its budget (one GSM-7 segment; with accents, max_parts):
    with the name greeting, then without it, then with the place abbreviated and cut.
    The status and dates are never dropped; what still does not fit is cut by fit()."""
    budget = ctx.max_parts if ctx.accents else 1
    shapes = _shapes(view, ctx, fee=fee, compact=compact)
    if full is not None:
        greeted = compose.full_answer(
            full, ctx.today, office=ctx.office, compact=compact, fee=fee, brief=True
        )
        shapes.insert(0, greeted)
    return _first_fitting(shapes, ctx, budget)


def _shapes(view: PublicView, ctx: ReplyContext, *, fee: str, compact: bool) -> list[Message]:
    """The public answer with the place as written, then ever shorter."""
    return [
        compose.status_answer(
            view, ctx.today, office=ctx.office, compact=compact, fee=fee,
            place_chars=place_chars,
        )
        for place_chars in _PLACE_CHARS
    ]  # fmt: skip


def _first_fitting(messages: list[Message], ctx: ReplyContext, budget: int) -> str:
    """The first message whose whole text needs at most `budget` segments, else the last
    one cut to max_parts. Counted before render_text cuts, which would always fit."""
    text = ""
    for message in messages:
        text = render.to_text(message, ctx.catalog, accents=ctx.accents)
        if part_count(text, accents=ctx.accents) <= budget:
            break
    return fit(text, accents=ctx.accents, max_parts=ctx.max_parts)


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
    """Which part is wrong and where to read the code: one segment; the syntax is in HD.

    No code at all ("HS", "HS ?", "tra cứu", the template "HS <mã hồ sơ>"): the
    syntax with the short code comes in the same segment, as the citizen plainly
    does not know what to send; where the code is printed too, when it still fits.
    """
    problem = compose.CodeProblem(reason.value)
    if reason is not Reason.EMPTY:
        return render_text(compose.invalid_code(problem), ctx)
    said = compose.invalid_code(problem)
    syntax = _syntax(ctx.short_code)
    budget = ctx.max_parts if ctx.accents else 1
    return _first_fitting([(*said, *syntax), (*said[:1], *syntax)], ctx, budget)


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
        FreeText(whole_words(clean_text(procedure_code), MAX_ECHOED_CHARS)),
        Punct("."),
        *_procedure_syntax(example),
    )
    return render_text(message, ctx)


def whole_words(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at a word boundary, never mid-word
    ("cap giay phep xay du" was "cap giay phep xay dung" cut at 20); "..." marks a cut.
    A first word longer than the limit is kept whole."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else text.split(" ", 1)[0]
    return text if cut == text else cut.rstrip(" ,;:.-") + "..."


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
    messages: list[Message] = [
        (
            Phrase("sms_procedure_several"),
            FreeText("; ".join(shape)),
            Punct("."),
            Phrase("sms_procedure_pick"),
        )
        for shape in shapes
    ]
    return _first_fitting(messages, ctx, budget)


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
