"""What a dossier, a procedure or a lookup outcome sounds like: prompt ids, in order.

A thin pure layer over messages.compose (the words, shared with SMS) and
messages.render.to_prompts (the fragments), so the caller hears what an SMS
would say. No I/O, no clock: `today` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from ivr.flow import Answer, Guide
from lookup.model import Procedure, PublicView
from messages import compose
from messages.numbers import Region
from messages.parts import FreeText, Message, clean_text, dynamic_texts
from messages.pieces import Office
from messages.render import to_prompts
from prompts.catalog import Catalog


@dataclass(frozen=True)
class Speech:
    catalog: Catalog
    office: Office
    region: Region = "north"

    def _say(self, message: Message) -> tuple[str, ...]:
        return tuple(to_prompts(message, self.catalog, region=self.region))

    def answer(self, view: PublicView, today: date) -> Answer:
        """A dossier's status (never the applicant), and its agency to choose it by."""
        return Answer(
            code=view.code,
            choice=self._say((FreeText(view.agency_name or view.agency_id),)),
            status=self._say(compose.status_answer(view, today, office=self.office)),
        )

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


def voice_texts(procedures: Iterable[Procedure], agency_names: Iterable[str]) -> list[str]:
    """Every free text the voice menu speaks besides dossier answers: for the prompts
    service to render ahead of time (procedure guidance reads documents, fees and
    processing times as dynamic prompts; the agency question reads agency names)."""
    texts: dict[str, None] = {}
    for procedure in procedures:
        texts[clean_text(procedure.name)] = None
        for text in dynamic_texts(compose.procedure_guidance(procedure)):
            texts[text] = None
    for name in agency_names:
        texts[clean_text(name)] = None
    return [t for t in texts if t]
