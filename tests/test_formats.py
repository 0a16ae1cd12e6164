"""Numbers, dates and times as a Vietnamese reader writes them (messages/formats.py)."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from messages import formats
from messages.prompt_history import in_words, step_in_words
from messages.prompt_history import refusal_in_words as version_refusal
from messages.recording_refusals import in_words as refusal_in_words
from prompts.audio import Levels, Rejected, check
from prompts.versions import PromptRecord, Refused, approve

pytestmark = pytest.mark.no_store

OFFICE = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    ("value", "decimals", "written"),
    [
        (0, 0, "0"),
        (999, 0, "999"),
        (1234, 0, "1.234"),
        (1234567, 0, "1.234.567"),
        (-5000, 0, "-5.000"),
        (1234.5, 1, "1.234,5"),
        (0.25, 2, "0,25"),
    ],
)
def test_thousands_dot_and_decimal_comma(value: float, decimals: int, written: str) -> None:
    assert formats.number(value, decimals) == written


def test_percentages_as_the_console_shows_them() -> None:
    assert formats.percent(100) == "100,0 %"
    assert formats.percent(99.456) == "99,5 %"
    assert formats.ratio(15, 30) == "50,0 %"
    assert formats.ratio(3, 0) == "—"  # nothing to compare with, not a division error


def test_durations_and_days() -> None:
    assert formats.seconds(2.46) == "2,5 giây"
    assert formats.day(date(2026, 12, 3)) == "03/12/2026"
    assert formats.iso_day("2026-12-03") == "03/12/2026"
    assert formats.iso_day("không phải ngày") == "không phải ngày"


def test_a_moment_is_read_day_first_on_the_office_clock() -> None:
    utc = datetime(2026, 12, 3, 20, 40, 5, tzinfo=UTC)  # already the 4th in Hà Nội
    assert formats.moment(utc, OFFICE) == "04/12/2026 03:40 +07:00"
    assert formats.moment(utc, OFFICE, with_seconds=True) == "04/12/2026 03:40:05 +07:00"
    assert formats.moment(utc.replace(tzinfo=None), OFFICE) == "04/12/2026 03:40 +07:00"
    assert formats.moment(utc.timestamp(), OFFICE) == "04/12/2026 03:40 +07:00"
    assert formats.iso_moment("2026-12-03T20:40:05+00:00", OFFICE) == "04/12/2026 03:40 +07:00"


@pytest.mark.parametrize(
    ("logged", "read"),
    [
        ("imported v2", "nhập bản thu v2 (bản nháp)"),
        ("approved v2", "duyệt v2: người gọi nghe bản này"),
        ("rolled back to v0", "quay lại giọng máy (v0)"),
        ("rolled back to v1", "quay lại v1"),
        ("placeholder rendered", "tạo giọng máy tạm (v0)"),
    ],
)
def test_prompt_history_steps_read_in_vietnamese(logged: str, read: str) -> None:
    assert step_in_words(logged) == read
    assert unicodedata.is_normalized("NFC", read)


def test_a_history_line_keeps_its_time_and_who() -> None:
    at, what = in_words("2026-12-03T08:40:00+00:00 Nguyễn Thị Lan: approved v3")
    assert at == "2026-12-03T08:40:00+00:00"
    assert what == "Nguyễn Thị Lan: duyệt v3: người gọi nghe bản này"
    assert in_words("t espeak: placeholder rendered")[1] == "espeak: tạo giọng máy tạm (v0)"


@pytest.mark.parametrize(
    ("levels", "read"),
    [
        (
            {"duration_s": 75.0},
            "quá dài: hơn 60 giây (giới hạn cho một lời thoại)",
        ),
        (
            {"peak_dbfs": -math.inf},
            "không có tiếng: tệp hoàn toàn im lặng; hãy kiểm tra micrô và thu lại",
        ),
        (
            {"clipped_share": 0.021},
            "tiếng bị vỡ (rè): 2,1 % số mẫu chạm mức tối đa; hãy thu lại, "
            "để micrô xa hơn hoặc giảm độ nhạy thu",
        ),
        (
            {"lead_s": 1.3, "trail_s": 1.0},
            "quá ngắn: chỉ có 0,20 giây tiếng nói (cần ít nhất 0,3 giây)",
        ),
    ],
)
def test_a_refused_recording_is_explained_in_vietnamese(
    levels: dict[str, float], read: str
) -> None:
    """The real refusals of prompts/audio.py (a rewording there is caught here)."""
    measured = Levels(
        **{
            "duration_s": 2.5,
            "rms_dbfs": -20.0,
            "peak_dbfs": -3.0,
            "clipped_share": 0.0,
            "lead_s": 0.1,
            "trail_s": 0.1,
            **levels,
        }
    )
    with pytest.raises(Rejected) as refused:
        check(measured, min_s=0.3, max_s=60.0)
    assert refusal_in_words(str(refused.value)) == read
    assert unicodedata.is_normalized("NFC", read)


def test_an_unknown_refusal_stays_as_given() -> None:
    assert refusal_in_words("something new") == "something new"
    assert refusal_in_words("the file is 25.3 MB; the limit is 20 MB") == (
        "tệp nặng 25,3 MB; giới hạn là 20 MB"
    )


def test_the_version_rules_refusals_read_in_vietnamese() -> None:
    """The real refusals of prompts/versions.py (a rewording there is caught here)."""
    record = PromptRecord("apology")
    missing = approve(record, 3, by="Lan", at="t")
    assert isinstance(missing, Refused)
    assert version_refusal(missing.reason) == "lời thoại apology không có bản v3"
    assert version_refusal("version 2 of apology is already live") == (
        "v2 của apology đang được phát cho người gọi"
    )
    assert version_refusal("something new") == "something new"
