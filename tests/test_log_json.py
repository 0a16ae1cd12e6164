"""settings.log_format = "json": one JSON object a line, phones masked, times with the offset."""

from __future__ import annotations

import json
import logging
from zoneinfo import ZoneInfo

import pytest

from gateway.settings import Settings
from kernel.logs import setup_logging

pytestmark = pytest.mark.no_store


def test_json_lines_carry_time_level_logger_and_the_masked_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        # The handler writes to the stderr of its making: capsys's, here.
        setup_logging("INFO", ZoneInfo("Asia/Ho_Chi_Minh"), "json")
        logging.getLogger("sms.pump").info("reply to %s sent", "0912345678")
        try:
            int("hỏng")
        except ValueError:
            logging.getLogger("x").exception("lỗi")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["level"] == "INFO"
    assert first["logger"] == "sms.pump"
    assert first["message"] == "reply to 091****678 sent"
    assert first["time"].endswith("+07:00")
    assert second["message"] == "lỗi"
    assert "ValueError: invalid literal for int() with base 10: 'hỏng'" in second["exc"]


def test_the_setting_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    monkeypatch.setenv("TRACUU_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("TRACUU_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()
