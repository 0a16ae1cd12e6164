"""A dossier code alone never reveals the applicant (Circular 01/2018 art. 16).

Random dossiers with random public fields and a distinctive applicant: every
message built from the public view, in every rendering, must leave the applicant
out; and the only free texts spoken are the public fields and the office's own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.office import OfficeSettings
from lookup.model import Dossier, PublicView, Status
from messages import compose, notices
from messages.parts import Message, dynamic_texts
from messages.render import strip_accents, to_prompts, to_text
from prompts.catalog import load_catalog

pytestmark = pytest.mark.no_store

CATALOG = load_catalog()
OFFICE = OfficeSettings(name="UBND xã Tân Lập", collection_place="Bộ phận Một cửa xã Tân Lập")

# Public free text is lower case without digits, so it can never spell the applicant's
# capitalised name, the phone or the ID number by chance.
LOWER = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
public_text = st.text(alphabet=LOWER + " ,.-/()", max_size=60)
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ"]
GIVEN = ["Văn An", "Thị Bình", "Hữu Cường", "Thị Dung", "Minh Đức", "Ngọc Hà", "Quốc Huy"]


@st.composite
def dossiers(draw: st.DrawFn) -> Dossier:
    received = draw(st.dates(date(2018, 1, 1), date(2030, 12, 31)))
    due = received + timedelta(days=draw(st.integers(0, 90)))
    status_at = draw(st.none() | st.datetimes(datetime(2018, 1, 1), datetime(2031, 12, 31, 23, 59)))
    return Dossier(
        code=f"000.00.18.H26-{received:%y%m%d}-{draw(st.integers(1, 999_999)):04d}",
        agency_id="000.00.18.H26",
        agency_name=draw(public_text),
        procedure_code="1.001193",
        procedure_name=draw(public_text),
        status=draw(st.sampled_from(Status)),
        received_on=received,
        due_on=due,
        status_at=status_at,
        rescheduled_on=draw(st.none() | st.just(due + timedelta(days=7))),
        ready_on=draw(st.none() | st.just(due)),
        collection_place=draw(public_text),
        applicant_name=f"{draw(st.sampled_from(FAMILY))} {draw(st.sampled_from(GIVEN))}",
        applicant_phones=(f"+8491{draw(st.integers(1_000_000, 9_999_999))}",),
        applicant_id_number=f"0010{draw(st.integers(10_000_000, 99_999_999))}",
        applicant_address=f"Số {draw(st.integers(1, 999))} Phố Huế, Hà Nội",
        secret=f"PIN{draw(st.integers(1000, 9999))}",
    )


def public_messages(view: PublicView, today: date) -> list[Message]:
    messages = [
        compose.status_answer(view, today, office=OFFICE, compact=compact, fee="50.000 đồng")
        for compact in (False, True)
    ]
    messages += [
        notices.reminder_received(view, today),
        notices.reminder_supplement(view),
        notices.reminder_payment(view, fee="50.000 đồng"),
        notices.reminder_ready(view, office=OFFICE),
        notices.reminder_delayed(view, today),
        notices.call_result_ready(view, office=OFFICE),
    ]
    if view.effective_due >= today:
        messages += [
            notices.reminder_due_soon(view, today),
            notices.call_appointment_tomorrow(view, today, office=OFFICE),
        ]
    ready = view.ready_on or (view.status_at.date() if view.status_at else None)
    if ready is None or ready < today:
        messages.append(notices.reminder_not_collected(view, today, office=OFFICE))
    return messages


@settings(max_examples=300)
@given(dossiers(), st.dates(date(2018, 1, 1), date(2031, 12, 31)))
def test_no_public_message_reveals_the_applicant(dossier: Dossier, today: date) -> None:
    view = dossier.public()
    secrets = [
        dossier.applicant_name,
        strip_accents(dossier.applicant_name),
        dossier.applicant_phones[0],
        dossier.applicant_phones[0][3:],  # the national significant number
        dossier.applicant_id_number,
        dossier.applicant_address,
        strip_accents(dossier.applicant_address),
        dossier.secret,
    ]
    allowed = {
        " ".join(t.split())
        for t in (view.procedure_name, view.collection_place, *OFFICE.model_dump().values())
    }
    for message in public_messages(view, today):
        rendered = [
            to_text(message, CATALOG, accents=True),
            to_text(message, CATALOG, accents=False),
            " ".join(to_prompts(message, CATALOG, region="north")),
        ]
        for secret in secrets:
            assert not any(secret in r for r in rendered), secret
        assert set(dynamic_texts(message)) <= allowed
