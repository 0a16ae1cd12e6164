"""The durable SMS store: the SMS component's schema and the Outbox, one object over
its five table families (one module each):

- sms/outgoing.py  messages and their parts, receipts (sms_message, sms_part, ...)
- sms/incoming.py  incoming messages and multipart reassembly (sms_inbound, ...)
- sms/senders.py   opt-outs, rate-limit log, small named values (sms_optout, sms_state, ...)
- sms/watch.py     the reminder job's projection of dossiers in progress (sms_watch)
- sms/history.py   listings for people, and retention (prune)

The database is the truth; queues in memory are only doorbells. An Outbox wraps
one kernel.db Conn: inside a Database job (`await db.run(lambda c: ...)`, off the
loop, one transaction), or the SMPP link thread's own BlockingConnection (not the
loop's; Outbox.open), where methods do not commit unless their name says so and
the caller groups work and calls commit(), one fsync per batch, not per part.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from kernel.db import BlockingConnection, Conn, Database, Location, Step, Variants
from sms.history import History, MessageRow
from sms.incoming import Inbound, Incoming
from sms.outgoing import FINAL, Outgoing, PartToSend
from sms.senders import Senders
from sms.watch import Watch

__all__ = ["FINAL", "Inbound", "MessageRow", "Outbox", "PartToSend", "migrate_file"]

COMPONENT = "sms"
STEPS: tuple[Step, ...] = (
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
    Variants(
        # SQLite: idle links watch PRAGMA data_version (sms/outbox_watch.py).
        sqlite="",
        # PostgreSQL: new parts NOTIFY tracuu_outbox at commit (one per transaction,
        # PostgreSQL folds equal ones), waking every gateway's idle links.
        postgresql="""
        CREATE FUNCTION tracuu_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('tracuu_outbox', '');
            RETURN NULL;
        END $$;
        CREATE TRIGGER sms_part_notify AFTER INSERT ON sms_part
            FOR EACH STATEMENT EXECUTE FUNCTION tracuu_outbox_notify();
        """,
    ),
    """
    -- When a part was claimed: with several gateway instances on one database, a link
    -- starting up requeues only parts left 'submitting' long ago (by a dead instance),
    -- never those another instance is submitting now.
    ALTER TABLE sms_part ADD COLUMN claimed_at REAL;
    """,
    """
    -- Claim order: priority first (0 a reply or send-test, 1 bulk: sms/outgoing.py),
    -- so a citizen's answer does not wait behind a reminder wave. Rows queued before
    -- keep the bulk default: the order they had. The send order index leads with it.
    ALTER TABLE sms_part ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
    DROP INDEX sms_part_send_order;
    CREATE INDEX sms_part_send_order ON sms_part (state, priority, next_try, message_id, seq);
    """,
)


async def migrate_file(path: Location) -> None:
    """Create or upgrade the SMS tables in the shared database file."""
    db = await Database.open(path)
    try:
        await db.migrate(COMPONENT, STEPS)
    finally:
        await db.close()


def migrate_sync(path: Location) -> None:
    """The same migration for synchronous callers (CLI, tests) without a loop."""
    import asyncio

    asyncio.run(migrate_file(path))


class Outbox(Outgoing, Incoming, Senders, Watch, History):
    """Every family on one Conn (each family's __init__ keeps the same connection)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: Location) -> Outbox:
        """On a BlockingConnection of its own: for a thread that is not the event loop's
        (the SMPP link thread, CLI commands without a loop, tests). The file must be
        migrated (migrate_file)."""
        return cls(BlockingConnection.open(path))

    @property
    def _blocking(self) -> BlockingConnection:
        if not isinstance(self._conn, BlockingConnection):
            raise TypeError("inside a Database job the job's transaction commits")
        return self._conn

    def close(self) -> None:
        self._blocking.close()

    def commit(self) -> None:
        self._blocking.commit()

    def rollback(self) -> None:
        self._blocking.rollback()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commits on leaving (BlockingConnection); inside a job, the job's transaction."""
        if not isinstance(self._conn, BlockingConnection):
            yield
            return
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()


def now_s() -> float:
    return time.time()
