"""The durable SMS store: outbox, inbox, opt-outs, rate limits, reminder cursor.

The database is the truth; queues in memory are only doorbells. One Outbox
object wraps one synchronous sqlite3 connection and belongs to one thread: the
link thread has its own, the asyncio side its own (WAL lets them interleave).

A message is stored with its encoded parts (bytes, UDH included), so a resend
after a crash is byte-identical, concatenation reference and all. Part states:

    queued -> submitting -> submitted -> delivered | failed | expired
                 |  (bytes may have left: the recorded duplicate window)
                 +-> queued again with uncertain=1 after a crash or link drop

Methods do not commit unless their name says so; the caller groups work and
calls commit(), so the link thread pays one fsync per batch, not per part.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import aiosqlite

from kernel.migrate import migrate
from sms.codec import Concat, Receipt, choose_coding, encode, id_forms
from sms.routes import RouteFilter

COMPONENT = "sms"
STEPS: tuple[str, ...] = (
    """
    CREATE TABLE sms_message (
        id INTEGER PRIMARY KEY,
        msisdn TEXT NOT NULL,          -- digits, country code first: 84912345678
        body TEXT NOT NULL,            -- the text as sent (after unaccenting)
        kind TEXT NOT NULL,            -- reply | reminder | test
        state TEXT NOT NULL,           -- queued | submitted | delivered | failed | expired
        data_coding INTEGER NOT NULL,
        esm_class INTEGER NOT NULL,
        not_before REAL NOT NULL,      -- epoch seconds; deferred reminders wait for it
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        dedup_key TEXT UNIQUE,         -- reminders: one per event, dossier and date
        inbound_id INTEGER UNIQUE,     -- replies: one per incoming message
        error TEXT
    );
    CREATE INDEX sms_message_created ON sms_message (created_at);
    CREATE TABLE sms_part (
        message_id INTEGER NOT NULL REFERENCES sms_message (id),
        seq INTEGER NOT NULL,
        payload BLOB NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        uncertain INTEGER NOT NULL DEFAULT 0,  -- resent after an unanswered submit
        next_try REAL NOT NULL,
        smsc_id TEXT,
        status INTEGER,
        PRIMARY KEY (message_id, seq)
    );
    CREATE INDEX sms_part_queue ON sms_part (state, next_try);
    CREATE INDEX sms_part_smsc ON sms_part (smsc_id);
    CREATE TABLE sms_inbound (
        id INTEGER PRIMARY KEY,
        msisdn TEXT NOT NULL,
        body TEXT NOT NULL,
        received_at REAL NOT NULL,
        state TEXT NOT NULL,           -- new | handled
        complete INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX sms_inbound_new ON sms_inbound (state);
    CREATE TABLE sms_inbound_part (
        msisdn TEXT NOT NULL,
        reference INTEGER NOT NULL,
        total INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (msisdn, reference, total, seq)
    );
    CREATE TABLE sms_optout (msisdn TEXT PRIMARY KEY, at REAL NOT NULL);
    CREATE TABLE sms_lookup_log (msisdn TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX sms_lookup_log_by ON sms_lookup_log (msisdn, at);
    CREATE TABLE sms_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    -- What the reminder job knows of dossiers still in progress (from changed_since),
    -- so calendar reminders need no scan of the dossier store. No name, ID or address.
    CREATE TABLE sms_watch (
        code TEXT PRIMARY KEY,
        status INTEGER NOT NULL,
        due TEXT NOT NULL,             -- effective appointment date (ISO)
        ready TEXT,                    -- date the result became ready (ISO)
        dossier TEXT NOT NULL          -- JSON: public fields and the applicant's phones
    );
    CREATE INDEX sms_watch_due ON sms_watch (status, due);
    CREATE INDEX sms_watch_ready ON sms_watch (status, ready);
    """,
    """
    -- The send queue in its order (due time, then message and part) without a sort.
    CREATE INDEX sms_part_send_order ON sms_part (state, next_try, message_id, seq);
    """,
    """
    -- Receipts that came before their submit_sm_resp was stored (some SMSCs race):
    -- applied when the id is recorded. Kept a day at most.
    CREATE TABLE sms_orphan_receipt (
        smsc_id TEXT NOT NULL,         -- normalised (first of id_forms)
        stat TEXT NOT NULL,
        err TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX sms_orphan_receipt_id ON sms_orphan_receipt (smsc_id);
    """,
    """
    -- Indexes nothing reads any more (send order covers the queue; reports go by id):
    -- each one was a B-tree insert per message or part.
    DROP INDEX sms_part_queue;
    DROP INDEX sms_message_created;
    """,
    """
    -- Message ids are compared in canonical form (sms.codec.canonical_id): lower case,
    -- no leading zeros. Ids stored earlier kept their zeros and never matched a receipt
    -- that dropped them.
    UPDATE sms_part SET smsc_id = CASE WHEN ltrim(lower(smsc_id), '0') = '' THEN '0'
        ELSE ltrim(lower(smsc_id), '0') END WHERE smsc_id IS NOT NULL AND smsc_id != '';
    UPDATE sms_orphan_receipt SET smsc_id = CASE WHEN ltrim(lower(smsc_id), '0') = ''
        THEN '0' ELSE ltrim(lower(smsc_id), '0') END WHERE smsc_id != '';
    -- The sender's type of number (SMPP 3.4 §5.2.5): 5 = alphanumeric, never answered.
    ALTER TABLE sms_inbound ADD COLUMN sender_ton INTEGER NOT NULL DEFAULT 1;
    -- Retention: old rows are found by date.
    CREATE INDEX sms_inbound_received ON sms_inbound (received_at);
    CREATE INDEX sms_message_updated ON sms_message (updated_at);
    """,
)

FINAL = ("delivered", "failed", "expired")


@dataclass(frozen=True, slots=True)
class PartToSend:
    message_id: int
    seq: int
    msisdn: str
    payload: bytes
    data_coding: int
    esm_class: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Inbound:
    id: int
    msisdn: str
    body: str
    complete: bool
    ton: int = 1  # the sender's type of number; 5 = alphanumeric (SMPP 3.4 §5.2.5)


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


async def migrate_file(path: Path | str) -> None:
    """Create or upgrade the SMS tables in the shared database file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode = WAL")
        await migrate(conn, COMPONENT, STEPS)


def migrate_sync(path: Path | str) -> None:
    """The same migration for synchronous callers (CLI, tests) without a loop."""
    import asyncio

    asyncio.run(migrate_file(path))


class Outbox:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout_ms: int = 5000) -> Outbox:
        """Open the migrated file (see migrate_file); check_same_thread guards ownership."""
        conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000)
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return cls(conn)

    def close(self) -> None:
        self._conn.close()

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    # ------------------------------------------------------------ outgoing

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
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO sms_message (msisdn, body, kind, state, data_coding,"
            " esm_class, not_before, created_at, updated_at, dedup_key, inbound_id)"
            " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
            (msisdn, body, kind, encoded.data_coding, encoded.esm_class, not_before, now, now,
             dedup_key, inbound_id),
        )  # fmt: skip
        if cursor.rowcount == 0:
            return None
        message_id = cursor.lastrowid
        assert message_id is not None
        parts = encoded.parts
        if len(parts) > 1:
            # The concatenation reference comes from the id: deterministic, and a resend
            # after a crash reuses it (the stored bytes are what goes out again).
            parts = tuple(p[:3] + bytes((message_id & 0xFF,)) + p[4:] for p in parts)
        for seq, part in enumerate(parts, 1):
            self._conn.execute(
                "INSERT INTO sms_part (message_id, seq, payload, state, next_try)"
                " VALUES (?, ?, ?, 'queued', ?)",
                (message_id, seq, part, not_before),
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
                         now, key))  # fmt: skip
        (before,) = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM sms_message").fetchone()
        self._conn.executemany(
            "INSERT OR IGNORE INTO sms_message (msisdn, body, kind, state, data_coding,"
            " esm_class, not_before, created_at, updated_at, dedup_key)"
            " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
            rows,
        )
        fresh = self._conn.execute(
            "SELECT id, dedup_key FROM sms_message WHERE id > ?", (before,)
        ).fetchall()
        parts = []
        for message_id, key in fresh:
            enc = encoded[key]
            for seq, payload in enumerate(enc.parts, 1):
                if len(enc.parts) > 1:  # the reference from the id, as in enqueue()
                    payload = payload[:3] + bytes((message_id & 0xFF,)) + payload[4:]  # noqa: PLW2901
                parts.append((message_id, seq, payload, not_before))
        self._conn.executemany(
            "INSERT INTO sms_part (message_id, seq, payload, state, next_try)"
            " VALUES (?, ?, ?, 'queued', ?)",
            parts,
        )
        return {key for _, key in fresh}

    def recover(self) -> int:
        """After a start or a link drop: parts caught mid-submit go back, marked uncertain."""
        cursor = self._conn.execute(
            "UPDATE sms_part SET state = 'queued', uncertain = 1 WHERE state = 'submitting'"
        )
        return cursor.rowcount

    def next_due(self, route: RouteFilter | None = None) -> float | None:
        if route is None:
            row = self._conn.execute(
                "SELECT MIN(p.next_try) FROM sms_part p WHERE p.state = 'queued'"
            ).fetchone()
        else:  # only the numbers this bind sends to (sms/routes.py)
            where, params = route.sql("m.msisdn")
            row = self._conn.execute(
                "SELECT MIN(p.next_try) FROM sms_part p JOIN sms_message m ON m.id = p.message_id"
                " WHERE p.state = 'queued'" + where,
                params,
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def claim(self, limit: int, now: float, route: RouteFilter | None = None) -> list[PartToSend]:
        """Up to `limit` due parts, oldest message first, marked 'submitting' (not committed).

        `route`: only the numbers one of several binds sends to (sms/routes.py); those
        links share the outbox, so a part another link claimed since our read is skipped.
        """
        if limit <= 0:
            return []
        where, params = ("", []) if route is None else route.sql("m.msisdn")
        rows = self._conn.execute(
            "SELECT p.message_id, p.seq, m.msisdn, p.payload, m.data_coding, m.esm_class,"
            " p.attempts FROM sms_part p JOIN sms_message m ON m.id = p.message_id"
            " WHERE p.state = 'queued' AND p.next_try <= ?"
            + where
            + " ORDER BY p.next_try, p.message_id, p.seq LIMIT ?",
            (now, *params, limit),
        ).fetchall()
        parts = [PartToSend(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6] + 1) for r in rows]
        if route is None:
            self._conn.executemany(
                "UPDATE sms_part SET state = 'submitting', attempts = attempts + 1"
                " WHERE message_id = ? AND seq = ?",
                [(p.message_id, p.seq) for p in parts],
            )
            return parts
        claimed = []
        for part in parts:
            cursor = self._conn.execute(
                "UPDATE sms_part SET state = 'submitting', attempts = attempts + 1"
                " WHERE message_id = ? AND seq = ? AND state = 'queued'",
                (part.message_id, part.seq),
            )
            if cursor.rowcount == 1:
                claimed.append(part)
        return claimed

    def submitted(
        self, message_id: int, seq: int, smsc_id: str, now: float, *, single: bool = False
    ) -> None:
        """`single`: the message has this one part (its state is the part's)."""
        cursor = self._conn.execute(
            "UPDATE sms_part SET state = 'submitted', smsc_id = ?, status = 0"
            " WHERE message_id = ? AND seq = ? AND state = 'submitting'",
            (id_forms(smsc_id)[0], message_id, seq),
        )
        if cursor.rowcount:
            self._roll_up(message_id, now, "submitted" if single else None)
            self._early_receipt(id_forms(smsc_id), now)

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

    def apply_receipt(self, receipt: Receipt, now: float) -> bool:
        """Match a delivery receipt to its part (any id spelling); roll the message up."""
        if not receipt.final:
            return True
        state = {"DELIVRD": "delivered", "EXPIRED": "expired"}.get(receipt.stat, "failed")
        for form in id_forms(receipt.message_id):
            row = self._conn.execute(
                "SELECT p.message_id, p.seq, m.esm_class FROM sms_part p"
                " JOIN sms_message m ON m.id = p.message_id WHERE p.smsc_id = ?"
                " ORDER BY p.message_id DESC LIMIT 1",
                (form,),
            ).fetchone()
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
            (id_forms(receipt.message_id)[0], receipt.stat, receipt.err, now),
        )
        self._conn.execute("DELETE FROM sms_orphan_receipt WHERE at < ?", (now - 86_400,))
        return False

    def _early_receipt(self, forms: tuple[str, ...], now: float) -> None:
        marks = ",".join("?" * len(forms))
        rows = self._conn.execute(
            f"SELECT rowid, smsc_id, stat, err FROM sms_orphan_receipt WHERE smsc_id IN ({marks})",
            forms,
        ).fetchall()
        for rowid, smsc_id, stat, err in rows:
            self._conn.execute("DELETE FROM sms_orphan_receipt WHERE rowid = ?", (rowid,))
            self.apply_receipt(Receipt(smsc_id, stat, err), now)
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
            for r in self._conn.execute(
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

    # ------------------------------------------------------------ incoming

    def store_part_or_message(
        self, msisdn: str, text: str, concat: Concat | None, now: float, *, ton: int = 1
    ) -> int | None:
        """Store one deliver_sm; return the inbound id once its message is complete."""
        if concat is None or concat.total <= 1:
            return self._inbound(msisdn, text, now, complete=True, ton=ton)
        self._conn.execute(
            "INSERT OR IGNORE INTO sms_inbound_part VALUES (?, ?, ?, ?, ?, ?)",
            (msisdn, concat.reference, concat.total, concat.seq, text, now),
        )
        rows = self._conn.execute(
            "SELECT body FROM sms_inbound_part WHERE msisdn = ? AND reference = ? AND total = ?"
            " ORDER BY seq",
            (msisdn, concat.reference, concat.total),
        ).fetchall()
        if len(rows) < concat.total:
            return None
        self._conn.execute(
            "DELETE FROM sms_inbound_part WHERE msisdn = ? AND reference = ? AND total = ?",
            (msisdn, concat.reference, concat.total),
        )
        return self._inbound(msisdn, "".join(r[0] for r in rows), now, complete=True, ton=ton)

    def expire_partials(self, older_than: float, now: float) -> list[int]:
        """Incomplete multipart messages past the timeout become messages as they are."""
        groups = self._conn.execute(
            "SELECT msisdn, reference, total FROM sms_inbound_part"
            " GROUP BY msisdn, reference, total HAVING MIN(received_at) < ?",
            (older_than,),
        ).fetchall()
        made = []
        for msisdn, reference, total in groups:
            rows = self._conn.execute(
                "SELECT body FROM sms_inbound_part WHERE msisdn = ? AND reference = ?"
                " AND total = ? ORDER BY seq",
                (msisdn, reference, total),
            ).fetchall()
            self._conn.execute(
                "DELETE FROM sms_inbound_part WHERE msisdn = ? AND reference = ? AND total = ?",
                (msisdn, reference, total),
            )
            made.append(self._inbound(msisdn, " ".join(r[0] for r in rows), now, complete=False))
        return made

    def _inbound(self, msisdn: str, text: str, now: float, *, complete: bool, ton: int = 1) -> int:
        cursor = self._conn.execute(
            "INSERT INTO sms_inbound (msisdn, body, received_at, state, complete, sender_ton)"
            " VALUES (?, ?, ?, 'new', ?, ?)",
            (msisdn, text, now, int(complete), ton),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def pending_inbound(self, limit: int = 100) -> list[Inbound]:
        rows = self._conn.execute(
            "SELECT id, msisdn, body, complete, sender_ton FROM sms_inbound WHERE state = 'new'"
            " ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [Inbound(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def mark_handled(self, inbound_id: int) -> None:
        self._conn.execute("UPDATE sms_inbound SET state = 'handled' WHERE id = ?", (inbound_id,))

    def prune(self, older_than: float) -> tuple[int, int]:
        """Retention: delete handled inbound rows and finished messages (with their parts)
        last touched before `older_than`, and per-number policy state of that age.
        Returns (inbound rows, messages) deleted. Queued or in-flight messages stay."""
        inbound = self._conn.execute(
            "DELETE FROM sms_inbound WHERE state = 'handled' AND received_at < ?", (older_than,)
        ).rowcount
        done = "state IN ('delivered', 'failed', 'expired', 'submitted') AND updated_at < ?"
        self._conn.execute(
            f"DELETE FROM sms_part WHERE message_id IN (SELECT id FROM sms_message WHERE {done})",
            (older_than,),
        )
        messages = self._conn.execute(f"DELETE FROM sms_message WHERE {done}", (older_than,))
        self._conn.execute("DELETE FROM sms_inbound_part WHERE received_at < ?", (older_than,))
        for key, value in self._conn.execute(
            "SELECT key, value FROM sms_state WHERE key LIKE 'refused:%' OR key LIKE 'quiet:%'"
        ).fetchall():
            try:
                stale = float(value) < older_than
            except ValueError:
                stale = True
            if stale:
                self._conn.execute("DELETE FROM sms_state WHERE key = ?", (key,))
        return inbound, messages.rowcount

    # ------------------------------------------------------------ policy state

    def opted_out(self, msisdn: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM sms_optout WHERE msisdn = ?", (msisdn,))
        return row.fetchone() is not None

    def set_opt_out(self, msisdn: str, out: bool, now: float) -> None:
        if out:
            self._conn.execute(
                "INSERT OR REPLACE INTO sms_optout (msisdn, at) VALUES (?, ?)", (msisdn, now)
            )
        else:
            self._conn.execute("DELETE FROM sms_optout WHERE msisdn = ?", (msisdn,))

    def lookups_since(self, msisdn: str, since: float) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM sms_lookup_log WHERE msisdn = ? AND at >= ?", (msisdn, since)
        ).fetchone()
        return int(row[0])

    def log_lookup(self, msisdn: str, now: float) -> None:
        self._conn.execute("INSERT INTO sms_lookup_log VALUES (?, ?)", (msisdn, now))
        # Keep the table small: nothing older than a day is ever counted.
        self._conn.execute("DELETE FROM sms_lookup_log WHERE at < ?", (now - 86_400,))

    def get_state(self, key: str, default: str = "") -> str:
        row = self._conn.execute("SELECT value FROM sms_state WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_state(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO sms_state (key, value) VALUES (?, ?)", (key, value)
        )

    def opted_out_among(self, numbers: set[str]) -> set[str]:
        if not numbers:
            return set()
        found: set[str] = set()
        listed = sorted(numbers)
        for i in range(0, len(listed), 500):
            chunk = listed[i : i + 500]
            rows = self._conn.execute(
                f"SELECT msisdn FROM sms_optout WHERE msisdn IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update(r[0] for r in rows)
        return found

    def cancel_queued_to(self, msisdn: str, kind: str, reason: str, now: float) -> int:
        """Queued (not yet sent) messages of one kind to a number are given up (opt-out)."""
        ids = [
            r[0]
            for r in self._conn.execute(
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
        if not self._conn.in_transaction:  # the link must not claim a part between the two
            self._conn.execute("BEGIN IMMEDIATE")
        ids = [
            r[0]
            for r in self._conn.execute(
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
        row = self._conn.execute("SELECT 1 FROM sms_message WHERE dedup_key = ?", (key,))
        return row.fetchone() is not None

    # ------------------------------------------------------------ reminder projection

    def watch(self, code: str, status: int, due: str, ready: str | None, dossier: str) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO sms_watch (code, status, due, ready, dossier)"
            " VALUES (?, ?, ?, ?, ?)",
            (code, status, due, ready, dossier),
        )

    def unwatch(self, code: str) -> None:
        self._conn.execute("DELETE FROM sms_watch WHERE code = ?", (code,))

    def watch_candidates(
        self, today: date, *, days_before: int, not_collected_days: int, catch_up_days: int
    ) -> Iterator[str]:
        """Watched dossiers that may need a calendar reminder today (rules decide)."""
        if days_before:
            yield from (
                r[0]
                for r in self._conn.execute(
                    "SELECT dossier FROM sms_watch WHERE status IN (2, 4) AND due > ? AND due <= ?",
                    (today.isoformat(), (today + timedelta(days=days_before)).isoformat()),
                )
            )
        if not_collected_days:
            newest = today - timedelta(days=not_collected_days)
            oldest = newest - timedelta(days=catch_up_days)
            yield from (
                r[0]
                for r in self._conn.execute(
                    "SELECT dossier FROM sms_watch WHERE status = 9 AND ready >= ? AND ready <= ?",
                    (oldest.isoformat(), newest.isoformat()),
                )
            )

    # ------------------------------------------------------------ reporting

    def recent(self, limit: int = 20) -> list[MessageRow]:
        rows = self._conn.execute(
            "SELECT m.id, m.msisdn, m.kind, m.state, m.body,"
            " (SELECT COUNT(*) FROM sms_part p WHERE p.message_id = m.id),"
            " (SELECT COALESCE(SUM(uncertain), 0) FROM sms_part p WHERE p.message_id = m.id),"
            " m.created_at, m.error FROM sms_message m ORDER BY m.id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [MessageRow(*r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT state, COUNT(*) FROM sms_message GROUP BY state")
        return {r[0]: int(r[1]) for r in rows}

    def message_state(self, message_id: int) -> str | None:
        row = self._conn.execute("SELECT state FROM sms_message WHERE id = ?", (message_id,))
        found = row.fetchone()
        return None if found is None else str(found[0])


def now_s() -> float:
    return time.time()
