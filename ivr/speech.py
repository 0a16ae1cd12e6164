"""What a dossier, a procedure or a lookup outcome sounds like: prompt ids, in order.

A thin pure layer over messages.compose (the words, shared with SMS) and
messages.render.to_prompts (the fragments), so the caller hears what an SMS
would say. No I/O, no clock: `today` is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from ivr.flow import Answer, Guide
from lookup.model import Procedure, PublicView
from messages import compose
from messages.numbers import Region
from messages.parts import (
    CodeDigits,
    FreeText,
    Message,
    Part,
    Phrase,
    Punct,
    clean_text,
    dynamic_prompt_id,
)
from messages.pieces import Office
from messages.render import to_prompts
from messages.voice import OFFICER_HOURS_PROMPT
from prompts.catalog import Catalog

# Phrases that only make sense with the free text after them ("Giờ làm việc:" + hours):
# said without it, they would announce something that never comes.
_LEAD_INS = frozenset(
    {
        "procedure_of",
        "office_hours",
        "procedure_guidance",
        "documents_needed",
        "fee_label",
        "processing_time_label",
        "call_intro",
        "greeting_named",
    }
)


def _always(_prompt_id: str) -> bool:
    return True


def _nobody(_text: str) -> None:
    return None


@dataclass(frozen=True)
class Speech:
    """Messages as prompt ids, speaking only dynamic prompts that are rendered.

    `available(prompt_id)` says whether Asterisk has the file (ivr/available.py);
    a free text without one is replaced by a rendered fallback (the office's
    collection place, "come to the one-stop office", the agency's configured
    name, the dossier code) or left out with its lead-in, and `wanted(text)` is
    told so the prompts component renders it for the next caller. Pure: both are
    callables the caller supplies.
    """

    catalog: Catalog
    office: Office
    region: Region = "north"
    available: Callable[[str], bool] = _always
    wanted: Callable[[str], None] = _nobody
    agency_names: Mapping[str, str] = field(default_factory=dict)  # configured: id -> name

    def _say(self, message: Message) -> tuple[str, ...]:
        return tuple(to_prompts(self._fill_gaps(message), self.catalog, region=self.region))

    def _ready(self, text: str) -> bool:
        """Is this free text rendered? If not, ask for it (the caller hears a fallback)."""
        if self.available(dynamic_prompt_id(text)):
            return True
        self.wanted(clean_text(text))
        return False

    def _fill_gaps(self, message: Message) -> Message:
        out: list[Part | _Gap] = []
        for part in message:
            if not isinstance(part, FreeText) or not clean_text(part.text):
                out.append(part)
                continue
            if self._ready(part.text):
                out.append(part)
                continue
            before = _last_spoken(out)
            if isinstance(before, Phrase) and before.id == "collect_at":
                place = clean_text(self.office.collection_place)
                if place and place != clean_text(part.text) and self._ready(place):
                    out.append(FreeText(place))
                else:
                    at = max(i for i, p in enumerate(out) if p is before)
                    out[at] = Phrase("collect_here")
                continue
            out.append(_GAP)
        return _drop_bare_lead_ins(out)

    def answer(self, view: PublicView, today: date, *, status_first: bool = True) -> Answer:
        """A dossier's status (never the applicant), and its agency to choose it by.

        `status_first`: the dossier the caller keyed, status first and its code after
        (compose.spoken_status). False for a list of dossiers ("your dossiers"), where
        each must be named before its status.
        """
        if status_first:
            status = compose.spoken_status(view, today, office=self.office)
        else:
            status = compose.status_answer(view, today, office=self.office)
        return Answer(
            code=view.code, choice=self._say(self._choice(view)), status=self._say(status)
        )

    def _choice(self, view: PublicView) -> Message:
        """How the caller tells this dossier apart: its agency's name, else its code."""
        for name in (view.agency_name, self.agency_names.get(view.agency_id, "")):
            if clean_text(name) and self._ready(name):
                return (FreeText(name),)
        return (CodeDigits(view.code),)

    def guide_ready(self, procedure: Procedure) -> bool:
        """A procedure can be offered in the guidance menu once its name is rendered."""
        return bool(clean_text(procedure.name)) and self._ready(procedure.name)

    def officer_hours(self) -> tuple[str, ...]:
        """The configured hours (messages.voice.OFFICER_HOURS_PROMPT), once rendered."""
        return (OFFICER_HOURS_PROMPT,) if self.available(OFFICER_HOURS_PROMPT) else ()

    def not_found(self, digits: str) -> tuple[str, ...]:
        return self._say(compose.not_found(digits))

    def guide(self, procedure: Procedure) -> Guide:
        return Guide(
            name=self._say((FreeText(procedure.name),)),
            detail=self._say(compose.procedure_guidance(procedure)),
        )

    def several(self, count: int) -> tuple[str, ...]:
        return self._say(compose.several_dossiers(count))

    def notification(self, view: PublicView, kind: str, today: date) -> tuple[str, ...]:
        """What an outbound notification call says (messages.notices)."""
        if kind == "appointment_tomorrow":
            return self._say(compose.call_appointment_tomorrow(view, today, office=self.office))
        return self._say(compose.call_result_ready(view, office=self.office))


class _Gap:
    """Where a free text without audio was left out."""


_GAP = _Gap()


def _last_spoken(parts: list[Part | _Gap]) -> Part | None:
    for part in reversed(parts):
        if not isinstance(part, Punct | _Gap):
            return part
    return None


def _drop_bare_lead_ins(parts: list[Part | _Gap]) -> Message:
    """Leave out the gaps, and a lead-in phrase whose every free text is a gap."""
    kept: list[Part] = []
    for i, part in enumerate(parts):
        if isinstance(part, _Gap):
            continue
        if isinstance(part, Phrase) and part.id in _LEAD_INS:
            following: list[Part | _Gap] = []
            for after in parts[i + 1 :]:
                if isinstance(after, Phrase):
                    break
                if not isinstance(after, Punct):
                    following.append(after)
            if following and all(isinstance(f, _Gap) for f in following):
                continue
        kept.append(part)
    return tuple(kept)
