"""Outbox family 3: what the SMS policy remembers of each sender (sms_optout,
sms_lookup_log) and small named values (sms_state: the reminder cursor, a
sender's last refusal and 'quiet' marks). Runs inside the caller's transaction."""

from __future__ import annotations

from kernel.db import Conn


class Senders:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def opted_out(self, msisdn: str) -> bool:
        found = self._conn.fetchone("SELECT 1 FROM sms_optout WHERE msisdn = ?", (msisdn,))
        return found is not None

    def set_opt_out(self, msisdn: str, out: bool, now: float) -> None:
        if out:
            self._conn.execute(
                "INSERT INTO sms_optout (msisdn, at) VALUES (?, ?)"
                " ON CONFLICT (msisdn) DO UPDATE SET at = excluded.at",
                (msisdn, now),
            )
        else:
            self._conn.execute("DELETE FROM sms_optout WHERE msisdn = ?", (msisdn,))

    def opted_out_among(self, numbers: set[str]) -> set[str]:
        if not numbers:
            return set()
        found: set[str] = set()
        listed = sorted(numbers)
        for i in range(0, len(listed), 500):
            chunk = listed[i : i + 500]
            rows = self._conn.fetchall(
                f"SELECT msisdn FROM sms_optout WHERE msisdn IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update(r[0] for r in rows)
        return found

    def lookups_since(self, msisdn: str, since: float) -> int:
        return int(
            self._conn.fetchval(
                "SELECT COUNT(*) FROM sms_lookup_log WHERE msisdn = ? AND at >= ?", (msisdn, since)
            )
        )

    def log_lookup(self, msisdn: str, now: float) -> None:
        self._conn.execute("INSERT INTO sms_lookup_log (msisdn, at) VALUES (?, ?)", (msisdn, now))
        # Keep the table small: nothing older than a day is ever counted.
        self._conn.execute("DELETE FROM sms_lookup_log WHERE at < ?", (now - 86_400,))

    def get_state(self, key: str, default: str = "") -> str:
        value = self._conn.fetchval("SELECT value FROM sms_state WHERE key = ?", (key,))
        return default if value is None else str(value)

    def set_state(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO sms_state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
