"""How numbers, dates and times are written for a Vietnamese reader: one place.

Vietnamese groups thousands with a dot and writes decimals with a comma
("1.234 cuộc gọi", "99,5 %"), and dates day first ("03/12/2026"). The console,
the SMS texts and the files office workers open use these; logs and machine
formats (JSON, ISO 8601 in the stores) do not. Times are shown on the office's
clock with its offset, as the project's time rule says ("03/12/2026 15:40 +07:00").
Pure: the moment and the zone are handed in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

_SWAP = str.maketrans(",.", ".,")


def number(value: float, decimals: int = 0) -> str:
    """1234 -> '1.234'; 1234.5 with decimals=1 -> '1.234,5'; -5 -> '-5'."""
    text = f"{value:,.{decimals}f}"  # '1,234.5': swap the separators
    return text.translate(_SWAP)


def percent(value: float, decimals: int = 1) -> str:
    """A percentage already ×100: 100 -> '100,0 %', 99.456 -> '99,5 %'."""
    return f"{number(value, decimals)} %"


def ratio(part: float, whole: float, decimals: int = 1) -> str:
    """part/whole as a percentage; '—' when there is no whole to compare with."""
    return "—" if not whole else percent(100 * part / whole, decimals)


def seconds(value: float) -> str:
    """A duration a person reads: 2.46 -> '2,5 giây'."""
    return f"{number(value, 1)} giây"


def day(value: date) -> str:
    """'03/12/2026'."""
    return f"{value:%d/%m/%Y}"


def iso_day(text: str) -> str:
    """An ISO date as stored ('2026-12-03') as '03/12/2026'; other text as it is."""
    try:
        return day(date.fromisoformat(text))
    except ValueError:
        return text


def moment(value: datetime | float, zone: tzinfo, *, with_seconds: bool = False) -> str:
    """'03/12/2026 15:40 +07:00': `value` (aware, naive UTC or epoch seconds) in `zone`."""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the stores' convention: naive means UTC
    local = value.astimezone(zone)
    raw = local.strftime("%z") or "+0000"
    clock = "%H:%M:%S" if with_seconds else "%H:%M"
    return f"{local:%d/%m/%Y} {local.strftime(clock)} {raw[:3]}:{raw[3:5]}"


def iso_moment(text: str, zone: tzinfo) -> str:
    """An ISO 8601 time as stored (UTC) shown by moment(); other text as it is."""
    try:
        return moment(datetime.fromisoformat(text), zone)
    except ValueError:
        return text
