"""History and statistics: hourly rollups of calls, look-ups, SMS and reminders.

The raw tables (ivr_call_event, sms_message, sms_inbound, sms_lookup_log) are
kept for days, not years, and summing them for a year of 1,000 calls a day is
seconds of work. So a rollup job folds them into `stat_hour` (one row per hour
and metric; hour = whole hours since the Unix epoch, UTC) and the console reads
only that table: a year is ~9,000 grouped rows, answered in milliseconds.

- Calls are folded incrementally (an id watermark): a call's events are written
  once, when it ends.
- SMS and reminders change state after they are written (queued -> delivered),
  so their hours are recomputed over a trailing window on every run; the SMS
  look-up log is purged after a day, so its window stays shorter than that.
- Web and kiosk look-ups have no raw table: the console counts them directly
  (`count`).

Statistics are grouped by the office's days and hours (settings.zone); the SQL
stays portable (no SQLite date functions) so the PostgreSQL port is a driver
change. Refuses: any personal data in stat_hour (counts only).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from kernel.db import Conn, Database, Location, open_migrated, table_names

log = logging.getLogger(__name__)

COMPONENT = "console_stats"
# kernel.db try_lock key: one rollup at a time across gateway instances ('trac' + 2;
# the reminder scan is 'trac' + 1).
ROLLUP_LOCK = 0x7472_6163_0002
STEPS = (
    """
    CREATE TABLE stat_hour (
        hour INTEGER NOT NULL,      -- whole hours since 1970-01-01T00:00Z
        metric TEXT NOT NULL,       -- calls, funnel_found, sms_in, reminder_sent:ready, ...
        n INTEGER NOT NULL,
        PRIMARY KEY (hour, metric)
    );
    CREATE TABLE stat_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
)

# The IVR funnel, in the order a caller goes through it (ivr/flow.py event names).
FUNNEL = ("funnel_menu", "funnel_code", "funnel_found", "funnel_status", "funnel_officer")
CHANNELS = ("voice", "sms", "web", "kiosk")
REMINDER_OUTCOMES = ("sent", "deferred", "failed")
CALL_METRICS = ("calls", "answered", "abandoned", *FUNNEL, "lookup_voice")
SMS_METRICS = ("sms_in", "sms_out", "sms_delivered", "sms_failed")
SMS_WINDOW_H = 48  # delivery receipts come within minutes; two days is ample
LOOKUP_LOG_WINDOW_H = 20  # sms_lookup_log keeps 24 h (sms/outbox.py)
LOOKUP_LOG_DONE = "lookup_sms_done_hour"  # hours before this are final


