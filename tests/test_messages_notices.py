"""Reminders and outbound-call notices: exact Vietnamese, prompt order, SMS length."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest

from kernel.office import OfficeSettings
from lookup.model import PublicView, Status
from messages import compose, notices
from messages.gsm import fits_one_segment
from messages.parts import Message, dynamic_prompt_id
from messages.render import to_prompts, to_text
from prompts.catalog import load_catalog

pytestmark = pytest.mark.no_store

CATALOG = load_catalog()
OFFICE = OfficeSettings(
    name="UBND phường Cửa Nam", collection_place="Bộ phận Một cửa UBND phường Cửa Nam"
)
CODE = "000.00.18.H26-241129-0001"
TODAY = date(2024, 12, 2)
CODE_PROMPTS = [
    *("digit_2", "digit_4", "digit_1", "digit_1", "digit_2", "digit_9"),
    "code_sequence",
    *("digit_0", "digit_0", "digit_0", "digit_1"),
]
PLACE = "Mời Ông/Bà đến nhận tại Bộ phận Một cửa UBND phường Cửa Nam."


def view(status: Status = Status.PROCESSING, **changes: object) -> PublicView:
    base = PublicView(
        code=CODE,
        agency_id="000.00.18.H26",
        agency_name="UBND phường Cửa Nam",
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        status=status,
        status_at=datetime(2024, 12, 1, 9, 30),
        received_on=date(2024, 11, 29),
        due_on=date(2024, 12, 5),
        rescheduled_on=None,
        ready_on=date(2024, 12, 1),
        collection_place="",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def text(message: Message, *, accents: bool = True) -> str:
    return to_text(message, CATALOG, accents=accents)


def prompts(message: Message) -> list[str]:
    return to_prompts(message, CATALOG, region="north")


def test_received() -> None:
    message = notices.reminder_received(view(Status.RECEIVED), TODAY)
    assert text(message) == f"Hồ sơ {CODE} đã được tiếp nhận. Hẹn trả kết quả ngày 05/12/2024."
    assert text(message, accents=False) == (
        f"Ho so {CODE} da duoc tiep nhan. Hen tra ket qua ngay 05/12/2024."
    )


def test_supplement() -> None:
    assert text(notices.reminder_supplement(view(Status.SUPPLEMENT))) == (
        f"Hồ sơ {CODE} cần bổ sung giấy tờ. Ông/Bà vui lòng liên hệ Bộ phận Một cửa để bổ sung."
    )


def test_payment_with_and_without_an_amount() -> None:
    assert text(notices.reminder_payment(view(Status.PAYMENT), fee="1.500.000 đ")) == (
        f"Hồ sơ {CODE} cần nộp phí, lệ phí hoặc thuế. Số tiền: 1.500.000 đồng. "
        "Ông/Bà vui lòng liên hệ Bộ phận Một cửa để nộp."
    )
    # Nothing to pay is no amount: the spellings offices use for an exempt procedure.
    exempt = ("miễn phí", "Miễn lệ phí", "MIỄN LỆ PHÍ.", "Miễn thu lệ phí", "Không thu phí")
    for fee in ("", *exempt):
        assert text(notices.reminder_payment(view(Status.PAYMENT), fee=fee)) == (
            f"Hồ sơ {CODE} cần nộp phí, lệ phí hoặc thuế. "
            "Ông/Bà vui lòng liên hệ Bộ phận Một cửa để nộp."
        )


def test_ready_with_hours_unless_compact() -> None:
    hours = " Giờ làm việc: Thứ Hai đến Thứ Sáu, 7 giờ 30 đến 17 giờ."
    ready = view(Status.READY)
    assert text(notices.reminder_ready(ready, office=OFFICE)) == (
        f"Hồ sơ {CODE} đã có kết quả. {PLACE}{hours}"
    )
    assert text(notices.reminder_ready(ready, office=OFFICE, compact=True)) == (
        f"Hồ sơ {CODE} đã có kết quả. {PLACE}"
    )


def test_delayed_apologises_with_the_new_date() -> None:
    late = view(rescheduled_on=date(2025, 1, 12))
    message = notices.reminder_delayed(late, TODAY)
    assert text(message) == (
        f"Hồ sơ {CODE} chưa được giải quyết đúng hẹn. Hẹn trả kết quả mới ngày 12/01/2025. "
        "Thành thật xin lỗi Ông/Bà."
    )
    assert CATALOG["new_due_date"].text == "Ngày hẹn trả kết quả mới là"
    assert prompts(message)[-12:] == [
        "new_due_date",
        "day_12",
        "month_01",
        *("date_year", "num_2", "num_nghin", "num_0", "num_tram", "num_2", "num_muoi"),
        "num_lam",
        "apology",
    ]


@pytest.mark.parametrize(
    ("today", "when", "heard"),
    [
        (date(2024, 12, 5), "hôm nay", ["due_today"]),
        (date(2024, 12, 4), "vào ngày mai", ["due_tomorrow"]),
        (date(2024, 12, 2), "sau 3 ngày nữa", ["due_in", "num_3", "due_in_tail"]),
        (date(2024, 11, 20), "sau 15 ngày nữa", ["due_in", "num_10", "num_lam", "due_in_tail"]),
    ],
)
def test_due_soon(today: date, when: str, heard: list[str]) -> None:
    message = notices.reminder_due_soon(view(), today)
    assert text(message) == f"Hồ sơ {CODE} có hẹn trả kết quả {when}, ngày 05/12/2024."
    assert prompts(message) == [
        "dossier_code",
        *CODE_PROMPTS,
        "appointment",
        *heard,
        "day_05",
        "month_12",
    ]


def test_due_soon_refuses_a_past_date() -> None:
    with pytest.raises(ValueError, match="past"):
        notices.reminder_due_soon(view(), date(2024, 12, 6))


def test_not_collected_says_since_when() -> None:
    message = notices.reminder_not_collected(view(Status.READY), date(2024, 12, 11), office=OFFICE)
    assert text(message) == (
        f"Hồ sơ {CODE} có kết quả từ ngày 01/12/2024 nhưng chưa được nhận. {PLACE}"
    )
    assert prompts(message)[-6:] == [
        "ready_since",
        "day_01",
        "month_12",
        "not_collected_since",
        "collect_at",
        dynamic_prompt_id("Bộ phận Một cửa UBND phường Cửa Nam"),
    ]
    assert CATALOG["ready_since"].text == "đã có kết quả từ"
    assert CATALOG["not_collected_since"].text == "nhưng Ông/Bà chưa đến nhận."


def test_not_collected_falls_back_to_the_status_date_then_to_no_date() -> None:
    by_status = view(Status.READY, ready_on=None, status_at=datetime(2024, 12, 3, 8))
    assert "có kết quả từ ngày 03/12/2024 nhưng" in text(
        notices.reminder_not_collected(by_status, date(2024, 12, 11), office=OFFICE)
    )
    undated = view(Status.READY, ready_on=None, status_at=None)
    assert text(notices.reminder_not_collected(undated, date(2024, 12, 11), office=OFFICE)) == (
        f"Hồ sơ {CODE} đã có kết quả. Ông/Bà chưa đến nhận kết quả. {PLACE}"
    )
    with pytest.raises(ValueError, match="not yet uncollected"):
        notices.reminder_not_collected(view(Status.READY), date(2024, 12, 1), office=OFFICE)


def test_result_ready_call_is_heard_in_order() -> None:
    message = notices.call_result_ready(view(Status.READY), office=OFFICE)
    assert text(message) == (
        "Xin chào. Đây là cuộc gọi tự động của UBND phường Cửa Nam. "
        f"Hồ sơ {CODE}, thủ tục Đăng ký khai sinh, đã có kết quả. {PLACE} "
        "Giờ làm việc: Thứ Hai đến Thứ Sáu, 7 giờ 30 đến 17 giờ. Xin cảm ơn Ông/Bà."
    )
    assert prompts(message) == [
        "call_intro",
        dynamic_prompt_id("UBND phường Cửa Nam"),
        "dossier_code",
        *CODE_PROMPTS,
        "procedure_of",
        dynamic_prompt_id("Đăng ký khai sinh"),
        "status_ready",
        "collect_at",
        dynamic_prompt_id("Bộ phận Một cửa UBND phường Cửa Nam"),
        "office_hours",
        dynamic_prompt_id("Thứ Hai đến Thứ Sáu, 7 giờ 30 đến 17 giờ"),
        "call_thanks",
    ]


def test_appointment_call_names_the_day() -> None:
    nameless = OfficeSettings(name=" ")
    message = notices.call_appointment_tomorrow(view(), date(2024, 12, 4), office=nameless)
    assert text(message) == (
        "Xin chào. Đây là cuộc gọi tự động của Bộ phận Một cửa. "
        f"Hồ sơ {CODE}, thủ tục Đăng ký khai sinh, có hẹn trả kết quả vào ngày mai, "
        "ngày 05/12/2024. Xin cảm ơn Ông/Bà."
    )
    assert prompts(message)[0] == "call_intro_generic"
    assert prompts(message)[-5:] == [
        "appointment",
        "due_tomorrow",
        "day_05",
        "month_12",
        "call_thanks",
    ]


def test_compose_re_exports_the_notices() -> None:
    assert compose.reminder_ready is notices.reminder_ready
    assert set(compose.__all__) >= {n for n in dir(notices) if n.startswith(("reminder_", "call_"))}


CODES = ["000.00.18.H26-241129-0001", "G22.99.08-260921-896048", "000.17.22.H56-210531-00012"]
PLACES = ["", "Quầy số 3, Trung tâm Phục vụ hành chính công tỉnh"]


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("place", PLACES)
def test_every_sms_reminder_fits_one_unaccented_segment(code: str, place: str) -> None:
    dossier = view(code=code, collection_place=place, rescheduled_on=date(2024, 12, 12))
    messages = [
        notices.reminder_received(dossier, TODAY),
        notices.reminder_supplement(dossier),
        notices.reminder_payment(dossier, fee="12.500.000 đồng"),
        notices.reminder_ready(dossier, office=OFFICE, compact=True),
        notices.reminder_delayed(dossier, TODAY),
        notices.reminder_due_soon(dossier, TODAY),
        notices.reminder_not_collected(dossier, date(2024, 12, 31), office=OFFICE),
    ]
    for message in messages:
        sms = text(message, accents=False)
        assert fits_one_segment(sms), (len(sms), sms)
