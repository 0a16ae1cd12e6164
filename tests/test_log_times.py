"""Log lines carry ISO 8601 times with the offset, in the office's zone."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kernel.logs import LINE_FORMAT, IsoFormatter

pytestmark = pytest.mark.sqlite_only("tracuu in processes of their own on a SQLite demo file")

ROOT = Path(__file__).resolve().parent.parent
ISO_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d [A-Z]+ ")


def _record(at: datetime) -> logging.LogRecord:
    record = logging.LogRecord("tracuu.test", logging.INFO, __file__, 1, "hello", None, None)
    record.created = at.timestamp()
    return record


def test_the_time_is_iso_8601_with_the_offset_of_the_office_zone() -> None:
    at = datetime(2026, 12, 3, 8, 40, 12, 345000, tzinfo=UTC)
    line = IsoFormatter(LINE_FORMAT, ZoneInfo("Asia/Ho_Chi_Minh")).format(_record(at))
    assert line == "2026-12-03T15:40:12.345+07:00 INFO tracuu.test: hello"
    assert datetime.fromisoformat(line.split()[0]) == at  # one instant, however it is read


def test_without_a_zone_the_machine_zone_still_carries_its_offset() -> None:
    line = IsoFormatter(LINE_FORMAT).format(_record(datetime.now(UTC)))
    assert ISO_LINE.match(line), line


def test_the_cli_logs_in_the_configured_zone(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TRACUU_CONFIG": str(tmp_path / "none.toml"),
        "TRACUU_DATABASE": str(tmp_path / "t.sqlite3"),
        "TRACUU_TIMEZONE": "Asia/Tokyo",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "db", "init"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "call", "--keys", "_", "--no-prompt-check"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    logged = [line for line in done.stderr.splitlines() if not line.startswith("--")]
    assert logged
    for line in logged:
        assert ISO_LINE.match(line), line
        assert line[23:29] == "+09:00", line
