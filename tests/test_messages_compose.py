"""What a citizen reads and hears for a looked-up dossier: exact Vietnamese, exact prompts."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date, datetime

import pytest

from kernel.office import OfficeSettings
from lookup.codes import Reason
from lookup.model import FullView, Procedure, PublicView, Status
from messages import compose
from messages.compose import CodeProblem
from messages.gsm import fits_one_segment
from messages.parts import FreeText, Number, Phrase, dynamic_prompt_id
from messages.render import to_prompts, to_text
from prompts.catalog import load_catalog

pytestmark = pytest.mark.no_store

CATALOG = load_catalog()
OFFICE = OfficeSettings(
    name="UBND phường Cửa Nam", collection_place="Bộ phận Một cửa UBND phường Cửa Nam"
)
TODAY = date(2024, 12, 2)
CODE = "000.00.18.H26-241129-0001"
HEAD = f"Hồ sơ {CODE}, thủ tục Đăng ký khai sinh,"
HEAD_U = f"Ho so {CODE}, thu tuc Dang ky khai sinh,"
PROCEDURE_ID = dynamic_prompt_id("Đăng ký khai sinh")
CODE_PROMPTS = [
    *("digit_2", "digit_4", "digit_1", "digit_1", "digit_2", "digit_9"),
    "code_sequence",
    *("digit_0", "digit_0", "digit_0", "digit_1"),
]


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


def text(message: compose.Message, *, accents: bool = True) -> str:
    return to_text(message, CATALOG, accents=accents)


def prompts(message: compose.Message, region: str = "north") -> list[str]:
    return to_prompts(message, CATALOG, region=region)  # type: ignore[arg-type]


CONTACT = "Ông/Bà vui lòng liên hệ Bộ phận Một cửa."
READY_TAIL = (
    "Mời Ông/Bà đến nhận tại Bộ phận Một cửa UBND phường Cửa Nam. "
    "Giờ làm việc: Thứ Hai đến Thứ Sáu, 7 giờ 30 đến 17 giờ."
)
ANSWERS = {
    Status.NEW: f"{HEAD} đã đăng ký trực tuyến, đang chờ tiếp nhận.",
    Status.RECEIVED: f"{HEAD} đã được tiếp nhận. Hẹn trả kết quả ngày 05/12/2024.",
    Status.REFUSED: f"{HEAD} không được tiếp nhận. {CONTACT}",
    Status.PROCESSING: f"{HEAD} đang được giải quyết. Hẹn trả kết quả ngày 05/12/2024.",
    Status.SUPPLEMENT: f"{HEAD} cần bổ sung giấy tờ. "
    "Ông/Bà vui lòng liên hệ Bộ phận Một cửa để bổ sung.",
    Status.PAYMENT: f"{HEAD} cần nộp phí, lệ phí hoặc thuế. Số tiền: 50.000 đồng. "
    "Ông/Bà vui lòng liên hệ Bộ phận Một cửa để nộp.",
    Status.WITHDRAWN: f"{HEAD} đã rút theo yêu cầu của người nộp. {CONTACT}",
    Status.STOPPED: f"{HEAD} đã bị dừng xử lý. {CONTACT}",
    Status.READY: f"{HEAD} đã có kết quả. {READY_TAIL}",
    Status.RETURNED: f"{HEAD} đã được trả kết quả ngày 01/12/2024.",
}
ANSWERS_UNACCENTED = {
    Status.NEW: f"{HEAD_U} da dang ky truc tuyen, dang cho tiep nhan.",
    Status.RECEIVED: f"{HEAD_U} da duoc tiep nhan. Hen tra ket qua ngay 05/12/2024.",
    Status.REFUSED: f"{HEAD_U} khong duoc tiep nhan. Ong/Ba vui long lien he Bo phan Mot cua.",
    Status.PROCESSING: f"{HEAD_U} dang duoc giai quyet. Hen tra ket qua ngay 05/12/2024.",
    Status.SUPPLEMENT: f"{HEAD_U} can bo sung giay to. "
    "Ong/Ba vui long lien he Bo phan Mot cua de bo sung.",
    Status.PAYMENT: f"{HEAD_U} can nop phi, le phi hoac thue. So tien: 50.000 dong. "
    "Ong/Ba vui long lien he Bo phan Mot cua de nop.",
    Status.WITHDRAWN: f"{HEAD_U} da rut theo yeu cau cua nguoi nop. "
    "Ong/Ba vui long lien he Bo phan Mot cua.",
    Status.STOPPED: f"{HEAD_U} da bi dung xu ly. Ong/Ba vui long lien he Bo phan Mot cua.",
    Status.READY: f"{HEAD_U} da co ket qua. Moi Ong/Ba den nhan tai Bo phan Mot cua UBND "
    "phuong Cua Nam. Gio lam viec: Thu Hai den Thu Sau, 7 gio 30 den 17 gio.",
    Status.RETURNED: f"{HEAD_U} da duoc tra ket qua ngay 01/12/2024.",
}


@pytest.mark.parametrize("status", list(Status))
def test_each_status_reads_in_vietnamese(status: Status) -> None:
    message = compose.status_answer(view(status), TODAY, office=OFFICE, fee="50.000 đồng")
    written = text(message)
    assert written == ANSWERS[status]
    assert unicodedata.is_normalized("NFC", written)
    assert text(message, accents=False) == ANSWERS_UNACCENTED[status]


@pytest.mark.parametrize("status", list(Status))
def test_compact_answers_drop_the_procedure_and_the_hours(status: Status) -> None:
    message = compose.status_answer(
        view(status), TODAY, office=OFFICE, compact=True, fee="50.000 đồng"
    )
    expected = ANSWERS[status].replace(HEAD, f"Hồ sơ {CODE}")
    expected = expected.replace(" Giờ làm việc: Thứ Hai đến Thứ Sáu, 7 giờ 30 đến 17 giờ.", "")
    assert text(message) == expected


def test_a_processing_answer_is_heard_in_this_order() -> None:
    message = compose.status_answer(view(), TODAY, office=OFFICE)
    assert prompts(message) == [
        "dossier_code",
        *CODE_PROMPTS,
        "procedure_of",
        PROCEDURE_ID,
        "status_processing",
        "due_date",
        "day_05",
        "month_12",  # this year: no year is read
    ]


def test_a_date_in_another_year_is_read_with_its_year_by_region() -> None:
    message = compose.status_answer(view(due_on=date(2025, 1, 5)), TODAY, office=OFFICE)
    year_north = ["date_year", "num_2", "num_nghin", "num_0", "num_tram", "num_2", "num_muoi"]
    assert prompts(message)[-10:] == ["day_05", "month_01", *year_north, "num_lam"]
    year_south = [*year_north[:2], "num_ngan", *year_north[3:]]
    assert prompts(message, "south")[-10:] == ["day_05", "month_01", *year_south, "num_lam"]
    assert text(message).endswith("Hẹn trả kết quả ngày 05/01/2025.")


def test_an_overdue_dossier_gets_an_apology_and_its_date() -> None:
    message = compose.status_answer(view(), date(2024, 12, 9), office=OFFICE)
    assert text(message) == (
        f"{HEAD} đang được giải quyết. Hẹn trả kết quả ngày 05/12/2024, nay đã quá hạn. "
        f"Thành thật xin lỗi Ông/Bà. {CONTACT}"
    )
    assert prompts(message)[-7:] == [
        "status_processing",
        "due_date",
        "day_05",
        "month_12",
        "now_overdue",
        "apology",
        "contact_office",
    ]
    assert CATALOG["apology"].text == "Chúng tôi thành thật xin lỗi Ông/Bà vì sự chậm trễ này."
    compact = compose.status_answer(view(), date(2024, 12, 9), office=OFFICE, compact=True)
    assert text(compact, accents=False) == (
        f"Ho so {CODE} dang duoc giai quyet. Hen tra ket qua ngay 05/12/2024, nay da qua han. "
        "Thanh that xin loi Ong/Ba."
    )


def test_a_rescheduled_dossier_gets_its_new_date_and_an_apology() -> None:
    late = view(Status.RECEIVED, rescheduled_on=date(2024, 12, 12))
    message = compose.status_answer(late, date(2024, 12, 9), office=OFFICE)
    assert text(message) == (
        f"{HEAD} đã được tiếp nhận. Hẹn trả kết quả mới ngày 12/12/2024. Thành thật xin lỗi Ông/Bà."
    )
    assert prompts(message)[-4:] == ["new_due_date", "day_12", "month_12", "apology"]
    # Past the new date too: overdue wins, against the new date.
    overdue = compose.status_answer(late, date(2024, 12, 13), office=OFFICE)
    assert "Hẹn trả kết quả ngày 12/12/2024, nay đã quá hạn." in text(overdue)


def test_the_dossiers_own_collection_place_wins_over_the_office() -> None:
    here = view(Status.READY, collection_place="Quầy số 3, Trung tâm Phục vụ hành chính công")
    message = compose.status_answer(here, TODAY, office=OFFICE, compact=True)
    assert text(message) == (
        f"Hồ sơ {CODE} đã có kết quả. "
        "Mời Ông/Bà đến nhận tại Quầy số 3, Trung tâm Phục vụ hành chính công."
    )
    assert prompts(message)[-2:] == [
        "collect_at",
        dynamic_prompt_id("Quầy số 3, Trung tâm Phục vụ hành chính công"),
    ]


def test_ready_with_no_place_and_no_hours_anywhere() -> None:
    bare = OfficeSettings(collection_place="", hours="")
    message = compose.status_answer(view(Status.READY), TODAY, office=bare)
    assert text(message) == f"{HEAD} đã có kết quả. Mời Ông/Bà đến Bộ phận Một cửa nhận kết quả."
    assert CATALOG["collect_here"].text == "Mời Ông/Bà đến Bộ phận Một cửa để nhận kết quả."


def test_a_place_that_ends_its_own_sentence_gets_no_second_stop() -> None:
    dotted = view(Status.READY, collection_place="Tầng 1, nhà A.")
    message = compose.status_answer(dotted, TODAY, office=OFFICE, compact=True)
    assert text(message).endswith("Mời Ông/Bà đến nhận tại Tầng 1, nhà A.")


def test_returned_without_a_date_says_so_plainly() -> None:
    message = compose.status_answer(view(Status.RETURNED, status_at=None), TODAY, office=OFFICE)
    assert text(message) == f"{HEAD} đã được trả kết quả."


def test_payment_without_a_fee_or_free_states_no_amount() -> None:
    for fee in ("", "Miễn phí", "  ", "Miễn lệ phí", "Không thu lệ phí."):
        message = compose.status_answer(view(Status.PAYMENT), TODAY, office=OFFICE, fee=fee)
        assert "Số tiền" not in text(message), fee
        assert "fee_amount" not in prompts(message)


def test_a_fee_in_dong_is_spoken_from_number_fragments() -> None:
    message = compose.status_answer(
        view(Status.PAYMENT), TODAY, office=OFFICE, fee="1.500.000 đ", compact=True
    )
    assert text(message) == (
        f"Hồ sơ {CODE} cần nộp phí, lệ phí hoặc thuế. Số tiền: 1.500.000 đồng. "
        "Ông/Bà vui lòng liên hệ Bộ phận Một cửa để nộp."
    )
    assert prompts(message)[-9:] == [
        "status_payment",
        "fee_amount",
        *("num_1", "num_trieu", "num_5", "num_tram", "num_nghin"),
        "unit_dong",
        "contact_payment",
    ]
    assert CATALOG["fee_amount"].text == "Số tiền phải nộp là"


def test_an_odd_fee_is_read_as_the_office_wrote_it() -> None:
    message = compose.status_answer(
        view(Status.PAYMENT), TODAY, office=OFFICE, fee="theo thông báo thuế", compact=True
    )
    assert "Số tiền: theo thông báo thuế." in text(message)


def test_a_nameless_procedure_is_left_out() -> None:
    message = compose.status_answer(view(procedure_name="  "), TODAY, office=OFFICE)
    assert text(message).startswith(f"Hồ sơ {CODE} đang được giải quyết.")


def test_full_answer_greets_the_applicant_by_name() -> None:
    full = FullView(view(Status.READY), "Nguyễn Văn An", ("+84912345678",))
    message = compose.full_answer(full, TODAY, office=OFFICE, compact=True)
    assert text(message) == (
        f"Kính chào Ông/Bà Nguyễn Văn An. Hồ sơ {CODE} đã có kết quả. "
        "Mời Ông/Bà đến nhận tại Bộ phận Một cửa UBND phường Cửa Nam."
    )
    assert text(message, accents=False).startswith("Kinh chao Ong/Ba Nguyen Van An. Ho so")
    assert prompts(message)[:2] == ["greeting_named", dynamic_prompt_id("Nguyễn Văn An")]
    assert "+84912345678" not in text(message)


def test_brief_full_answer_names_without_a_second_ong_ba() -> None:
    full = FullView(view(Status.READY), "Nguyễn Văn An", ())
    message = compose.full_answer(full, TODAY, office=OFFICE, compact=True, brief=True)
    assert text(message) == (
        f"Nguyễn Văn An: Hồ sơ {CODE} đã có kết quả. "
        "Mời Ông/Bà đến nhận tại Bộ phận Một cửa UBND phường Cửa Nam."
    )
    assert text(message).count("Ông/Bà") == 1


@pytest.mark.parametrize(
    ("place", "max_chars", "short"),
    [
        ("Bộ phận Một cửa UBND phường Cửa Nam", 100, "BP Một cửa UBND P. Cửa Nam"),
        (
            "Quầy số 3, Bộ phận tiếp nhận và trả kết quả, Ủy ban nhân dân quận Hoàn Kiếm,"
            " thành phố Hà Nội",
            100,
            "Quầy số 3, BP TN&TKQ, UBND Q. Hoàn Kiếm, TP Hà Nội",
        ),
        ("Trung tâm Phục vụ hành chính công tỉnh", 100, "TT PVHCC tỉnh"),
        ("UỶ BAN NHÂN DÂN HUYỆN Đông Anh", 100, "UBND H. Đông Anh"),
        ("Quầy số 3, BP TN&TKQ, UBND Q. Hoàn Kiếm", 27, "Quầy số 3, BP TN&TKQ, UBND…"),
        ("Quầy số 3, BP TN&TKQ, UBND Q. Hoàn Kiếm", 26, "Quầy số 3, BP TN&TKQ…"),
        ("Phườngxa", 100, "Phườngxa"),  # whole words only
    ],
)
def test_short_place(place: str, max_chars: int, short: str) -> None:
    assert compose.short_place(place, max_chars) == short
    assert len(compose.short_place(place, max_chars)) <= max_chars


def test_place_chars_shortens_the_answer_place_only() -> None:
    message = compose.status_answer(
        view(Status.READY), TODAY, office=OFFICE, compact=True, place_chars=1000
    )
    assert text(message, accents=False) == (
        f"Ho so {CODE} da co ket qua. Moi Ong/Ba den nhan tai BP Mot cua UBND P. Cua Nam."
    )


def test_full_answer_without_a_name_is_the_public_answer() -> None:
    full = FullView(view(), "", ())
    assert compose.full_answer(full, TODAY, office=OFFICE) == compose.status_answer(
        view(), TODAY, office=OFFICE
    )


REALISTIC = [
    ("000.00.18.H26-241129-0001", "Đăng ký khai sinh"),
    ("000.00.06.H56-231027-0361", "Cấp bản sao trích lục hộ tịch"),
    ("000.A0.01.H26-210212-9090", "Chứng thực bản sao từ bản chính giấy tờ, văn bản"),
    ("G22.99.08-260921-896048", "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản"),
    ("000.17.22.H56-210531-00012", "Cấp giấy phép xây dựng nhà ở riêng lẻ"),
]
PLACES = ["", "Bộ phận Một cửa UBND phường Cửa Nam", "Quầy số 3, Trung tâm Phục vụ hành chính công"]


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize(("code", "procedure"), REALISTIC)
def test_every_compact_answer_fits_one_unaccented_sms(
    status: Status, code: str, procedure: str
) -> None:
    for place in PLACES:
        for today in (TODAY, date(2024, 12, 9)):
            for rescheduled in (None, date(2024, 12, 12)):
                dossier = view(
                    status,
                    code=code,
                    procedure_name=procedure,
                    collection_place=place,
                    rescheduled_on=rescheduled,
                )
                message = compose.status_answer(
                    dossier, today, office=OFFICE, compact=True, fee="1.500.000 đồng"
                )
                sms = text(message, accents=False)
                assert fits_one_segment(sms), (len(sms), sms)


def test_a_typical_full_answer_fits_one_sms_too() -> None:
    for status in (Status.RECEIVED, Status.PROCESSING, Status.RETURNED, Status.REFUSED):
        sms = text(compose.status_answer(view(status), TODAY, office=OFFICE), accents=False)
        assert fits_one_segment(sms), sms


def test_not_found_echoes_the_code_to_check() -> None:
    message = compose.not_found(" 2411290001 ")
    assert text(message) == (
        "Không tìm thấy hồ sơ 2411290001. "
        "Ông/Bà vui lòng kiểm tra lại mã số trên giấy hẹn trả kết quả."
    )
    assert prompts(message) == ["not_found", *CODE_PROMPTS, "check_receipt"]
    assert CATALOG["not_found"].text == "Không tìm thấy hồ sơ số"


def test_not_found_never_echoes_a_whole_pasted_text() -> None:
    message = compose.not_found("HS " + "9" * 200)
    assert len(text(message)) < 130
    assert text(compose.not_found("")) == (
        "Không tìm thấy hồ sơ. Ông/Bà vui lòng kiểm tra lại mã số trên giấy hẹn trả kết quả."
    )


INVALID = {
    CodeProblem.EMPTY: "Ông/Bà chưa nhập mã số hồ sơ. Mã số in trên giấy hẹn trả kết quả.",
    CodeProblem.TOO_LONG: "Mã số hồ sơ không đúng.",
    CodeProblem.BAD_CHARACTER: "Mã số hồ sơ không đúng.",
    CodeProblem.MISSING_PART: "Mã số hồ sơ chưa đầy đủ.",
    CodeProblem.EXTRA_PART: "Mã số hồ sơ không đúng.",
    CodeProblem.BAD_AGENCY: "Mã cơ quan trong mã số hồ sơ không đúng.",
    CodeProblem.BAD_DATE: "Ngày tháng trong mã số hồ sơ không đúng.",
    CodeProblem.BAD_SEQUENCE: "Số thứ tự trong mã số hồ sơ không đúng.",
}
CHECK = " Ông/Bà vui lòng kiểm tra lại mã số trên giấy hẹn trả kết quả."


@pytest.mark.parametrize("problem", list(CodeProblem))
def test_an_invalid_code_says_what_is_wrong(problem: CodeProblem) -> None:
    expected = INVALID[problem] + ("" if problem is CodeProblem.EMPTY else CHECK)
    assert text(compose.invalid_code(problem)) == expected


def test_every_lookup_reason_maps_onto_a_code_problem() -> None:
    assert {CodeProblem(reason.value) for reason in Reason} == set(CodeProblem)


def test_system_busy() -> None:
    assert text(compose.system_busy()) == (
        "Hệ thống tra cứu đang bận. Ông/Bà vui lòng thử lại sau ít phút."
    )
    assert prompts(compose.system_busy()) == ["system_busy"]


def test_help_text_shows_the_syntax_and_an_example() -> None:
    message = compose.help_text(" hs ", example_code=CODE, short_code="8088")
    assert text(message) == f"Để tra cứu hồ sơ, soạn tin: HS <mã hồ sơ> gửi 8088. Ví dụ: HS {CODE}."
    assert text(message, accents=False) == (
        f"De tra cuu ho so, soan tin: HS <ma ho so> gui 8088. Vi du: HS {CODE}."
    )
    assert text(compose.help_text("TRACUU", example_code=CODE)) == (
        f"Để tra cứu hồ sơ, soạn tin: TRACUU <mã hồ sơ>. Ví dụ: TRACUU {CODE}."
    )


def test_procedure_guidance_lists_documents_fee_and_time() -> None:
    procedure = Procedure(
        "1.001193",
        "Đăng ký khai sinh",
        ("Tờ khai đăng ký khai sinh", "", "Giấy chứng sinh."),
        "Miễn phí",
        "3 ngày làm việc",
    )
    message = compose.procedure_guidance(procedure)
    assert text(message) == (
        "Thủ tục Đăng ký khai sinh. Giấy tờ cần có: Tờ khai đăng ký khai sinh; "
        "Giấy chứng sinh. Lệ phí: miễn phí. Thời hạn giải quyết: 3 ngày làm việc."
    )
    assert prompts(message) == [
        "procedure_guidance",
        PROCEDURE_ID,
        "documents_needed",
        dynamic_prompt_id("Tờ khai đăng ký khai sinh"),
        dynamic_prompt_id("Giấy chứng sinh."),
        "fee_label",
        "fee_free",
        "processing_time_label",
        "num_3",
        "unit_working_days",
    ]


@pytest.mark.parametrize(
    ("fee", "time", "written", "tail"),
    [
        ("50.000 đồng", "15 ngày", "Lệ phí: 50.000 đồng. Thời hạn giải quyết: 15 ngày.",
         ["num_lam", "unit_days"]),
        ("2.000 đồng/trang", "Trong ngày", "Lệ phí: 2.000 đồng/trang. Thời hạn giải quyết: "
         "Trong ngày.", [dynamic_prompt_id("Trong ngày")]),
        ("", "", "", ["procedure_guidance", PROCEDURE_ID]),
    ],
)  # fmt: skip
def test_procedure_guidance_amounts(fee: str, time: str, written: str, tail: list[str]) -> None:
    message = compose.procedure_guidance(Procedure("x", "Đăng ký khai sinh", (), fee, time))
    assert text(message) == f"Thủ tục Đăng ký khai sinh. {written}".strip()
    assert prompts(message)[-len(tail) :] == tail


def test_several_dossiers() -> None:
    message = compose.several_dossiers(3)
    assert text(message) == "Ông/Bà có 3 hồ sơ."
    assert prompts(message) == ["several_dossiers", "num_3", "several_dossiers_tail"]
    assert message == (Phrase("several_dossiers"), Number(3), Phrase("several_dossiers_tail"))


def test_free_text_parts_are_the_only_dynamic_prompts() -> None:
    message = compose.status_answer(view(Status.READY), TODAY, office=OFFICE)
    dynamic = [p for p in prompts(message) if p.startswith("txt_")]
    free = [p.text for p in message if isinstance(p, FreeText)]
    assert dynamic == [dynamic_prompt_id(t) for t in free]
    assert free == [
        "Đăng ký khai sinh",
        "Bộ phận Một cửa UBND phường Cửa Nam",
        "Thứ Hai đến Thứ Sáu, 7 giờ 30 đến 17 giờ",
    ]
