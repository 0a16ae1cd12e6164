"""Outbox family 1: outgoing messages and their parts (sms_message, sms_part,
sms_orphan_receipt). Part states:

    queued -> submitting -> submitted -> delivered | failed | expired
                 |  (bytes may have left: the recorded duplicate window)
                 +-> queued again with uncertain=1 after a crash or link drop

A message is stored with its encoded parts (bytes, UDH included), so a resend
after a crash is byte-identical, concatenation reference and all. Methods run
inside the caller's transaction (a kernel.db job, or the link thread's own
connection, committed per batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.db import Conn, backend_of
from sms.codec import Receipt, choose_coding, encode, id_forms
from sms.routes import RouteFilter

FINAL = ("delivered", "failed", "expired")
_INSERT_MESSAGE = (
    "INSERT INTO sms_message (msisdn, body, kind, state, data_coding,"
    " esm_class, not_before, created_at, updated_at, dedup_key, inbound_id)"
    " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_INSERT_PART = (
    "INSERT INTO sms_part (message_id, seq, payload, state, next_try, priority)"
    " VALUES (?, ?, ?, 'queued', ?, ?)"
)
# Claim order among due parts: a reply to someone waiting with the phone in hand (and
# the operator's send-test) goes before bulk reminders, which at 50 TPS can queue half
# an hour. Stored on the part (from sms_message.kind) so one index serves the claim.
URGENT, BULK = 0, 1
PRIORITIES = (URGENT, BULK)
_URGENT_KINDS = frozenset({"reply", "test"})


def priority_of(kind: str) -> int:
    return URGENT if kind in _URGENT_KINDS else BULK


@dataclass(frozen=True, slots=True)
class PartToSend:
    message_id: int
    seq: int
    msisdn: str
    payload: bytes
    data_coding: int
    esm_class: int
    attempts: int


def _referenced(parts: tuple[bytes, ...], message_id: int) -> tuple[bytes, ...]:
    # The concatenation reference comes from the id: deterministic, and a resend after
    # a crash reuses it (the stored bytes are what goes out again).
    if len(parts) <= 1:
        return parts
    return tuple(p[:3] + bytes((message_id & 0xFF,)) + p[4:] for p in parts)


class Outgoing:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def enqueue(
        self,
        msisdn: str,
        text: str,
        *,
        kind: str,
        accents: bool,
        now: float,
        not_before: float = 0.0,
        dedup_key: str | None = None,
        inbound_id: int | None = None,
    ) -> int | None:
        """Store one message and its parts; None when dedup_key/inbound_id already exist."""
        body, ucs2 = choose_coding(text, accents=accents)
        encoded = encode(body, reference=0, ucs2=ucs2)
        found = self._conn.fetchone(
            _INSERT_MESSAGE + " RETURNING id",
            (msisdn, body, kind, encoded.data_coding, encoded.esm_class, not_before, now, now,
             dedup_key, inbound_id),
        )  # fmt: skip
        if found is None:
            return None
        message_id = int(found[0])
        parts = _referenced(encoded.parts, message_id)
        priority = priority_of(kind)
        self._conn.executemany(
            _INSERT_PART,
            [(message_id, seq, part, not_before, priority) for seq, part in enumerate(parts, 1)],
        )
        return message_id

    def enqueue_many(
        self,
        items: list[tuple[str, str, str]],
        *,
        kind: str,
        accents: bool,
        now: float,
        not_before: float = 0.0,
    ) -> set[str]:
        """Store many (msisdn, text, dedup_key) at once; return the keys newly stored.

        Same rows as enqueue(), in three statements for the whole batch instead of two
        per message: the reminder job queues tens of thousands at a time.
        """
        if not items:
            return set()
        encoded = {}
        rows = []
        for msisdn, text, key in items:
            body, ucs2 = choose_coding(text, accents=accents)
            encoded[key] = enc = encode(body, reference=0, ucs2=ucs2)
            rows.append((msisdn, body, kind, enc.data_coding, enc.esm_class, not_before, now,
                         now, key, None))  # fmt: skip
        before = self._conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM sms_message")
        self._conn.executemany(_INSERT_MESSAGE, rows)
        found = self._conn.fetchall("SELECT id, dedup_key FROM sms_message WHERE id > ?", (before,))
        # Another gateway instance may have stored messages meanwhile (PostgreSQL): ours are
        # the keys of this batch (one reminder scan at a time: sms/reminder_job.py).
        fresh = [(message_id, key) for message_id, key in found if key in encoded]
        priority = priority_of(kind)
        parts = []
        for message_id, key in fresh:
            for seq, payload in enumerate(_referenced(encoded[key].parts, message_id), 1):
                parts.append((message_id, seq, payload, not_before, priority))
        self._conn.executemany(_INSERT_PART, parts)
        return {key for _, key in fresh}

    def recover(self, claimed_before: float | None = None) -> int:
        """After a start or a link drop: parts caught mid-submit go back, marked uncertain.
        `claimed_before`: only parts claimed before then (several instances share the
        outbox: the others' parts in flight are not ours to resend)."""
        if claimed_before is None:
            return self._conn.execute(
                "UPDATE sms_part SET state = 'queued', uncertain = 1 WHERE state = 'submitting'"
            )
        return self._conn.execute(
            "UPDATE sms_part SET state = 'queued', uncertain = 1 WHERE state = 'submitting'"
            " AND (claimed_at IS NULL OR claimed_at < ?)",
            (claimed_before,),
        )

    def renew(self, parts: list[tuple[int, int]], now: float) -> None:
        """The claimer is alive and still waiting for these parts' answers: their lease
        starts again at `now`, so no lease sweep (sms/lease.py) takes them meanwhile."""
        self._conn.executemany(
            "UPDATE sms_part SET claimed_at = ? WHERE message_id = ? AND seq = ?"
            " AND state = 'submitting'",
            [(now, message_id, seq) for message_id, seq in parts],
        )

    def next_due(self, route: RouteFilter | None = None) -> float | None:
        if route is None:
            # One MIN per priority: each is a single seek in sms_part_send_order (a MIN
            # over all queued parts would walk the whole queue, priority leading).
            due = self._conn.fetchval(
                "SELECT MIN(t) FROM ("
                + " UNION ALL ".join(
                    "SELECT MIN(next_try) AS t FROM sms_part"
                    f" WHERE state = 'queued' AND priority = {priority}"
                    for priority in PRIORITIES
                )
                + ") AS due"
            )
        else:  # only the numbers this bind sends to (sms/routes.py)
            where, params = route.sql("m.msisdn")
            due = self._conn.fetchval(
                "SELECT MIN(p.next_try) FROM sms_part p JOIN sms_message m ON m.id = p.message_id"
                " WHERE p.state = 'queued'" + where,
                params,
            )
        return None if due is None else float(due)

    def claim(self, limit: int, now: float, route: RouteFilter | None = None) -> list[PartToSend]:
        """Up to `limit` due parts, urgent ones (replies) first, then oldest due and oldest
        message first, marked 'submitting' (not committed). Priority orders only among due
        parts: a reply waiting out its retry backoff holds no bulk part back.

        `route`: only the numbers one of several binds sends to (sms/routes.py); those
        links share the outbox, so a part another link claimed since our read is skipped.
        """
        if limit <= 0:
            return []
        where, params = ("", []) if route is None else route.sql("m.msisdn")
        # PostgreSQL, several gateway instances: the parts another instance is claiming
        # are locked by its transaction; skip them rather than wait, never take them twice.
        # (SQLite has one writer at a time: its claim is whole already.)
        lock = " FOR UPDATE OF p SKIP LOCKED" if backend_of(self._conn) == "postgresql" else ""
        rows = self._conn.fetchall(
            "SELECT p.message_id, p.seq, m.msisdn, p.payload, m.data_coding, m.esm_class,"
            " p.attempts FROM sms_part p JOIN sms_message m ON m.id = p.message_id"
            " WHERE p.state = 'queued' AND p.next_try <= ?"
            + where
            + " ORDER BY p.priority, p.next_try, p.message_id, p.seq LIMIT ?"
            + lock,
            (now, *params, limit),
        )
        parts = [PartToSend(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6] + 1) for r in rows]
        if route is None:
            self._conn.executemany(
                "UPDATE sms_part SET state = 'submitting', attempts = attempts + 1,"
                " claimed_at = ? WHERE message_id = ? AND seq = ?",
                [(now, p.message_id, p.seq) for p in parts],
            )
            return parts
        claimed = []
        for part in parts:
            changed = self._conn.execute(
                "UPDATE sms_part SET state = 'submitting', attempts = attempts + 1,"
                " claimed_at = ? WHERE message_id = ? AND seq = ? AND state = 'queued'",
                (now, part.message_id, part.seq),
            )
            if changed == 1:
                claimed.append(part)
        return claimed

    def submitted(
        self,
        message_id: int,
        seq: int,
        smsc_id: str,
        now: float,
        *,
        single: bool = False,
        scope: str = "",
    ) -> None:
        """`single`: the message has this one part (its state is the part's). `scope`:
        the bind's name when there are several (their SMSCs' ids may collide)."""
        forms = _scoped(smsc_id, scope)
        # 'queued': a lease sweep put the part back while its answer was on its way (this
        # link was behind); the SMSC has it, so it is not sent again.
        changed = self._conn.execute(
            "UPDATE sms_part SET state = 'submitted', smsc_id = ?, status = 0"
            " WHERE message_id = ? AND seq = ? AND state IN ('submitting', 'queued')",
            (forms[0], message_id, seq),
        )
        if changed:
            self._roll_up(message_id, now, "submitted" if single else None)
            self._early_receipt(forms, now, scope)

    def retry(self, message_id: int, seq: int, status: int, at: float | None, now: float) -> None:
        """A temporary refusal: the part waits until `at`; None keeps its place in the
        queue (a throttled part goes out first again when the link's pause ends)."""
        self._conn.execute(
            "UPDATE sms_part SET state = 'queued', next_try = COALESCE(?, next_try),"
            " status = ? WHERE message_id = ? AND seq = ? AND state = 'submitting'",
            (at, status, message_id, seq),
        )

    def requeue(self, message_id: int, seq: int) -> None:
        """Sent but never answered (link dropped): the duplicate window, recorded."""
        self._conn.execute(
            "UPDATE sms_part SET state = 'queued', uncertain = 1"
            " WHERE message_id = ? AND seq = ? AND state = 'submitting'",
            (message_id, seq),
        )

    def fail(self, message_id: int, seq: int, status: int, error: str, now: float) -> None:
        self._conn.execute(
            "UPDATE sms_part SET state = 'failed', status = ?"
            " WHERE message_id = ? AND seq = ? AND state NOT IN ('delivered')",
            (status, message_id, seq),
        )
        # The other parts of a failed message are not worth sending any more.
        self._conn.execute(
            "UPDATE sms_part SET state = 'failed' WHERE message_id = ? AND state = 'queued'",
            (message_id,),
        )
        self._conn.execute("UPDATE sms_message SET error = ? WHERE id = ?", (error, message_id))
        self._roll_up(message_id, now)

    def apply_receipt(self, receipt: Receipt, now: float, scope: str = "") -> bool:
        """Match a delivery receipt to its part (any id spelling; `scope` as in
        submitted: a receipt matches only parts sent through its own bind)."""
        if not receipt.final:
            return True
        state = {"DELIVRD": "delivered", "EXPIRED": "expired"}.get(receipt.stat, "failed")
        forms = _scoped(receipt.message_id, scope)
        for form in forms:
            row = self._conn.fetchone(
                "SELECT p.message_id, p.seq, m.esm_class FROM sms_part p"
                " JOIN sms_message m ON m.id = p.message_id WHERE p.smsc_id = ?"
                " ORDER BY p.message_id DESC LIMIT 1",
                (form,),
            )
            if row is not None:
                message_id, seq, esm_class = row
                self._conn.execute(
                    "UPDATE sms_part SET state = ? WHERE message_id = ? AND seq = ?",
                    (state, message_id, seq),
                )
                if state != "delivered":
                    self._conn.execute(
                        "UPDATE sms_message SET error = ? WHERE id = ?",
                        (f"{receipt.stat} err:{receipt.err}", message_id),
                    )
                single = not esm_class & 0x40  # an unsplit message: its state is the part's
                self._roll_up(message_id, now, state if single else None)
                return True
        self._conn.execute(
            "INSERT INTO sms_orphan_receipt (smsc_id, stat, err, at) VALUES (?, ?, ?, ?)",
            (forms[0], receipt.stat, receipt.err, now),
        )
        self._conn.execute("DELETE FROM sms_orphan_receipt WHERE at < ?", (now - 86_400,))
        return False

    def _early_receipt(self, forms: tuple[str, ...], now: float, scope: str = "") -> None:
        marks = ",".join("?" * len(forms))
        rows = self._conn.fetchall(
            f"SELECT smsc_id, stat, err, at FROM sms_orphan_receipt WHERE smsc_id IN ({marks})",
            forms,
        )
        for smsc_id, stat, err, at in rows:
            self._conn.execute(
                "DELETE FROM sms_orphan_receipt WHERE smsc_id = ? AND stat = ? AND err = ?"
                " AND at = ?",
                (smsc_id, stat, err, at),
            )
            unscoped = smsc_id.removeprefix(f"{scope}:") if scope else smsc_id
            self.apply_receipt(Receipt(unscoped, stat, err), now, scope)
        if rows:
            self._conn.execute("DELETE FROM sms_orphan_receipt WHERE at < ?", (now - 86_400,))

    def _roll_up(self, message_id: int, now: float, single: str | None = None) -> None:
        """The message's state from its parts' (`single`: the one part's new state)."""
        if single is not None:
            self._conn.execute(
                "UPDATE sms_message SET state = ?, updated_at = ? WHERE id = ?",
                (single, now, message_id),
            )
            return
        states = [
            r[0]
            for r in self._conn.fetchall(
                "SELECT state FROM sms_part WHERE message_id = ?", (message_id,)
            )
        ]
        if "failed" in states:
            state = "failed"
        elif "expired" in states:
            state = "expired"
        elif states and all(s == "delivered" for s in states):
            state = "delivered"
        elif states and all(s in ("submitted", "delivered") for s in states):
            state = "submitted"
        else:
            state = "queued"
        self._conn.execute(
            "UPDATE sms_message SET state = ?, updated_at = ? WHERE id = ?",
            (state, now, message_id),
        )

    def cancel_queued_to(self, msisdn: str, kind: str, reason: str, now: float) -> int:
        """Queued (not yet sent) messages of one kind to a number are given up (opt-out)."""
        ids = [
            r[0]
            for r in self._conn.fetchall(
                "SELECT id FROM sms_message WHERE msisdn = ? AND kind = ? AND state = 'queued'"
                " AND NOT EXISTS (SELECT 1 FROM sms_part p WHERE p.message_id = sms_message.id"
                " AND p.state != 'queued')",
                (msisdn, kind),
            )
        ]
        self._give_up(ids, reason, now)
        return len(ids)

    def cancel_queued(self, message_id: int, reason: str, now: float) -> bool:
        """One message given up ('failed', `reason`) if no part of it has left yet;
        False when the link already took a part (it may be on its way). The caller commits."""
        self._conn.begin()  # the link must not claim a part between the read and the write
        ids = [
            r[0]
            for r in self._conn.fetchall(
                "SELECT id FROM sms_message WHERE id = ? AND state = 'queued'"
                " AND NOT EXISTS (SELECT 1 FROM sms_part p WHERE p.message_id = sms_message.id"
                " AND p.state != 'queued')",
                (message_id,),
            )
        ]
        self._give_up(ids, reason, now)
        return bool(ids)

    def _give_up(self, ids: list[int], reason: str, now: float) -> None:
        for message_id in ids:
            self._conn.execute(
                "UPDATE sms_part SET state = 'failed' WHERE message_id = ?", (message_id,)
            )
            self._conn.execute(
                "UPDATE sms_message SET state = 'failed', error = ?, updated_at = ? WHERE id = ?",
                (reason, now, message_id),
            )

    def has_dedup(self, key: str) -> bool:
        found = self._conn.fetchone("SELECT 1 FROM sms_message WHERE dedup_key = ?", (key,))
        return found is not None


def _scoped(smsc_id: str, scope: str) -> tuple[str, ...]:
    """id_forms, each prefixed with the bind's name when there are several binds."""
    forms = id_forms(smsc_id)
    return tuple(f"{scope}:{form}" for form in forms) if scope else forms
