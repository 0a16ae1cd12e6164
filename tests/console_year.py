"""A year of generated traffic in the real tables (1,000 calls a day), for the statistics
test and bench/console_bench.py. Every tenth call follows the same ten patterns, so the
expected counts are known exactly (see PER_TEN_CALLS and PER_DAY)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from kernel.db import BlockingConnection, is_postgres
from tests import stores

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST_DAY = date(2025, 12, 1)
DAYS = 365
CALLS_PER_DAY = 1000

# ivr/flow.py event names, as sessions record them.
PATTERNS: tuple[tuple[str, ...], ...] = (
    ("menu", "code_keyed", "found", "status_spoken", "ivr_goodbye"),
    ("menu", "code_keyed", "found", "status_spoken", "ivr_goodbye"),
    ("menu", "code_keyed", "found", "status_spoken", "ivr_goodbye"),
    ("menu", "code_keyed", "found", "status_spoken", "hung_up"),
    (
        "menu",
        "code_keyed",
        "not_found",
        "code_keyed",
        "found",
        "status_spoken",
        "officer_asked",
    ),
    ("menu", "code_keyed", "not_found", "hung_up"),
    ("menu", "code_keyed", "not_found", "hung_up"),
    ("menu", "hung_up"),
    ("menu", "officer_asked"),
    ("menu", "guidance", "guide_spoken", "ivr_goodbye"),
)
PER_TEN_CALLS = {
    "calls": 10,
    "answered": 7,
    "abandoned": 3,
    "funnel_menu": 10,
    "funnel_code": 7,
    "funnel_found": 5,
    "funnel_status": 5,
    "funnel_officer": 2,
    "lookup_voice": 8,
}
# SMS a day: 50 in; 40 replies out (36 delivered, 2 failed, 2 still submitted);
# reminders: 5 "ready" (4 delivered, 1 failed), 5 "soon" (3 delivered, 2 deferred).
PER_DAY = {
    "sms_in": 50,
    "sms_out": 50,
    "sms_delivered": 43,
    "sms_failed": 3,
    "reminder_sent:ready": 4,
    "reminder_failed:ready": 1,
    "reminder_sent:soon": 3,
    "reminder_deferred:soon": 2,
}


def expected_per_day() -> dict[str, int]:
    calls = {m: n * CALLS_PER_DAY // 10 for m, n in PER_TEN_CALLS.items()}
    return {**calls, **PER_DAY}


def _call_rows(day: date) -> Iterator[tuple[str, str, str]]:
    start = datetime.combine(day, time(0), ZONE)
    for i in range(CALLS_PER_DAY):
        # 86 s apart: the day's calls spread over its 24 hours, all inside the day.
        at = (start + timedelta(seconds=86 * i + 30)).isoformat()
        uniqueid = f"{day.toordinal()}.{i}"
        for event in PATTERNS[i % 10]:
            yield uniqueid, at, event


def _sms_rows(day: date) -> Iterator[tuple[str, tuple[object, ...]]]:
    noon = datetime.combine(day, time(12), ZONE).timestamp()
    for i in range(50):
        yield "in", ("84912345678", "HS 1", noon + i, "handled")
    for i in range(40):
        state = "delivered" if i < 36 else "failed" if i < 38 else "submitted"
        yield "out", ("84912345678", "reply", "reply", state, 0, 0, noon, noon + i, noon, None)
    for i, (kind, state, deferred) in enumerate(
        [("ready", "delivered", False)] * 4
        + [("ready", "failed", False)]
        + [("soon", "delivered", False)] * 3
        + [("soon", "queued", True)] * 2
    ):
        created = noon + 100 + i
        key = f"{kind}:000.00.18.H26-241129-{i:04d}:{day.isoformat()}:84912345678"
        not_before = created + 3600 if deferred else created
        yield (
            "out",
            ("84912345678", "r", "reminder", state, 0, 0, not_before, created, created, key),
        )


async def schemas(database: Path) -> None:
    """The real IVR and SMS tables, by their own migrations."""
    from ivr.store import IvrStore
    from sms.outbox import migrate_file

    await migrate_file(database)
    store = await IvrStore.open(database)
    await store.close()


def calls_in_hour(hour: int) -> int:
    """How many of a day's generated calls end in that hour of the day."""
    return sum(1 for i in range(CALLS_PER_DAY) if (86 * i + 30) // 3600 == hour)


def build(database: Path, first: date = FIRST_DAY, days: int = DAYS) -> None:
    """The real schemas, then `days` days of rows from `first` (a year by default) in one
    transaction, on whichever backend the test run uses (tests/stores.py)."""
    asyncio.run(schemas(database))
    calls: list[tuple[object, ...]] = []
    inbound: list[tuple[object, ...]] = []
    outbound: list[tuple[object, ...]] = []
    for n in range(days):
        day = first + timedelta(days=n)
        calls.extend(_call_rows(day))
        for table, row in _sms_rows(day):
            (inbound if table == "in" else outbound).append(row)
    rows = {"ivr_call_event": calls, "sms_inbound": inbound, "sms_message": outbound}
    location = stores.url(database)
    if is_postgres(location):
        # COPY: a year through executemany takes minutes on PostgreSQL, seconds this way.
        asyncio.run(_copy(location, rows))
        return
    conn = BlockingConnection.open(database)
    try:
        conn.begin()
        for table, values in rows.items():
            names = COLUMNS[table]
            marks = ", ".join("?" * len(names))
            conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", values)
        conn.commit()
    finally:
        conn.close()


COLUMNS = {
    "ivr_call_event": ("uniqueid", "at", "event"),
    "sms_inbound": ("msisdn", "body", "received_at", "state"),
    "sms_message": (
        "msisdn", "body", "kind", "state", "data_coding", "esm_class", "not_before",
        "created_at", "updated_at", "dedup_key",
    ),
}  # fmt: skip


async def _copy(url: str, rows: dict[str, list[tuple[object, ...]]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for table, values in rows.items():
                await conn.copy_records_to_table(table, records=values, columns=COLUMNS[table])
    finally:
        await conn.close()
