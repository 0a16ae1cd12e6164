"""One time rule: what a person reads is the office's wall clock with its offset."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.cli import main
from kernel.times import for_people, iso_for_people, offset_text

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
MOMENT = datetime(2026, 12, 3, 8, 40, 12, tzinfo=UTC)


def test_a_moment_reads_in_the_office_zone_with_its_offset() -> None:
    assert for_people(MOMENT, HANOI) == "2026-12-03 15:40 +07:00"
    assert for_people(MOMENT, HANOI, seconds=True) == "2026-12-03 15:40:12 +07:00"
    assert for_people(MOMENT.timestamp(), HANOI) == "2026-12-03 15:40 +07:00"  # epoch seconds
    assert for_people(MOMENT.replace(tzinfo=None), HANOI) == "2026-12-03 15:40 +07:00"  # UTC
    assert for_people(MOMENT, timezone(timedelta(hours=-3, minutes=-30))) == (
        "2026-12-03 05:10 -03:30"
    )
    assert offset_text(MOMENT) == "+00:00"


def test_stored_iso_times_are_converted_and_other_text_left_alone() -> None:
    assert iso_for_people("2026-12-03T08:40:12+00:00", HANOI) == "2026-12-03 15:40 +07:00"
    assert iso_for_people("?", HANOI) == "?"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_DATABASE", str(tmp_path / "tracuu.sqlite3"))
    monkeypatch.setenv("TRACUU_SOUNDS_DIR", str(tmp_path / "sounds"))
    assert main(["demo-data", "--count", "5"]) == 0
    return tmp_path


def test_the_outbox_listing_shows_the_office_clock_with_its_offset(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reminders", "run", "--once"]) == 0
    capsys.readouterr()
    before = datetime.now(HANOI)
    assert main(["sms", "outbox"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("#")]
    assert rows
    for row in rows:
        at = re.match(r"#\d+ (\d{4}-\d\d-\d\d \d\d:\d\d) (\+07:00) ", row)
        assert at is not None, row
        shown = datetime.strptime(at[1], "%Y-%m-%d %H:%M").replace(tzinfo=HANOI)
        assert abs(shown - before) < timedelta(minutes=2)


def test_the_office_zone_is_a_setting(
    demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["reminders", "run", "--once"]) == 0
    monkeypatch.setenv("TRACUU_TIMEZONE", "Asia/Tokyo")
    capsys.readouterr()
    assert main(["sms", "outbox"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("#")]
    assert rows
    assert all(" +09:00 " in row for row in rows)
