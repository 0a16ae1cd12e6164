"""Logging set-up and the masking of phone numbers.

smpplib and panoramisk log whole PDUs and AMI messages at DEBUG, passwords and
message text included, so their loggers are held at INFO or above. Every line
starts with its time in ISO 8601 with the offset, in the office's zone
(2026-12-03T15:40:12.345+07:00), the zone every time a person reads is in.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, tzinfo
from typing import Literal

_NOISY = ("smpp", "panoramisk", "aiosqlite", "asyncio")
# Phone-shaped numbers in free text: Vietnamese 0…/84…/+84… (9–11 more digits), or
# any +international. Call ids like Asterisk's "1732890000.1" are left readable.
_NUMBER = re.compile(r"(?<![\w.+])(?:(?:\+?84|0)\d{8,10}|\+\d{8,14})(?!\w|\.\d)")


def mask_msisdn(number: str | None) -> str:
    """Keep the first 3 and last 3 digits: '0912345678' -> '091****678'."""
    if not number:
        return "-"
    digits = number.strip()
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 6) + digits[-3:]


class MaskingFilter(logging.Filter):
    """Masks anything that looks like a phone number in a formatted record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _NUMBER.sub(lambda m: mask_msisdn(m.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class IsoFormatter(logging.Formatter):
    """%(asctime)s as ISO 8601 with milliseconds and the offset: unambiguous across zones
    and daylight-saving changes, sortable, and what log tools parse."""

    def __init__(self, fmt: str, zone: tzinfo | None = None) -> None:
        super().__init__(fmt)
        self.zone = zone  # None: the machine's local zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.zone)
        if self.zone is None:
            moment = moment.astimezone()
        return moment.isoformat(timespec="milliseconds")


LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(IsoFormatter):
    """One JSON object a line, for log collectors (settings.log_format = "json"):
    time (ISO 8601 with the offset), level, logger, message, and exc when there is one."""

    def __init__(self, zone: tzinfo | None = None) -> None:
        super().__init__(LINE_FORMAT, zone)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),  # masked already by MaskingFilter
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(
    level: str = "INFO", zone: tzinfo | None = None, fmt: Literal["text", "json"] = "text"
) -> None:
    """Log lines to stderr, times in `zone` (settings.zone) with their offset; `fmt`
    "json" writes one JSON object a line instead (settings.log_format)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(zone) if fmt == "json" else IsoFormatter(LINE_FORMAT, zone))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


def current_setup(zone: tzinfo | None) -> tuple[str, tzinfo | None, Literal["text", "json"]]:
    """setup_logging()'s arguments as this process has it set up (level, `zone`, format),
    for a worker process to log into the same stderr the same way."""
    root = logging.getLogger()
    json_lines = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    return logging.getLevelName(root.getEffectiveLevel()), zone, "json" if json_lines else "text"
