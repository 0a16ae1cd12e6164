"""Status vocabularies onto the national codes 1..10, and the overdue rules."""

import unicodedata
from datetime import date, datetime

import pytest

from lookup.model import STATUS_LABELS, PublicView, Status, Timeliness
from lookup.statuses import PORTAL_CODES, UnknownStatus, to_status

pytestmark = pytest.mark.no_store


@pytest.mark.parametrize(("value", "status"), [(4, 4), ("4", 4), ("04", 4), (" 10 ", 10), (1, 1)])
def test_numbers_in_any_form(value: int | str, status: int) -> None:
    assert to_status(value) is Status(status)


def test_portal_text_codes_follow_the_notes_order() -> None:
    order = "receiving new denied processing waiting paying cancelled unresolved releasing done"
    assert [to_status(word) for word in order.split()] == list(Status)
    assert to_status("NEW") is Status.RECEIVED  # positional: "new" is 2, not 1
    assert to_status("Releasing") is Status.READY
    assert set(PORTAL_CODES.values()) == set(Status)


@pytest.mark.parametrize("status", list(Status))
def test_national_labels_in_every_spelling(status: Status) -> None:
    label = STATUS_LABELS[status]
    bare = (
        "".join(c for c in unicodedata.normalize("NFD", label) if not unicodedata.combining(c))
        .replace("đ", "d")
        .replace("Đ", "D")
    )
    for spelling in (
        label,
        label.upper(),
        label.lower(),
        unicodedata.normalize("NFD", label),
        bare,
        bare.upper(),
        f"  {label}. ",
    ):
        assert to_status(spelling) is status


@pytest.mark.parametrize(
    ("label", "status"),
    [
        ("Chờ bổ sung", Status.SUPPLEMENT),
        ("Đã trả kết quả", Status.RETURNED),
        ("Đang giải quyết", Status.PROCESSING),
        ("Chờ trả kết quả", Status.READY),
        ("Hoàn thành", Status.RETURNED),
        ("Trả lại hồ sơ", Status.STOPPED),
        ("Từ chối tiếp nhận", Status.REFUSED),
        ("Chờ nộp phí", Status.PAYMENT),
        ("Đã rút hồ sơ", Status.WITHDRAWN),
        ("Chờ tiếp nhận", Status.NEW),
        ("Đã tiếp nhận", Status.RECEIVED),
        ("DANG THU LY", Status.PROCESSING),
        ("ready", Status.READY),  # our own enum names
    ],
)
def test_provincial_labels(label: str, status: Status) -> None:
    assert to_status(label) is status


def test_overdue_is_refused_as_a_timeliness() -> None:
    with pytest.raises(UnknownStatus, match="late, not how far"):
        to_status("Quá hạn")
    with pytest.raises(UnknownStatus, match="late, not how far"):
        to_status("tre han")


@pytest.mark.parametrize("value", ["", "  ", "0", "11", "-1", "foo", "Đang ngủ", True, 0, 42])
def test_unknown_values_are_errors(value: int | str) -> None:
    with pytest.raises(UnknownStatus):
        to_status(value)


def test_extra_mapping_wins_and_is_checked() -> None:
    extra = {"DXL": 4, "Đã duyệt": 9, "BAD": 12}
    assert to_status("dxl", extra) is Status.PROCESSING
    assert to_status("Da duyet", extra) is Status.READY
    with pytest.raises(UnknownStatus, match="1-10"):
        to_status("BAD", extra)


# -- overdue and timeliness (PublicView) ------------------------------------------------------


def view(
    status: Status, due: date, rescheduled: date | None = None, status_at: datetime | None = None
) -> PublicView:
    return PublicView(
        code="000.00.18.H26-241129-0001",
        agency_id="000.00.18.H26",
        agency_name="",
        procedure_code="",
        procedure_name="",
        status=status,
        status_at=status_at,
        received_on=date(2024, 11, 29),
        due_on=due,
        rescheduled_on=rescheduled,
        ready_on=None,
        collection_place="",
    )


@pytest.mark.parametrize(
    ("status", "today", "overdue"),
    [
        (Status.PROCESSING, date(2024, 12, 3), False),  # on the appointment day: not yet late
        (Status.PROCESSING, date(2024, 12, 4), True),
        (Status.RECEIVED, date(2024, 12, 4), True),
        (Status.SUPPLEMENT, date(2024, 12, 20), False),  # the clock stops for a supplement
        (Status.READY, date(2024, 12, 20), False),
        (Status.RETURNED, date(2024, 12, 20), False),
    ],
)
def test_overdue_only_while_the_clock_runs(status: Status, today: date, overdue: bool) -> None:
    assert view(status, date(2024, 12, 3)).is_overdue(today) is overdue


def test_rescheduled_date_replaces_the_appointment() -> None:
    moved = view(Status.PROCESSING, date(2024, 12, 3), rescheduled=date(2024, 12, 10))
    assert moved.effective_due == date(2024, 12, 10)
    assert not moved.is_overdue(date(2024, 12, 9))
    assert moved.is_overdue(date(2024, 12, 11))


def test_timeliness_of_returned_dossiers() -> None:
    due = date(2024, 12, 3)
    assert view(Status.RETURNED, due, status_at=datetime(2024, 12, 2, 9)).timeliness() is (
        Timeliness.EARLY
    )
    assert view(Status.RETURNED, due, status_at=datetime(2024, 12, 3, 16)).timeliness() is (
        Timeliness.ON_TIME
    )
    assert view(Status.RETURNED, due, status_at=datetime(2024, 12, 5)).timeliness() is (
        Timeliness.LATE
    )
    assert view(Status.READY, due, status_at=datetime(2024, 12, 5)).timeliness() is None
