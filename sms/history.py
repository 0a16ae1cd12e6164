"""Outbox family 5: what was sent, for people (`tracuu sms outbox`, the console),
and retention (prune). Runs inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.db import Conn


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    msisdn: str
    kind: str
    state: str
    body: str
    parts: int
    uncertain: int
    created_at: float
    error: str | None


class History:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def recent(self, limit: int = 20) -> list[MessageRow]:
        rows = self._conn.fetchall(
            "SELECT m.id, m.msisdn, m.kind, m.state, m.body,"
            " (SELECT COUNT(*) FROM sms_part p WHERE p.message_id = m.id),"
            " (SELECT COALESCE(SUM(uncertain), 0) FROM sms_part p WHERE p.message_id = m.id),"
            " m.created_at, m.error FROM sms_message m ORDER BY m.id DESC LIMIT ?",
            (limit,),
        )
        return [MessageRow(*r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._conn.fetchall("SELECT state, COUNT(*) FROM sms_message GROUP BY state")
        return {r[0]: int(r[1]) for r in rows}

    def taken(self, message_id: int) -> bool:
        """Whether a link has claimed any part of the message (it left 'queued')."""
        found = self._conn.fetchval(
            "SELECT COUNT(*) FROM sms_part WHERE message_id = ? AND state <> 'queued'",
            (message_id,),
        )
        return bool(found)

    def message_state(self, message_id: int) -> str | None:
        state = self._conn.fetchval("SELECT state FROM sms_message WHERE id = ?", (message_id,))
        return None if state is None else str(state)

    def prune(self, older_than: float) -> tuple[int, int]:
        """Retention: delete handled inbound rows and finished messages (with their parts)
        last touched before `older_than`, and per-number policy state of that age.
        Returns (inbound rows, messages) deleted. Queued or in-flight messages stay."""
        inbound = self._conn.execute(
            "DELETE FROM sms_inbound WHERE state = 'handled' AND received_at < ?", (older_than,)
        )
        done = "state IN ('delivered', 'failed', 'expired', 'submitted') AND updated_at < ?"
        self._conn.execute(
            f"DELETE FROM sms_part WHERE message_id IN (SELECT id FROM sms_message WHERE {done})",
            (older_than,),
        )
        messages = self._conn.execute(f"DELETE FROM sms_message WHERE {done}", (older_than,))
        self._conn.execute("DELETE FROM sms_inbound_part WHERE received_at < ?", (older_than,))
        self._forget_senders(older_than)
        return inbound, messages

    def _forget_senders(self, older_than: float) -> None:
        for key, value in self._conn.fetchall(
            "SELECT key, value FROM sms_state WHERE key LIKE 'refused:%' OR key LIKE 'quiet:%'"
        ):
            try:
                stale = float(value) < older_than
            except ValueError:
                stale = True
            if stale:
                self._conn.execute("DELETE FROM sms_state WHERE key = ?", (key,))

    def prune_slice(self, older_than: float, limit: int) -> tuple[int, int]:
        """One bounded slice of prune(): at most `limit` incoming rows and `limit`
        messages; call again while either count equals `limit`. Per-number state and
        reassembly leftovers (small tables) go whole in the first slice."""
        inbound = self._conn.execute(
            "DELETE FROM sms_inbound WHERE id IN (SELECT id FROM sms_inbound"
            " WHERE state = 'handled' AND received_at < ? LIMIT ?)",
            (older_than, limit),
        )
        ids = [
            int(r[0])
            for r in self._conn.fetchall(
                "SELECT id FROM sms_message WHERE state IN ('delivered', 'failed', 'expired',"
                " 'submitted') AND updated_at < ? LIMIT ?",
                (older_than, limit),
            )
        ]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            self._conn.execute(f"DELETE FROM sms_part WHERE message_id IN ({marks})", chunk)
            self._conn.execute(f"DELETE FROM sms_message WHERE id IN ({marks})", chunk)
        if inbound < limit and len(ids) < limit:  # the last slice: the small tables too
            self._conn.execute("DELETE FROM sms_inbound_part WHERE received_at < ?", (older_than,))
            self._forget_senders(older_than)
        return inbound, len(ids)