def hour_of(at: datetime) -> int:
    return int(at.timestamp() // 3600)


@dataclass(frozen=True, slots=True)
class Summary:
    """Statistics for a date range (office days, both ends included)."""

    start: date
    end: date
    days: dict[date, dict[str, int]] = field(default_factory=dict)
    hours: list[dict[str, int]] = field(default_factory=list)  # by hour of day, 0-23
    totals: dict[str, int] = field(default_factory=dict)

    def total(self, metric: str) -> int:
        return self.totals.get(metric, 0)

    @property
    def delivery_rate(self) -> float | None:
        """Delivered / (delivered + failed); None before any SMS reached a final state."""
        done = self.total("sms_delivered") + self.total("sms_failed")
        return None if done == 0 else self.total("sms_delivered") / done

    def reminder_kinds(self) -> list[str]:
        return sorted({m.split(":", 1)[1] for m in self.totals if m.startswith("reminder_")})

    def as_json(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": [{"day": d.isoformat(), **counts} for d, counts in sorted(self.days.items())],
            "hours": [{"hour": h, **counts} for h, counts in enumerate(self.hours)],
            "totals": self.totals,
            "delivery_rate": self.delivery_rate,
            "reminder_kinds": self.reminder_kinds(),
        }


def whole_hour_offset(zone: tzinfo, on: date) -> int:
    """The zone's offset in whole hours on that day (Vietnam: +7, no summer time)."""
    offset = datetime.combine(on, time(12), zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 3600)


class StatsStore:
    """Rollups and the summaries read from them (kernel/db.py: never on the loop).

    A rollup reads the raw tables on a snapshot (the slow part, off the writer), then
    writes the few rollup rows in one short write transaction.
    """

    def __init__(self, db: Database, owned: bool = False) -> None:
        self._db = db
        self._owned = owned

    @classmethod
    async def open(cls, path: Location) -> StatsStore:
        return cls(await open_migrated(path, (COMPONENT, STEPS)), owned=True)

    async def close(self) -> None:
        if self._owned:
            await self._db.close()

    # ---- counting and rolling up

    async def count(self, metric: str, at: datetime, n: int = 1) -> None:
        """Add to one hour's counter (web and kiosk look-ups, which have no raw table)."""
        await self._db.execute(_ADD, (hour_of(at), metric, n))

    async def rollup(self, now: datetime) -> None:
        """Fold what the raw tables gained since the last run into stat_hour.

        `now` is aware and in the office zone, like the IVR's event times. One rollup
        at a time, across every gateway sharing the database (an advisory lock on
        PostgreSQL): the watermarks read here are still current when the writes land.
        Without it, two gateways' consoles rolling up together both added the same calls.
        """
        async with self._db.try_lock(ROLLUP_LOCK) as mine:
            if not mine:
                return  # another gateway is rolling up these same tables right now
            plan = await self._db.read(lambda conn: _plan(conn, now))
            await self._db.run(lambda conn: _apply(conn, plan))

    # ---- reading

    async def summary(self, start: date, end: date, zone: tzinfo) -> Summary:
        """Per office day, per hour of day and in total, from stat_hour alone."""
        offset = whole_hour_offset(zone, start)
        first = hour_of(datetime.combine(start, time(0), zone))
        last = hour_of(datetime.combine(end + timedelta(days=1), time(0), zone))
        summary = Summary(start, end, hours=[{} for _ in range(24)])
        # Integer division of (hour + offset) by 24 is the office day number; both
        # groupings are answered from the primary key's range.
        by_day, by_hour = await self._db.read(
            lambda conn: (
                conn.fetchall(
                    "SELECT (hour + ?) / 24, metric, sum(n) FROM stat_hour"
                    " WHERE hour >= ? AND hour < ? GROUP BY 1, 2",
                    (offset, first, last),
                ),
                conn.fetchall(
                    "SELECT (hour + ?) % 24, metric, sum(n) FROM stat_hour"
                    " WHERE hour >= ? AND hour < ? GROUP BY 1, 2",
                    (offset, first, last),
                ),
            )
        )
        for day_number, metric, n in by_day:
            day = date(1970, 1, 1) + timedelta(days=int(day_number))
            summary.days.setdefault(day, {})[str(metric)] = int(n)
            summary.totals[str(metric)] = summary.totals.get(str(metric), 0) + int(n)
        for hour, metric, n in by_hour:
            summary.hours[int(hour)][str(metric)] = int(n)
        return summary


@dataclass
class _Plan:
    """What one rollup writes: counts to add, hours to recount, watermarks to move."""

    adds: list[tuple[int, str, int]] = field(default_factory=list)
    # (from hour, metric LIKE pattern): rows deleted before `replaces` are inserted
    clears: list[tuple[int, str]] = field(default_factory=list)
    replaces: list[tuple[int, str, int]] = field(default_factory=list)
    state: dict[str, int] = field(default_factory=dict)


def _plan(conn: Conn, now: datetime) -> _Plan:
    tables = table_names(conn)
    plan = _Plan()
    if "ivr_call_event" in tables:
        _plan_calls(conn, now, plan)
    if "sms_message" in tables:
        _plan_sms(conn, now, plan)
    if "sms_lookup_log" in tables:
        _plan_sms_lookups(conn, now, plan)
    return plan


def _apply(conn: Conn, plan: _Plan) -> None:
    for since, pattern in plan.clears:
        conn.execute("DELETE FROM stat_hour WHERE hour >= ? AND metric LIKE ?", (since, pattern))
    conn.executemany(_ADD, [*plan.adds, *plan.replaces])
    for key, value in plan.state.items():
        conn.execute(
            "INSERT INTO stat_state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _state(conn: Conn, key: str) -> int | None:
    value = conn.fetchval("SELECT value FROM stat_state WHERE key = ?", (key,))
    return None if value is None else int(value)


def _plan_calls(conn: Conn, now: datetime, plan: _Plan) -> None:
    # A call's events are inserted together when it ends; rows written in the last
    # minute may still be half-inserted, so they wait for the next run. `at` is text
    # in the writer's zone (the office zone, as `now` must be): the cutoff is too.
    done = _state(conn, "ivr_call_event_id") or 0
    cutoff = (now - timedelta(minutes=1)).isoformat()
    upto = conn.fetchval(
        "SELECT max(id) FROM ivr_call_event WHERE id > ? AND at < ?", (done, cutoff)
    )
    if upto is None:
        return
    for hour_key, *counts in conn.fetchall(_CALLS_BY_HOUR, (done, int(upto))):
        hour = _hour_from_key(str(hour_key))
        plan.adds += [(hour, m, int(n)) for m, n in zip(CALL_METRICS, counts, strict=True) if n]
    plan.state["ivr_call_event_id"] = int(upto)


def _plan_sms(conn: Conn, now: datetime, plan: _Plan) -> None:
    first = _state(conn, "sms_rolled") is None
    since = 0 if first else hour_of(now) - SMS_WINDOW_H
    since_s = since * 3600.0
    plan.clears += [(since, m) for m in SMS_METRICS]
    plan.clears += [(since, f"reminder_{o}:%") for o in REMINDER_OUTCOMES]
    counts: dict[tuple[int, str], int] = {}
    for hour, n in conn.fetchall(
        f"SELECT {_hour_of('received_at')}, count(*) FROM sms_inbound"
        " WHERE received_at >= ? GROUP BY 1",
        (since_s,),
    ):
        counts[(int(hour), "sms_in")] = int(n)
    for hour, total, delivered, failed in conn.fetchall(_SMS_OUT, (since_s,)):
        for metric, n in (("sms_out", total), ("sms_delivered", delivered), ("sms_failed", failed)):
            counts[(int(hour), metric)] = int(n)
    # Reminder kinds live in the dedup key ("ready:<code>:<date>:<number>"), split in
    # Python rather than with dialect string functions. Read in pages: a reminder wave
    # is 100,000 rows in an hour, and 77,000 rows held at once were most of what the
    # garbage collector's full passes walked during the mixed bench (a pass stops calls).
    after = 0
    while page := conn.fetchall(_REMINDERS, (since_s, after, REMINDER_PAGE)):
        after = int(page[-1][0])
        for _, created_at, not_before, state, key in page:
            kind = str(key or "").split(":", 1)[0] or "other"
            outcome = _reminder_outcome(str(state), float(created_at), float(not_before))
            if outcome is not None:
                slot = (int(float(created_at) // 3600), f"reminder_{outcome}:{kind}")
                counts[slot] = counts.get(slot, 0) + 1
        del page
    plan.replaces += [(hour, metric, n) for (hour, metric), n in counts.items() if n]
    plan.state["sms_rolled"] = hour_of(now)


def _plan_sms_lookups(conn: Conn, now: datetime, plan: _Plan) -> None:
    # Hours before `done` are final (their log rows may be purged since); the
    # current and later hours are recounted on every run.
    done = _state(conn, LOOKUP_LOG_DONE) or 0
    since = max(done, hour_of(now) - LOOKUP_LOG_WINDOW_H)
    plan.clears.append((since, "lookup_sms"))
    plan.replaces += [
        (int(h), "lookup_sms", int(n))
        for h, n in conn.fetchall(
            f"SELECT {_hour_of('at')}, count(*) FROM sms_lookup_log WHERE at >= ? GROUP BY 1",
            (since * 3600.0,),
        )
    ]
    plan.state[LOOKUP_LOG_DONE] = hour_of(now)


def _hour_of(seconds: str) -> str:
    """SQL for the hour (since the epoch) of a column of epoch seconds, rounded down on
    both backends: CAST truncates on SQLite but rounds to nearest on PostgreSQL, which put
    a text at 11:59 in the 12:00 hour there."""
    whole = f"CAST({seconds} / 3600 AS INTEGER)"
    return f"CASE WHEN {whole} > {seconds} / 3600 THEN {whole} - 1 ELSE {whole} END"


_ADD = (
    "INSERT INTO stat_hour (hour, metric, n) VALUES (?, ?, ?)"
    " ON CONFLICT (hour, metric) DO UPDATE SET n = stat_hour.n + excluded.n"
)

# One row per call (its events share the `at` of its end), then per hour. The hour key
# keeps the row's own UTC offset ("2026-12-03T15" + "+07:00") so no date function is needed.
_SERVED = (
    "event IN ('status_spoken', 'guide_spoken', 'mine_verified')"
    " OR substr(event, 1, 8) = 'officer_'"
)
_CALLS_BY_HOUR = f"""
SELECT substr(at, 1, 13) || substr(at, length(at) - 5, 6) AS hour_key,
       count(*),
       sum(served),
       sum(CASE WHEN hung_up = 1 AND served = 0 THEN 1 ELSE 0 END),
       sum(menu), sum(code), sum(found), sum(status), sum(officer),
       sum(lookups)
FROM (
    SELECT uniqueid, max(at) AS at,
           max(CASE WHEN {_SERVED} THEN 1 ELSE 0 END) AS served,
           max(CASE WHEN event = 'hung_up' THEN 1 ELSE 0 END) AS hung_up,
           max(CASE WHEN event = 'menu' THEN 1 ELSE 0 END) AS menu,
           max(CASE WHEN event = 'code_keyed' THEN 1 ELSE 0 END) AS code,
           max(CASE WHEN event = 'found' THEN 1 ELSE 0 END) AS found,
           max(CASE WHEN event = 'status_spoken' THEN 1 ELSE 0 END) AS status,
           max(CASE WHEN substr(event, 1, 8) = 'officer_' THEN 1 ELSE 0 END) AS officer,
           sum(CASE WHEN event = 'code_keyed' THEN 1 ELSE 0 END) AS lookups
    FROM ivr_call_event WHERE id > ? AND id <= ? GROUP BY uniqueid
) AS call
GROUP BY hour_key
"""

_SMS_OUT = f"""
SELECT {_hour_of("created_at")}, count(*),
       sum(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END),
       sum(CASE WHEN state IN ('failed', 'expired') THEN 1 ELSE 0 END)
FROM sms_message WHERE created_at >= ? AND kind <> 'test' GROUP BY 1
"""

_REMINDERS = """
SELECT id, created_at, not_before, state, dedup_key FROM sms_message
WHERE created_at >= ? AND kind = 'reminder' AND id > ? ORDER BY id LIMIT ?
"""
REMINDER_PAGE = 2000


def _reminder_outcome(state: str, created_at: float, not_before: float) -> str | None:
    if state in ("failed", "expired"):
        return "failed"
    if state == "queued" and not_before > created_at:
        return "deferred"  # held for the office's sending hours
    if state in ("submitted", "delivered"):
        return "sent"
    return None  # queued for now: counted once it goes out


def _hour_from_key(key: str) -> int:
    """'2026-12-03T15+07:00' -> hours since the epoch (UTC)."""
    stamp, offset = key[:13], key[13:]
    if not offset.startswith(("+", "-")):
        offset = "+00:00"  # a naive timestamp: the store writes UTC
    return hour_of(datetime.fromisoformat(f"{stamp}:00{offset}"))


# ---- CSV export

CSV_COLUMNS: Sequence[tuple[str, str]] = (
    ("calls", "Cuộc gọi"),
    ("answered", "Được phục vụ"),
    ("abandoned", "Bỏ máy giữa chừng"),
    ("funnel_menu", "Vào menu"),
    ("funnel_code", "Nhập mã"),
    ("funnel_found", "Tìm thấy hồ sơ"),
    ("funnel_status", "Nghe trạng thái"),
    ("funnel_officer", "Chuyển cán bộ"),
    ("lookup_voice", "Tra cứu qua điện thoại"),
    ("lookup_sms", "Tra cứu qua SMS"),
    ("lookup_web", "Tra cứu qua web"),
    ("lookup_kiosk", "Tra cứu tại ki-ốt"),
    ("sms_in", "SMS đến"),
    ("sms_out", "SMS đi"),
    ("sms_delivered", "SMS đã nhận"),
    ("sms_failed", "SMS lỗi"),
)


def to_csv(summary: Summary) -> str:
    """One row per office day (dd/mm/yyyy), Vietnamese headers, reminders by kind last."""
    reminder_columns = [
        (f"reminder_{o}:{k}", f"Nhắc {KIND_VI.get(k, k)} — {_OUTCOME_VI[o]}")
        for k in summary.reminder_kinds()
        for o in REMINDER_OUTCOMES
    ]
    columns = [*CSV_COLUMNS, *reminder_columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Ngày", *(title for _, title in columns)])
    day = summary.start
    while day <= summary.end:
        counts = summary.days.get(day, {})
        writer.writerow([day.strftime("%d/%m/%Y"), *(counts.get(m, 0) for m, _ in columns)])
        day += timedelta(days=1)
    writer.writerow(["Tổng", *(summary.total(m) for m, _ in columns)])
    return out.getvalue()


_OUTCOME_VI: Mapping[str, str] = {"sent": "đã gửi", "deferred": "hoãn", "failed": "lỗi"}
# sms/reminders.py Kind values, in the words of the office.
KIND_VI: Mapping[str, str] = {
    "received": "đã tiếp nhận",
    "supplement": "cần bổ sung",
    "fee": "nộp phí",
    "ready": "có kết quả",
    "delayed": "trễ hẹn",
    "soon": "sắp đến hẹn",
    "uncollected": "chưa nhận kết quả",
}
