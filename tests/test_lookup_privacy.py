"""A code alone never reveals name, phone, ID number or address: properties."""

import asyncio
import json
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookup.model import Dossier, Status
from lookup.public import as_json, as_text
from lookup.sqlite import DossierStore, SqliteLookup

pytestmark = pytest.mark.no_store

# Personal values from alphabets the public fields never use, so any hit is a leak.
VIETNAMESE = "ăâđêôơưĂÂĐÊÔƠƯáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
names = st.text(alphabet=VIETNAMESE, min_size=4, max_size=20)
id_numbers = st.text(alphabet="0123456789", min_size=12, max_size=12)
mobiles = st.integers(10_000_000, 99_999_999).map(lambda n: f"09{n}")  # 0912345678 etc.
public_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz", max_size=30)

dossiers = st.builds(
    Dossier,
    code=st.integers(1, 9999).map(lambda n: f"000.00.18.H26-241129-{n:04d}"),
    agency_id=st.just("000.00.18.H26"),
    procedure_code=public_text,
    procedure_name=public_text,
    status=st.sampled_from(Status),
    received_on=st.just(date(2024, 11, 29)),
    due_on=st.dates(date(2024, 11, 29), date(2025, 12, 31)),
    rescheduled_on=st.none() | st.dates(date(2024, 11, 29), date(2025, 12, 31)),
    collection_place=public_text,
    agency_name=public_text,
    applicant_name=names,
    applicant_phones=st.tuples(mobiles),
    applicant_id_number=id_numbers,
    applicant_address=names,
    secret=id_numbers,
)


def personal(d: Dossier) -> list[str]:
    phone = d.applicant_phones[0]
    return [d.applicant_name, d.applicant_address, d.applicant_id_number, d.secret,
            phone, phone[1:], "+84" + phone[1:]]  # fmt: skip


@given(dossiers, st.dates(date(2024, 1, 1), date(2026, 12, 31)))
def test_public_renderings_hold_no_personal_field(dossier: Dossier, today: date) -> None:
    view = dossier.public()
    rendered = [
        json.dumps(as_json(view, today), ensure_ascii=False),
        json.dumps(as_json(view, today)),  # escaped form too
        as_text(view, today),
        repr(view),
    ]
    for text in rendered:
        for value in personal(dossier):
            assert value not in text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(dossiers, min_size=1, max_size=5, unique_by=lambda d: d.code))
def test_stored_and_read_back_the_public_view_stays_public(batch: list[Dossier]) -> None:
    async def scenario(db: Path) -> list[str]:
        store = await DossierStore.open(db)
        await store.upsert_dossiers(batch)
        await store.close()
        lookup = await SqliteLookup.open(db)
        try:
            texts = []
            for d in batch:
                view = await lookup.by_code(d.code)
                assert view is not None
                texts.append(json.dumps(as_json(view, date(2025, 1, 1)), ensure_ascii=False))
                texts.append(repr(view))
            for keyed in await lookup.by_keypad_digits("2411290001"):
                texts.append(repr(keyed))
            return texts
        finally:
            await lookup.close()

    with tempfile.TemporaryDirectory() as tmp:
        texts = asyncio.run(scenario(Path(tmp) / "t.sqlite3"))
    for text in texts:
        for d in batch:
            for value in personal(d):
                assert value not in text
