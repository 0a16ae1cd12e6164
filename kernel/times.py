"""One rule for the times a person reads: the office's wall clock, with its offset.

CLI listings, the outbox and the console show `2026-12-03 15:40 +07:00`
(settings.zone, Asia/Ho_Chi_Minh by default); logs carry ISO 8601 with the
offset (kernel/logs.py). Stores keep UTC (or epoch seconds); only what is shown
is converted. Pure: the moment and the zone are handed in.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def offset_text(moment: datetime) -> str:
    """'+07:00' (strftime's %z has no colon before Python 3.12)."""
    raw = moment.strftime("%z") or "+0000"
    return f"{raw[:3]}:{raw[3:5]}"


def for_people(moment: datetime | float, zone: tzinfo, *, seconds: bool = False) -> str:
    """'2026-12-03 15:40 +07:00': `moment` (aware, naive UTC, or epoch seconds) in `zone`."""
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the stores' convention: naive means UTC
    local = moment.astimezone(zone)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return f"{local:%Y-%m-%d} {local.strftime(clock)} {offset_text(local)}"


def iso_for_people(text: str, zone: tzinfo, *, seconds: bool = False) -> str:
    """An ISO 8601 time as stored (UTC) shown by for_people; other text as it is."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return for_people(moment, zone, seconds=seconds)
