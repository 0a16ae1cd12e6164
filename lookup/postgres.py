"""PostgreSQL backend of the dossier lookup, and its writer.

The same tables (lookup/schema.py) and answers as lookup/sqlite.py, for offices
that already run PostgreSQL (settings.database = postgresql://...). The reader,
PostgresLookup, is lookup/queries.py's DatabaseLookup on a kernel.db Database
(asyncpg on the driver's own loop: the caller's loop only awaits); wrong secrets
are counted there under per-dossier advisory locks.

The writer, PostgresStore, is on a kernel.db Database too: the gateway's own
(the console's push API) or one of its own (import, demo data). Writers take a
transaction-level advisory lock,
so change_seq values commit in order and changed_since() never skips a change
that commits late. Upserts go one row at a time (RETURNING id decides whether
the phones need rewriting): right for daily imports of thousands of dossiers,
not tuned or benchmarked for million-row bulk loads (the SQLite writer is).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kernel.db import Conn, Database, DatabaseError, open_migrated
from lookup.lockout import DEFAULT_POLICY, SecretPolicy
from lookup.model import Dossier, Procedure
from lookup.port import LookupUnavailable
from lookup.queries import COMPONENT, DatabaseLookup
from lookup.rows import COLUMNS, COMPARED, batches, dossier_row
from lookup.schema import STEPS

WRITE_LOCK = 0x7472_6163  # advisory lock id ("trac"): one dossier writer at a time

_UPSERT = (
    f"INSERT INTO dossier ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join('?' * len(COLUMNS))})"
    " ON CONFLICT (code_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "code_key")
    + " WHERE "
    + " OR ".join(f"dossier.{c} IS DISTINCT FROM excluded.{c}" for c in COMPARED)
    + " RETURNING id"
)
_UPSERT_PROCEDURE = (
    "INSERT INTO procedure (code, name, documents, fee, processing_time, common)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET"
    " name = excluded.name, documents = excluded.documents, fee = excluded.fee,"
    " processing_time = excluded.processing_time, common = excluded.common"
)


class PostgresStore:
    """The writer on PostgreSQL: dossier and procedure upserts, on a kernel.db Database
    (the gateway's own one through on(), so the push API opens no pool of its own;
    a Database of its own through open() for the command line and tests)."""

    def __init__(self, db: Database, *, owned: bool = False) -> None:
        self._db = db
        self._owned = owned

    @classmethod
    async def on(cls, db: Database) -> PostgresStore:
        """On the process's Database (migrated here; closed by its owner)."""
        try:
            await db.migrate(COMPONENT, STEPS)
        except DatabaseError as exc:
            raise LookupUnavailable(f"cannot open the PostgreSQL dossier database: {exc}") from exc
        return cls(db)

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        """On a Database of its own: close() closes it."""
        try:
            db = await open_migrated(url, (COMPONENT, STEPS))
        except (DatabaseError, OSError) as exc:
            raise LookupUnavailable(f"cannot open the PostgreSQL dossier database: {exc}") from exc
        return cls(db, owned=True)

    async def close(self) -> None:
        if self._owned:
            self._owned = False
            await self._db.close()

    async def upsert_dossiers(self, dossiers: Iterable[Dossier], batch_size: int = 10_000) -> int:
        now_iso = datetime.now(UTC).isoformat()
        total = 0
        for batch in batches(dossiers, batch_size):
            rows = [dossier_row(d, now_iso) for d in batch]
            try:
                await self._db.run(functools.partial(_write_dossiers, rows=rows))
            except (DatabaseError, OSError) as exc:
                raise LookupUnavailable(f"cannot store dossiers: {exc}") from exc
            total += len(rows)
        return total

    async def upsert_procedures(self, procedures: Iterable[Procedure]) -> int:
        rows = [
            (p.code, p.name, json.dumps(list(p.documents), ensure_ascii=False), p.fee,
             p.processing_time, p.common)
            for p in procedures
        ]  # fmt: skip
        try:
            await self._db.run(lambda conn: conn.executemany(_UPSERT_PROCEDURE, rows))
        except (DatabaseError, OSError) as exc:
            raise LookupUnavailable(f"cannot store procedures: {exc}") from exc
        return len(rows)


def _write_dossiers(conn: Conn, *, rows: list[list[Any]]) -> None:
    """One batch in the job's write transaction (off the loop, kernel/db)."""
    phones_at = COLUMNS.index("applicant_phones")
    # Writers in change_seq order: a reader never sees seq 7 before seq 6 commits.
    conn.fetchval("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
    last_seq = int(conn.fetchval("SELECT coalesce(max(change_seq), 0) FROM dossier"))
    for offset, row in enumerate(rows, start=1):
        ident = conn.fetchval(_UPSERT, (*row, last_seq + offset))
        if ident is None:
            continue  # unchanged: nothing to do
        phones = [p for p in str(row[phones_at]).split(",") if p]
        conn.execute("DELETE FROM dossier_phone WHERE dossier_id = ?", (ident,))
        if phones:
            conn.executemany(
                "INSERT INTO dossier_phone (phone, dossier_id) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                [(p, ident) for p in phones],
            )


class PostgresLookup(DatabaseLookup):
    """DossierLookup on PostgreSQL: the queries of lookup/queries.py (the same answers as
    SqliteLookup), on a kernel.db Database, so rows are fetched by the driver's own
    loop and pages mapped in its job threads, never on the caller's loop."""

    @classmethod
    async def on(
        cls,
        db: Database,
        *,
        agencies: Mapping[str, str] | None = None,
        collection_place: str = "",
        timeout_s: float = 5.0,
        policy: SecretPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.time,
    ) -> PostgresLookup:
        """On the process's Database (migrated here; closed by its owner)."""
        try:
            await db.migrate(COMPONENT, STEPS)
        except DatabaseError as exc:
            raise LookupUnavailable(f"cannot open the PostgreSQL dossier database: {exc}") from exc
        return cls(db, agencies or {}, collection_place, timeout_s, policy=policy, clock=clock)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        agencies: Mapping[str, str] | None = None,
        collection_place: str = "",
        timeout_s: float = 5.0,
        policy: SecretPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.time,
    ) -> PostgresLookup:
        """On a Database of its own (the command line, tests): close() closes it.
        Opening migrates the schema: one lookup per process, shared, never one per call."""
        try:
            db = await open_migrated(url, (COMPONENT, STEPS))
        except (DatabaseError, OSError) as exc:
            raise LookupUnavailable(f"cannot open the PostgreSQL dossier database: {exc}") from exc
        return cls(
            db, agencies or {}, collection_place, timeout_s,
            policy=policy, clock=clock, owned=True,
        )  # fmt: skip
