"""Logging set-up and the masking of phone numbers.

smpplib and panoramisk log whole PDUs and AMI messages at DEBUG, passwords and
message text included, so their loggers are held at INFO or above.
"""

from __future__ import annotations

import logging
import re

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


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
