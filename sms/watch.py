"""Outbox family 4: the reminder job's projection of dossiers still in progress
(sms_watch, fed by changed_since), so calendar reminders need no scan of the
dossier store. No name, ID or address. Runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from kernel.db import Conn

PAGE = 1000  # candidate rows per read: a scan of 100,000 is 100 short reads


class Watch:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def watch(self, code: str, status: int, due: str, ready: str | None, dossier: str) -> None:
        self._conn.execute(
            "INSERT INTO sms_watch (code, status, due, ready, dossier) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (code) DO UPDATE SET status = excluded.status, due = excluded.due,"
            " ready = excluded.ready, dossier = excluded.dossier",
            (code, status, due, ready, dossier),
        )

    def unwatch(self, code: str) -> None:
        self._conn.execute("DELETE FROM sms_watch WHERE code = ?", (code,))

    def watch_candidates(
        self, today: date, *, days_before: int, not_collected_days: int, catch_up_days: int
    ) -> Iterator[str]:
        """Watched dossiers that may need a calendar reminder today (rules decide)."""
        for query, params in candidate_queries(
            today,
            days_before=days_before,
            not_collected_days=not_collected_days,
            catch_up_days=catch_up_days,
        ):
            after = ""
            while page := self.candidates_after(query, params, after):
                yield from (r[1] for r in page)
                after = page[-1][0]

    def candidates_after(
        self, query: str, params: tuple[str, ...], after: str, limit: int = PAGE
    ) -> list[tuple[str, str]]:
        """One page of one candidate_queries() question: (code, dossier) after `after`,
        in code order (keyset paging: each page is a short read, the whole is one pass)."""
        rows = self._conn.fetchall(
            f"{query} AND code > ? ORDER BY code LIMIT ?", (*params, after, limit)
        )
        return [(r[0], r[1]) for r in rows]


def candidate_queries(
    today: date, *, days_before: int, not_collected_days: int, catch_up_days: int
) -> list[tuple[str, tuple[str, ...]]]:
    """The calendar's two questions to sms_watch, as (SQL, parameters); page them with
    Watch.candidates_after."""
    queries: list[tuple[str, tuple[str, ...]]] = []
    if days_before:
        queries.append(
            (
                "SELECT code, dossier FROM sms_watch"
                " WHERE status IN (2, 4) AND due > ? AND due <= ?",
                (today.isoformat(), (today + timedelta(days=days_before)).isoformat()),
            )
        )
    if not_collected_days:
        newest = today - timedelta(days=not_collected_days)
        oldest = newest - timedelta(days=catch_up_days)
        queries.append(
            (
                "SELECT code, dossier FROM sms_watch"
                " WHERE status = 9 AND ready >= ? AND ready <= ?",
                (oldest.isoformat(), newest.isoformat()),
            )
        )
    return queries
