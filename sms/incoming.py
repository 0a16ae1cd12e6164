"""Outbox family 2: incoming messages (sms_inbound) and the parts of multipart ones
waiting for the rest (sms_inbound_part). Runs inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.db import Conn
from sms.codec import Concat


@dataclass(frozen=True, slots=True)
class Inbound:
    id: int
    msisdn: str
    body: str
    complete: bool
    ton: int = 1  # the sender's type of number; 5 = alphanumeric (SMPP 3.4 §5.2.5)


class Incoming:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def store_part_or_message(
        self, msisdn: str, text: str, concat: Concat | None, now: float, *, ton: int = 1
    ) -> int | None:
        """Store one deliver_sm; return the inbound id once its message is complete."""
        if concat is None or concat.total <= 1:
            return self._inbound(msisdn, text, now, complete=True, ton=ton)
        self._conn.execute(
            "INSERT INTO sms_inbound_part (msisdn, reference, total, seq, body, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (msisdn, concat.reference, concat.total, concat.seq, text, now),
        )
        rows = self._conn.fetchall(
            "SELECT body FROM sms_inbound_part WHERE msisdn = ? AND reference = ? AND total = ?"
            " ORDER BY seq",
            (msisdn, concat.reference, concat.total),
        )
        if len(rows) < concat.total:
            return None
        self._conn.execute(
            "DELETE FROM sms_inbound_part WHERE msisdn = ? AND reference = ? AND total = ?",
            (msisdn, concat.reference, concat.total),
        )
        return self._inbound(msisdn, "".join(r[0] for r in rows), now, complete=True, ton=ton)

    def expire_partials(self, older_than: float, now: float) -> list[int]:
        """Incomplete multipart messages past the timeout become messages as they are."""
        groups = self._conn.fetchall(
            "SELECT msisdn, reference, total FROM sms_inbound_part"
            " GROUP BY msisdn, reference, total HAVING MIN(received_at) < ?",
            (older_than,),
        )
        made = []
        for msisdn, reference, total in groups:
            rows = self._conn.fetchall(
                "SELECT body FROM sms_inbound_part WHERE msisdn = ? AND reference = ?"
                " AND total = ? ORDER BY seq",
                (msisdn, reference, total),
            )
            self._conn.execute(
                "DELETE FROM sms_inbound_part WHERE msisdn = ? AND reference = ? AND total = ?",
                (msisdn, reference, total),
            )
            made.append(self._inbound(msisdn, " ".join(r[0] for r in rows), now, complete=False))
        return made

    def _inbound(self, msisdn: str, text: str, now: float, *, complete: bool, ton: int = 1) -> int:
        return int(
            self._conn.fetchval(
                "INSERT INTO sms_inbound (msisdn, body, received_at, state, complete, sender_ton)"
                " VALUES (?, ?, ?, 'new', ?, ?) RETURNING id",
                (msisdn, text, now, int(complete), ton),
            )
        )

    def pending_inbound(self, limit: int = 100) -> list[Inbound]:
        rows = self._conn.fetchall(
            "SELECT id, msisdn, body, complete, sender_ton FROM sms_inbound WHERE state = 'new'"
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [Inbound(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def mark_handled(self, inbound_id: int) -> None:
        self._conn.execute("UPDATE sms_inbound SET state = 'handled' WHERE id = ?", (inbound_id,))
