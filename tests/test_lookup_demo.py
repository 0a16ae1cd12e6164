"""Demo data: deterministic, realistic, and the documented fixed dossiers hold."""

import unicodedata
from collections import Counter
from datetime import date, timedelta

import pytest

from lookup.codes import parse_code
from lookup.demo import FIXED_CODE, add_working_days, fixed_dossiers, generate, procedures
from lookup.model import Status
from lookup.phones import normalise_phone

pytestmark = pytest.mark.no_store

TODAY = date(2026, 11, 30)  # a Monday
AGENCIES = ["000.00.18.H26", "000.00.19.H26"]


def test_same_seed_same_dossiers_other_seed_others() -> None:
    first = list(generate(300, today=TODAY, agencies=AGENCIES, seed=7))
    assert first == list(generate(300, today=TODAY, agencies=AGENCIES, seed=7))
    assert first != list(generate(300, today=TODAY, agencies=AGENCIES, seed=8))


def test_generated_dossiers_are_valid_unique_and_plausible() -> None:
    dossiers = list(generate(2000, today=TODAY, agencies=AGENCIES, seed=1))
    assert len({d.code for d in dossiers}) == 2000
    for d in dossiers:
        code = parse_code(d.code)
        assert code.agency in AGENCIES
        assert code.received_on == d.received_on
        assert d.received_on.weekday() < 5
        assert d.received_on <= TODAY
        assert d.due_on >= d.received_on
        assert d.rescheduled_on is None or d.rescheduled_on > d.due_on
        assert d.code.split("-")[0] == d.agency_id
        assert unicodedata.is_normalized("NFC", d.applicant_name)
        assert len(d.applicant_id_number) == 12
        assert normalise_phone(d.applicant_phones[0]) is not None
        if d.status is Status.RETURNED:
            assert d.ready_on is not None
    statuses = Counter(d.status for d in dossiers)
    assert {
        Status.RETURNED,
        Status.READY,
        Status.PROCESSING,
        Status.RECEIVED,
        Status.SUPPLEMENT,
    } <= set(statuses)
    overdue = [d for d in dossiers if d.public().is_overdue(TODAY)]
    rescheduled = [d for d in dossiers if d.rescheduled_on is not None]
    assert overdue
    assert rescheduled
    legacy = [d for d in dossiers if len(d.applicant_phones[0]) == 11]
    assert 0.05 < len(legacy) / len(dossiers) < 0.15


def test_fixed_dossiers_match_their_documentation() -> None:
    fixed = {(d.code, d.status): d for d in fixed_dossiers(TODAY)}
    ready = fixed[(FIXED_CODE, Status.READY)]
    assert ready.due_on == TODAY + timedelta(days=2)
    assert ready.secret == "739204"
    assert ready.applicant_id_number.endswith("2345")
    assert ready.applicant_phones == ("0912345678",)
    assert not ready.public().is_overdue(TODAY)
    twin = fixed[("000.00.19.H26-241129-0001", Status.RECEIVED)]
    assert parse_code(twin.code).keypad == parse_code(FIXED_CODE).keypad == "2411290001"
    overdue = fixed[("000.00.18.H26-241129-0002", Status.PROCESSING)]
    assert overdue.public().is_overdue(TODAY)
    assert normalise_phone(overdue.applicant_phones[0]) == "+84326123456"
    moved = fixed[("000.00.18.H26-241129-0003", Status.PROCESSING)]
    assert moved.rescheduled_on == TODAY + timedelta(days=3)
    assert not moved.public().is_overdue(TODAY)
    assert ("000.00.18.H26-241129-0004", Status.SUPPLEMENT) in fixed
    assert ("000.00.18.H26-241129-0006", Status.REFUSED) in fixed
    returned = fixed[("000.00.18.H26-241129-0005", Status.RETURNED)]
    assert returned.public().timeliness() is not None
    assert returned.public().timeliness().value == "đúng hạn"  # type: ignore[union-attr]


def test_generated_codes_never_collide_with_fixed_ones() -> None:
    fixed = {d.code for d in fixed_dossiers(TODAY)}
    assert not fixed & {d.code for d in generate(5000, today=TODAY, agencies=AGENCIES)}


def test_procedures_have_guidance_and_five_common_ones() -> None:
    listed = procedures()
    names = {p.name for p in listed}
    assert {
        "Đăng ký khai sinh",
        "Đăng ký kết hôn",
        "Chứng thực bản sao từ bản chính",
        "Cấp giấy phép xây dựng",
        "Cấp bản sao trích lục hộ tịch",
        "Đăng ký khai tử",
        "Xác nhận tình trạng hôn nhân",
    } <= names
    assert sum(p.common for p in listed) == 5
    assert all(p.documents and p.fee and p.processing_time for p in listed)
    assert len({p.code for p in listed}) == len(listed)


def test_working_days_skip_weekends() -> None:
    friday = date(2026, 11, 27)
    assert add_working_days(friday, 1) == date(2026, 11, 30)
    assert add_working_days(friday, 5) == date(2026, 12, 4)


def test_fixed_dossiers_read_like_this_weeks_work_whatever_the_day() -> None:
    """Received days or weeks ago, due around today: never 'received 2024, due 2026'."""
    for today in (TODAY, date(2027, 6, 5), date(2030, 1, 1)):  # a Monday, a Saturday, any day
        for d in fixed_dossiers(today):
            age = (today - d.received_on).days
            assert 1 <= age <= 28, (d.code, d.received_on)
            assert d.received_on.weekday() < 5
            assert d.received_on <= d.due_on
            assert abs((d.due_on - today).days) <= 5
            assert d.status_at is not None
            assert d.received_on <= d.status_at.date() <= today
            assert d.ready_on is None or d.received_on <= d.ready_on <= today


def test_fixed_dossiers_keep_the_codes_the_readme_prints() -> None:
    codes = {d.code for d in fixed_dossiers(date(2030, 1, 1))}
    assert codes == {
        "000.00.18.H26-241129-0001",
        "000.00.19.H26-241129-0001",
        *(f"000.00.18.H26-241129-000{n}" for n in range(2, 7)),
    }


def test_generated_dossiers_skip_the_fixed_code_day() -> None:
    today = date(2024, 12, 2)  # 2024-11-29 is within the generated span
    generated = list(generate(3000, today=today, agencies=AGENCIES))
    assert all(d.received_on != date(2024, 11, 29) for d in generated)
