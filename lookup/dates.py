"""Dates and times as one-stop systems write them: dd/mm/yyyy (with a time), ISO, epoch.

Pure: no I/O, no clock. Naive datetimes stay naive; the caller knows the zone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

_DMY = re.compile(
    r"(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4})"
    r"(?:[ T,]+(?P<H>\d{1,2})[:h](?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
)
EPOCH_MS_ABOVE = 10**11  # larger numbers are milliseconds (OpenCPS sends those)


def parse_datetime(value: object, zone: tzinfo = UTC) -> datetime:
    """A datetime from dd/mm/yyyy[ HH:MM[:SS]], ISO 8601, epoch seconds/ms or a date.

    Epoch values and ISO times with an offset are instants: they come back
    aware, in `zone` (the office's time zone), so their date is the local date.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > EPOCH_MS_ABOVE else value
        return datetime.fromtimestamp(seconds, zone)
    if not isinstance(value, str):
        raise TypeError(f"not a date: {value!r}")
    text = value.strip()
    match = _DMY.fullmatch(text)
    if match:
        return datetime(
            int(match["y"]), int(match["m"]), int(match["d"]),
            int(match["H"] or 0), int(match["M"] or 0), int(match["S"] or 0),
        )  # fmt: skip
    if text.isdigit():
        return parse_datetime(int(text), zone)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date: {value!r} (expected dd/mm/yyyy or yyyy-mm-dd)") from None
    return parsed.astimezone(zone) if parsed.tzinfo else parsed


def parse_date(value: object, zone: tzinfo = UTC) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return parse_datetime(value, zone).date()
