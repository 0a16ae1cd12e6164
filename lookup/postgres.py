"""PostgreSQL backend of the dossier lookup, and its writer.

The same tables (lookup/schema.py) and answers as lookup/sqlite.py, for offices
that already run PostgreSQL (settings.database = postgresql://...). The reader,
PostgresLookup, is lookup/queries.py's DatabaseLookup on a kernel.db Database
(asyncpg on the driver's own loop: the caller's loop only awaits); wrong secrets
are counted there under per-dossier advisory locks.

The writer, PostgresStore, keeps an asyncpg pool of its own (import and demo
data, not the gateway's calls). Writers take a transaction-level advisory lock,
so change_seq values commit in order and changed_since() never skips a change
that commits late. Upserts go one row at a time (RETURNING id decides whether
the phones need rewriting): right for daily imports of thousands of dossiers,
not tuned or benchmarked for million-row bulk loads (the SQLite writer is).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from kernel.db import Database, DatabaseError, open_migrated
from lookup.lockout import DEFAULT_POLICY, SecretPolicy
from lookup.model import Dossier, Procedure
from lookup.port import LookupUnavailable
from lookup.queries import COMPONENT, DatabaseLookup
from lookup.rows import COLUMNS, COMPARED, batches, dossier_row
from lookup.schema import POSTGRES_STEPS, STEPS

WRITE_LOCK = 0x7472_6163  # advisory lock id ("trac"): one dossier writer at a time

_UPSERT = (
    f"INSERT INTO dossier ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))})"
    " ON CONFLICT (code_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "code_key")
    + " WHERE "
    + " OR ".join(f"dossier.{c} IS DISTINCT FROM excluded.{c}" for c in COMPARED)
    + " RETURNING id"
)


async def migrate(conn: asyncpg.Connection, component: str, steps: Sequence[str]) -> int:
    """kernel.migrate's rule on PostgreSQL: each step with its version bump, atomically."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version"
        " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    async with conn.transaction():
        await conn.execute("LOCK TABLE schema_version IN EXCLUSIVE MODE")
        version = await conn.fetchval(
            "SELECT version FROM schema_version WHERE component = $1", component
        )
        version = version or 0
        if version > len(steps):
            raise RuntimeError(f"{component} schema is version {version}, newer than this code")
        for step in steps[version:]:
            await conn.execute(step)
        await conn.execute(
            "INSERT INTO schema_version (component, version) VALUES ($1, $2)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            component,
            len(steps),
        )
    return len(steps)


class PostgresStore:
    """The writer on PostgreSQL: dossier and procedure upserts."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        return cls(await _pool(url))

    async def close(self) -> None:
        await self._pool.close()

    async def upsert_dossiers(self, dossiers: Iterable[Dossier], batch_size: int = 10_000) -> int:
        now_iso = datetime.now(UTC).isoformat()
        total = 0
        for batch in batches(dossiers, batch_size):
            rows = [dossier_row(d, now_iso) for d in batch]
            try:
                await self._write(rows)
            except (asyncpg.PostgresError, OSError) as exc:
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
            async with self._pool.acquire() as conn:
                await conn.executemany(
                    "INSERT INTO procedure (code, name, documents, fee, processing_time, common)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO UPDATE SET"
                    " name = excluded.name, documents = excluded.documents, fee = excluded.fee,"
                    " processing_time = excluded.processing_time, common = excluded.common",
                    rows,
                )
        except (asyncpg.PostgresError, OSError) as exc:
            raise LookupUnavailable(f"cannot store procedures: {exc}") from exc
        return len(rows)

    async def _write(self, rows: list[list[Any]]) -> None:
        phones_at = COLUMNS.index("applicant_phones")
        async with self._pool.acquire() as conn, conn.transaction():
            # Writers in change_seq order: a reader never sees seq 7 before seq 6 commits.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            last_seq = await conn.fetchval("SELECT coalesce(max(change_seq), 0) FROM dossier")
            for offset, row in enumerate(rows, start=1):
                ident = await conn.fetchval(_UPSERT, *row, last_seq + offset)
                if ident is None:
                    continue  # unchanged: nothing to do
                phones = [p for p in str(row[phones_at]).split(",") if p]
                await conn.execute("DELETE FROM dossier_phone WHERE dossier_id = $1", ident)
                if phones:
                    await conn.executemany(
                        "INSERT INTO dossier_phone (phone, dossier_id) VALUES ($1, $2)"
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


async def _pool(url: str) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4, command_timeout=10)
        async with pool.acquire() as conn:
            await migrate(conn, COMPONENT, POSTGRES_STEPS)
    except (asyncpg.PostgresError, OSError) as exc:
        raise LookupUnavailable(f"cannot open the PostgreSQL dossier database: {exc}") from exc
    return pool
