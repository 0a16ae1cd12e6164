"""The dossier model: national statuses, the record, and its two views.

A PublicView is all a dossier code alone may reveal (Circular 01/2018 art. 16):
code, procedure, status, dates, where to collect. A FullView adds the applicant,
and is only built after a second factor (see lookup.port.Proof).
Pure: no I/O, no clock (callers pass `today`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum, IntEnum


class Status(IntEnum):
    """The national portal's dossier status codes 1..10."""

    NEW = 1
    RECEIVED = 2
    REFUSED = 3
    PROCESSING = 4
    SUPPLEMENT = 5
    PAYMENT = 6
    WITHDRAWN = 7
    STOPPED = 8
    READY = 9
    RETURNED = 10

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS: dict[Status, str] = {
    Status.NEW: "Mới đăng ký",
    Status.RECEIVED: "Được tiếp nhận",
    Status.REFUSED: "Không được tiếp nhận",
    Status.PROCESSING: "Đang xử lý",
    Status.SUPPLEMENT: "Yêu cầu bổ sung giấy tờ",
    Status.PAYMENT: "Yêu cầu thực hiện nghĩa vụ tài chính",
    Status.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    Status.STOPPED: "Dừng xử lý",
    Status.READY: "Đã xử lý xong",
    Status.RETURNED: "Đã trả kết quả",
}

# Statuses whose clock is still running against the appointment date (domain notes §2).
IN_PROGRESS = frozenset({Status.RECEIVED, Status.PROCESSING})


class Timeliness(Enum):
    """How a returned dossier compares with its appointment date."""

    EARLY = "trước hạn"
    ON_TIME = "đúng hạn"
    LATE = "quá hạn"


@dataclass(frozen=True, slots=True)
class PublicView:
    """What a dossier code alone reveals. Never add a personal field here."""

    code: str
    agency_id: str
    agency_name: str
    procedure_code: str
    procedure_name: str
    status: Status
    status_at: datetime | None
    received_on: date
    due_on: date  # ngày hẹn trả on the receipt
    rescheduled_on: date | None  # the one new date after an apology (Decree 61 art. 19.9)
    ready_on: date | None
    collection_place: str

    @property
    def effective_due(self) -> date:
        return self.rescheduled_on or self.due_on

    def is_overdue(self, today: date) -> bool:
        return self.status in IN_PROGRESS and today > self.effective_due

    def timeliness(self) -> Timeliness | None:
        """Early / on time / late for a returned dossier; None while not returned."""
        if self.status != Status.RETURNED or self.status_at is None:
            return None
        returned = self.status_at.date()
        if returned < self.effective_due:
            return Timeliness.EARLY
        if returned == self.effective_due:
            return Timeliness.ON_TIME
        return Timeliness.LATE


@dataclass(frozen=True, slots=True)
class FullView:
    """A PublicView plus the applicant: only after a second factor."""

    public: PublicView
    applicant_name: str
    applicant_phones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dossier:
    """The stored record. Internal: never hand it to a citizen-facing renderer."""

    code: str
    agency_id: str
    procedure_code: str
    procedure_name: str
    status: Status
    received_on: date
    due_on: date
    status_at: datetime | None = None
    rescheduled_on: date | None = None
    ready_on: date | None = None
    collection_place: str = ""
    agency_name: str = ""
    applicant_name: str = ""
    applicant_phones: tuple[str, ...] = ()  # E.164, e.g. +84912345678
    applicant_id_number: str = ""  # CCCD/CMND: personal data, only ever compared
    applicant_address: str = ""
    secret: str = ""  # receipt PIN, if the office issues one
    updated_at: datetime | None = None

    def public(self) -> PublicView:
        return PublicView(
            code=self.code,
            agency_id=self.agency_id,
            agency_name=self.agency_name,
            procedure_code=self.procedure_code,
            procedure_name=self.procedure_name,
            status=self.status,
            status_at=self.status_at,
            received_on=self.received_on,
            due_on=self.due_on,
            rescheduled_on=self.rescheduled_on,
            ready_on=self.ready_on,
            collection_place=self.collection_place,
        )

    def full(self) -> FullView:
        return FullView(self.public(), self.applicant_name, self.applicant_phones)


@dataclass(frozen=True, slots=True)
class Procedure:
    """Guidance on one administrative procedure (thủ tục hành chính)."""

    code: str
    name: str
    documents: tuple[str, ...] = ()  # thành phần hồ sơ
    fee: str = ""  # lệ phí, as the office states it ("Miễn phí", "50.000 đồng")
    processing_time: str = ""  # thời hạn giải quyết, e.g. "3 ngày làm việc"
    common: bool = False  # offered in the voice menu's short list


@dataclass(frozen=True, slots=True)
class Changes:
    """One page of dossiers changed after a cursor, for the reminder rules."""

    dossiers: tuple[Dossier, ...]
    cursor: str  # opaque; pass it back to get the next page
    more: bool = field(default=False)
