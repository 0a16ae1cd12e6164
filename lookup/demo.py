"""Demo dossiers and procedure guidance: realistic, deterministic for a seed.

Generated dossiers belong to the configured agencies, were received in the
weeks before `today`, and carry statuses that fit their dates (most old ones
returned, some overdue, some rescheduled once, a few waiting for documents or
fees). Applicants have Vietnamese names, 12-digit CCCD numbers and phones, one
in ten still in the legacy 11-digit form (converted on storage).

Fixed dossiers, always present, for the README, the tests and the other
packages. Their codes never change, so every command the README prints keeps
working; everything else is relative to `today` (D), so they read like a
week's work of a real office whatever the day: received a few days or weeks
ago, due soon, one overdue, one rescheduled. The date inside a fixed code
(241129) is therefore not its reception date; only generated codes carry theirs.
Reception days that fall on a weekend move back to the Friday before.

| code                      | status            | received | other facts                  |
|---------------------------|-------------------|----------|------------------------------|
| 000.00.18.H26-241129-0001 | 9 Đã xử lý xong   | D-3      | Đăng ký khai sinh; due D+2   |
|                           |                   |          | (ready early, on D-1); phone |
|                           |                   |          | 0912345678; CCCD ends 2345;  |
|                           |                   |          | receipt PIN 739204           |
| 000.00.19.H26-241129-0001 | 2 Được tiếp nhận  | D-1      | same keypad digits           |
|                           |                   |          | 2411290001 as the one above, |
|                           |                   |          | other agency: keypad         |
|                           |                   |          | ambiguity; due D+1; phone    |
|                           |                   |          | 0987654321                   |
| 000.00.18.H26-241129-0002 | 4 Đang xử lý      | D-24     | overdue: due D-3; Cấp giấy   |
|                           |                   |          | phép xây dựng; legacy phone  |
|                           |                   |          | 01626123456 (stored          |
|                           |                   |          | +84326123456)                |
| 000.00.18.H26-241129-0003 | 4 Đang xử lý      | D-12     | rescheduled: due D-2, new    |
|                           |                   |          | date D+3 (not overdue)       |
| 000.00.18.H26-241129-0004 | 5 Yêu cầu bổ sung | D-4      | supplement requested; due D+2|
| 000.00.18.H26-241129-0005 | 10 Đã trả kết quả | D-12     | ready D-6, returned on its   |
|                           |                   |          | due date D-5                 |
| 000.00.18.H26-241129-0006 | 3 Không được      | D-2      | refused at reception         |
|                           | tiếp nhận         |          |                              |

All fixed dossiers have CCCD 001190012345 except where noted, and phone
0912345678 unless another is given. Generated dossiers are received within
the last 60 days (more for large counts) and never on 2024-11-29, so their
codes never collide with the fixed ones.

Pure: takes `today`, reads no clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from lookup.model import Dossier, Procedure, Status

FIXED_AGENCY, OTHER_AGENCY = "000.00.18.H26", "000.00.19.H26"
FIXED_CODE = "000.00.18.H26-241129-0001"
# The date part of every fixed code; a fixed identifier, not a reception date.
FIXED_CODE_DAY = date(2024, 11, 29)


@dataclass(frozen=True, slots=True)
class DemoProcedure:
    procedure: Procedure
    working_days: int  # processing time, for the appointment date


def _p(  # noqa: PLR0917 - one row of the PROCEDURES table
    code: str,
    name: str,
    documents: tuple[str, ...],
    fee: str,
    days: int,
    time_text: str,
    common: bool = False,
) -> DemoProcedure:
    return DemoProcedure(Procedure(code, name, documents, fee, time_text, common), days)


# Procedure names are the real national ones; codes are in the national database's style.
PROCEDURES: tuple[DemoProcedure, ...] = (
    _p("1.001193", "Đăng ký khai sinh",
       ("Tờ khai đăng ký khai sinh", "Giấy chứng sinh"),
       "Miễn lệ phí", 1, "Ngay trong ngày làm việc", common=True),
    _p("1.000894", "Đăng ký kết hôn",
       ("Tờ khai đăng ký kết hôn", "Giấy tờ tùy thân của hai bên"),
       "Miễn lệ phí", 5, "5 ngày làm việc", common=True),
    _p("2.000815", "Chứng thực bản sao từ bản chính",
       ("Bản chính giấy tờ", "Bản sao cần chứng thực"),
       "2.000 đồng/trang; từ trang thứ ba 1.000 đồng/trang", 1, "Ngay trong ngày làm việc",
       common=True),
    _p("1.004227", "Cấp bản sao trích lục hộ tịch",
       ("Tờ khai cấp bản sao trích lục hộ tịch",),
       "8.000 đồng/bản", 1, "Ngay trong ngày làm việc", common=True),
    _p("1.000656", "Đăng ký khai tử",
       ("Tờ khai đăng ký khai tử", "Giấy báo tử"),
       "Miễn lệ phí", 1, "Ngay trong ngày làm việc"),
    _p("1.004873", "Xác nhận tình trạng hôn nhân",
       ("Tờ khai cấp giấy xác nhận tình trạng hôn nhân",),
       "Miễn lệ phí", 3, "3 ngày làm việc", common=True),
    _p("1.009994", "Cấp giấy phép xây dựng",
       ("Đơn đề nghị cấp giấy phép xây dựng", "Giấy tờ về quyền sử dụng đất",
        "Bản vẽ thiết kế xây dựng"),
       "75.000 đồng", 15, "15 ngày"),
    _p("2.000884", "Chứng thực chữ ký trong các giấy tờ, văn bản",
       ("Giấy tờ tùy thân", "Giấy tờ, văn bản cần chứng thực chữ ký"),
       "10.000 đồng/trường hợp", 1, "Ngay trong ngày làm việc"),
    _p("1.001022", "Đăng ký nhận cha, mẹ, con",
       ("Tờ khai đăng ký nhận cha, mẹ, con", "Chứng cứ chứng minh quan hệ cha, mẹ, con"),
       "Miễn lệ phí", 3, "3 ngày làm việc"),
    _p("2.000720", "Đăng ký hộ kinh doanh",
       ("Giấy đề nghị đăng ký hộ kinh doanh", "Bản sao giấy tờ pháp lý của chủ hộ"),
       "100.000 đồng", 3, "3 ngày làm việc"),
)  # fmt: skip

_SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
             "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")  # fmt: skip
_MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Thu", "Ngọc", "Hữu", "Thanh", "Quang", "Thị Kim")
_GIVEN = ("An", "Bình", "Chi", "Dũng", "Hà", "Hạnh", "Hùng", "Lan", "Linh", "Mai", "Nam",
          "Phương", "Quân", "Sơn", "Thảo", "Trang", "Tuấn", "Vy", "Yến", "Khoa", "Đạt")  # fmt: skip
_STREETS = ("Hàng Bài", "Tràng Tiền", "Lý Thường Kiệt", "Hai Bà Trưng", "Quán Sứ",
            "Hàng Bông", "Phan Chu Trinh", "Ngô Quyền")  # fmt: skip
_MOBILE = ("090", "091", "093", "094", "096", "097", "098", "032", "035", "038", "070", "077",
           "079", "081", "083", "085", "056", "058")  # fmt: skip
_LEGACY = ("0162", "0165", "0168", "0120", "0122", "0123", "0125", "0127", "0186", "0199")


def procedures() -> list[Procedure]:
    return [p.procedure for p in PROCEDURES]


def received_days_ago(today: date, days: int) -> date:
    """`days` before today, moved back to the Friday before when that is a weekend."""
    received = today - timedelta(days=days)
    while received.weekday() >= 5:  # offices receive on working days
        received -= timedelta(days=1)
    return received


def fixed_dossiers(today: date) -> list[Dossier]:
    """The documented dossiers (see the module docstring), dated relative to today."""
    khai_sinh, building, copy = PROCEDURES[0], PROCEDURES[6], PROCEDURES[2]

    def fixed(
        number: int,
        status: Status,
        received_ago: int,
        agency: str = FIXED_AGENCY,
        procedure: DemoProcedure = khai_sinh,
        **fields: object,
    ) -> Dossier:
        demo = procedure
        received = received_days_ago(today, received_ago)
        values: dict[str, object] = {
            "code": f"{agency}-{FIXED_CODE_DAY:%y%m%d}-{number:04d}",
            "agency_id": agency,
            "procedure_code": demo.procedure.code,
            "procedure_name": demo.procedure.name,
            "status": status,
            "received_on": received,
            "due_on": today + timedelta(days=2),
            "status_at": datetime.combine(max(received, today - timedelta(days=1)), time(9, 30)),
            "applicant_name": "Nguyễn Thị Lan",
            "applicant_phones": ("0912345678",),
            "applicant_id_number": "001190012345",
            "applicant_address": "Số 12 phố Hàng Bài, phường Cửa Nam, Hà Nội",
            **fields,
        }
        return Dossier(**values)  # type: ignore[arg-type]

    return [
        fixed(1, Status.READY, 3, ready_on=today - timedelta(days=1), secret="739204"),
        fixed(1, Status.RECEIVED, 1, agency=OTHER_AGENCY, procedure=copy,
              due_on=today + timedelta(days=1), applicant_name="Trần Văn Minh",
              applicant_phones=("0987654321",), applicant_id_number="001085004321",
              applicant_address="Số 3 phố Tràng Tiền, phường Hoàn Kiếm, Hà Nội"),
        fixed(2, Status.PROCESSING, 24, procedure=building, due_on=today - timedelta(days=3),
              applicant_name="Phạm Đức Hùng", applicant_phones=("01626123456",),
              applicant_id_number="001079007788"),
        fixed(3, Status.PROCESSING, 12, due_on=today - timedelta(days=2),
              rescheduled_on=today + timedelta(days=3)),
        fixed(4, Status.SUPPLEMENT, 4),
        fixed(5, Status.RETURNED, 12, due_on=today - timedelta(days=5),
              ready_on=today - timedelta(days=6),
              status_at=datetime.combine(today - timedelta(days=5), time(10, 0))),
        fixed(6, Status.REFUSED, 2,
              status_at=datetime.combine(received_days_ago(today, 2), time(8, 0))),
    ]  # fmt: skip


def generate(
    count: int, *, today: date, agencies: Sequence[str], seed: int = 1
) -> Iterator[Dossier]:
    """`count` random dossiers of `agencies`, deterministic for (count, today, seed)."""
    if not agencies:
        raise ValueError("demo data needs at least one agency")
    rng = random.Random(seed)
    span_days = max(60, count // 2000)  # keeps daily counters realistic for large counts
    counters: dict[tuple[str, date], int] = {}
    for _ in range(count):
        agency = agencies[rng.randrange(len(agencies))]
        received = received_days_ago(today, rng.randrange(span_days))
        if received == FIXED_CODE_DAY:  # that day's codes belong to the fixed dossiers
            received = received_days_ago(received, 1)
        sequence = counters.get((agency, received), 0) + 1
        counters[(agency, received)] = sequence
        yield _dossier(rng, agency, received, sequence, today)


def _dossier(rng: random.Random, agency: str, received: date, seq: int, today: date) -> Dossier:
    demo = PROCEDURES[rng.randrange(len(PROCEDURES))]
    due = add_working_days(received, demo.working_days)
    status, rescheduled, ready, status_day = _fate(rng, received, due, today)
    name = f"{rng.choice(_SURNAMES)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"
    return Dossier(
        code=f"{agency}-{received:%y%m%d}-{seq:04d}",
        agency_id=agency,
        procedure_code=demo.procedure.code,
        procedure_name=demo.procedure.name,
        status=status,
        received_on=received,
        due_on=due,
        status_at=datetime.combine(status_day, time(rng.randrange(8, 17), rng.randrange(60))),
        rescheduled_on=rescheduled,
        ready_on=ready,
        applicant_name=name,
        applicant_phones=(_phone(rng),),
        applicant_id_number=f"001{rng.randrange(10)}{rng.randrange(60, 100):02d}"
        f"{rng.randrange(10**6):06d}",
        applicant_address=f"Số {rng.randrange(1, 200)} phố {rng.choice(_STREETS)}, Hà Nội",
    )


def _fate(
    rng: random.Random, received: date, due: date, today: date
) -> tuple[Status, date | None, date | None, date]:
    """A status that fits the dates: (status, rescheduled_on, ready_on, status day)."""
    roll = rng.random()
    if due < today:
        if roll < 0.70:
            returned = min(today, due + timedelta(days=rng.randrange(-2, 3)))
            returned = max(returned, received)
            return Status.RETURNED, None, returned, returned
        if roll < 0.80:
            return Status.READY, None, due, due
        if roll < 0.88:  # overdue
            return Status.PROCESSING, None, None, received
        if roll < 0.93:  # late, apologised, moved once
            return Status.PROCESSING, due + timedelta(days=rng.randrange(3, 11)), None, due
        if roll < 0.97:
            return Status.SUPPLEMENT, None, None, min(today, received + timedelta(days=1))
        if roll < 0.99:
            return Status.REFUSED, None, None, received
        return Status.WITHDRAWN, None, None, min(today, received + timedelta(days=1))
    if roll < 0.05:
        return Status.NEW, None, None, received
    if roll < 0.30:
        return Status.RECEIVED, None, None, received
    if roll < 0.75:
        return Status.PROCESSING, None, None, min(today, received + timedelta(days=1))
    if roll < 0.83:
        return Status.SUPPLEMENT, None, None, today
    if roll < 0.88:
        return Status.PAYMENT, None, None, today
    return Status.READY, None, today, today  # ready early


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(_LEGACY) + f"{rng.randrange(10**7):07d}"
    return rng.choice(_MOBILE) + f"{rng.randrange(10**7):07d}"


def add_working_days(start: date, days: int) -> date:
    """The appointment date: `days` working days after `start` (weekends skipped)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current
