"""PostgreSQL backend of the dossier lookup (asyncpg), and its writer.

The same tables and rules as lookup/sqlite.py, for offices that already run
PostgreSQL (settings.database = postgresql://...). Schema versions live in
`schema_version` keyed by component, as in kernel.migrate. Writers take a
transaction-level advisory lock, so change_seq values commit in order and
changed_since() never skips a change that commits late.
Driver errors and slow answers become LookupUnavailable. Wrong secrets are
counted in secret_failure (lookup/lockout.py): the check and the count run in
one transaction holding the dossier's advisory lock, so concurrent guesses
from any process are all counted; one secret checked against several
dossiers (full_any) holds all their locks, taken in one order.

Upserts go one row at a time (RETURNING id decides whether the phones need
rewriting): right for daily imports of thousands of dossiers, not tuned or
benchmarked for million-row bulk loads (the SQLite writer is).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from lookup.codes import agency_spellings, code_query, compact_key, parse_keypad
from lookup.lockout import DEFAULT_POLICY, Failures, SecretPolicy, attempt_many, is_locked
from lookup.model import Changes, Dossier, FullView, Procedure, PublicView
from lookup.phones import normalise_phone
from lookup.port import LookupUnavailable, Proof
from lookup.proof import proves_phone, proves_secret, secret_checks
from lookup.rows import (
    BY_PHONE_LIMIT,
    COLUMNS,
    COMPARED,
    batches,
    dossier_from_row,
    dossier_row,
)

COMPONENT = "lookup"
WRITE_LOCK = 0x7472_6163  # advisory lock id ("trac"): one dossier writer at a time
# Advisory lock class ("secr") of secret_failure: (SECRET_LOCKS, _secret_lock(code_key)).
# Two-int locks never meet WRITE_LOCK, a one-bigint lock.
SECRET_LOCKS = 0x7365_6372
STEPS = (
    """
    CREATE TABLE dossier (
        id BIGSERIAL PRIMARY KEY,
        code TEXT NOT NULL,
        code_key TEXT NOT NULL UNIQUE,
        code_agency TEXT NOT NULL,
        code_date TEXT NOT NULL,
        seq_num INTEGER NOT NULL,
        agency_id TEXT NOT NULL,
        agency_name TEXT NOT NULL DEFAULT '',
        procedure_code TEXT NOT NULL DEFAULT '',
        procedure_name TEXT NOT NULL DEFAULT '',
        status SMALLINT NOT NULL CHECK (status BETWEEN 1 AND 10),
        status_at TEXT,
        received_on TEXT NOT NULL,
        due_on TEXT NOT NULL,
        rescheduled_on TEXT,
        ready_on TEXT,
        collection_place TEXT NOT NULL DEFAULT '',
        applicant_name TEXT NOT NULL DEFAULT '',
        applicant_phones TEXT NOT NULL DEFAULT '',
        applicant_id_number TEXT NOT NULL DEFAULT '',
        applicant_address TEXT NOT NULL DEFAULT '',
        secret TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL,
        change_seq BIGINT NOT NULL UNIQUE
    );
    CREATE INDEX dossier_keypad ON dossier (code_date, seq_num);
    CREATE TABLE dossier_phone (
        phone TEXT NOT NULL,
        dossier_id BIGINT NOT NULL REFERENCES dossier (id),
        PRIMARY KEY (phone, dossier_id)
    );
    CREATE TABLE procedure (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        documents TEXT NOT NULL DEFAULT '[]',
        fee TEXT NOT NULL DEFAULT '',
        processing_time TEXT NOT NULL DEFAULT '',
        common BOOLEAN NOT NULL DEFAULT FALSE
    );
    """,
    """
    CREATE TABLE secret_failure (
        code_key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        first_at DOUBLE PRECISION NOT NULL,
        locked_until DOUBLE PRECISION NOT NULL DEFAULT 0
    );
    """,
    """
    -- Counted per dossier AND guesser (the SMS sender; '' for one shared count), so one
    -- stranger's guesses cannot lock out the owner (lookup/lockout.py).
    DROP TABLE secret_failure;
    CREATE TABLE secret_failure (
        code_key TEXT NOT NULL,
        guesser TEXT NOT NULL DEFAULT '',
        failures INTEGER NOT NULL,
        first_at DOUBLE PRECISION NOT NULL,
        locked_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        PRIMARY KEY (code_key, guesser)
    );
    """,
)

_UPSERT = (
    f"INSERT INTO dossier ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))})"
    " ON CONFLICT (code_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "code_key")
    + " WHERE "
    + " OR ".join(f"dossier.{c} IS DISTINCT FROM excluded.{c}" for c in COMPARED)
    + " RETURNING id"
)
_SELECT = "SELECT " + ", ".join(f"d.{c}" for c in COLUMNS) + " FROM dossier d"


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


class PostgresLookup:
    """DossierLookup on PostgreSQL; same answers as SqliteLookup."""

    def __init__(
        self, pool: asyncpg.Pool, agencies: Mapping[str, str], collection_place: str,
        timeout_s: float, *, policy: SecretPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._pool = pool
        self._agencies = {k.upper(): v for k, v in agencies.items()}
        self._collection_place = collection_place
        self._timeout_s = timeout_s
        self._policy = policy
        self._clock = clock

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
        """Opening migrates the schema: one lookup per process, shared, never one per call."""
        pool = await _pool(url)
        return cls(pool, agencies or {}, collection_place, timeout_s, policy=policy, clock=clock)

    async def close(self) -> None:
        await self._pool.close()

    async def by_code(self, code: str) -> PublicView | None:
        dossier = await self._find(code)
        return None if dossier is None else dossier.public()

    async def by_keypad_digits(self, digits: str, *, any_agency: bool = False) -> list[PublicView]:
        keyed = parse_keypad(digits)
        sql = f"{_SELECT} WHERE d.code_date = $1 AND d.seq_num = $2"
        params: list[Any] = [keyed.yymmdd, keyed.sequence_number]
        if self._agencies and not any_agency:
            sql += " AND d.code_agency = ANY($3::text[])"
            params.append(list(self._agencies))
        rows = await self._fetch(sql + " ORDER BY d.code_agency", *params)
        return [self._dossier(row).public() for row in rows]

    async def by_phone(self, phone: str) -> list[PublicView]:
        e164 = normalise_phone(phone)
        if e164 is None:
            return []
        rows = await self._fetch(
            f"{_SELECT} JOIN dossier_phone p ON p.dossier_id = d.id WHERE p.phone = $1"
            " ORDER BY d.received_on DESC, d.id DESC LIMIT $2",
            e164,
            BY_PHONE_LIMIT,
        )
        return [self._dossier(row).public() for row in rows]

    async def full(self, code: str, proof: Proof) -> FullView | None:
        """The full view on a registered phone or a right secret; None while locked."""
        dossier = await self._find(code)
        if dossier is None:
            return None
        if proves_phone(dossier, proof.phone):
            return dossier.full()
        secret = (proof.secret or "").strip()
        if not secret:
            return None
        key, now, policy = compact_key(dossier.code), self._clock(), self._policy
        try:
            async with (
                asyncio.timeout(self._timeout_s),
                self._pool.acquire() as conn,
                conn.transaction(),
            ):
                right = await _count_secret(
                    conn, key, now, policy,
                    lambda: proves_secret(dossier, secret, policy.min_id_digits),
                    guesser=proof.guesser,
                )  # fmt: skip
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise LookupUnavailable(f"dossier database error: {exc}") from exc
        except TimeoutError as exc:
            raise LookupUnavailable(f"dossier database slower than {self._timeout_s} s") from exc
        return dossier.full() if right else None

    async def full_any(
        self, codes: Sequence[str], secret: str, *, guesser: str = ""
    ) -> list[FullView]:
        """The full views of those `codes` that one secret proves, as ONE attempt.

        lookup.port.SecretGuard.full_any, in one transaction holding the
        advisory locks of every dossier checked. Unknown codes are ignored.
        """
        secret = secret.strip()
        if not secret:
            return []
        now, policy = self._clock(), self._policy
        dossiers, checks = await secret_checks(self._find, codes, secret, policy)
        if not checks:
            return []
        try:
            async with (
                asyncio.timeout(self._timeout_s),
                self._pool.acquire() as conn,
                conn.transaction(),
            ):
                proven = await _count_shared_secret(conn, checks, now, policy, guesser)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise LookupUnavailable(f"dossier database error: {exc}") from exc
        except TimeoutError as exc:
            raise LookupUnavailable(f"dossier database slower than {self._timeout_s} s") from exc
        return [dossier.full() for key, dossier in dossiers.items() if key in proven]

    async def secret_locked(self, code: str, *, guesser: str = "") -> bool:
        dossier = await self._find(code)
        if dossier is None:
            return False
        rows = await self._fetch(
            "SELECT failures, first_at, locked_until FROM secret_failure"
            " WHERE code_key = $1 AND guesser = $2",
            compact_key(dossier.code),
            guesser,
        )
        return bool(rows) and is_locked(Failures(*rows[0]), self._clock())

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        if cursor and not cursor.isdigit():
            raise ValueError(f"not a cursor from changed_since(): {cursor!r}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        after = int(cursor or 0)
        rows = await self._fetch(
            f"{_SELECT} WHERE d.change_seq > $1 ORDER BY d.change_seq LIMIT $2", after, limit + 1
        )
        page = rows[:limit]
        last = int(page[-1]["change_seq"]) if page else after
        return Changes(
            tuple(self._dossier(row) for row in page), cursor=str(last), more=len(rows) > limit
        )

    async def procedure(self, procedure_code: str) -> Procedure | None:
        rows = await self._fetch("SELECT * FROM procedure WHERE code = $1", procedure_code)
        return _procedure(rows[0]) if rows else None

    async def procedures(self, *, common_only: bool = False) -> list[Procedure]:
        where = " WHERE common" if common_only else ""
        rows = await self._fetch(f"SELECT * FROM procedure{where} ORDER BY name")
        return [_procedure(row) for row in rows]

    async def _find(self, text: str) -> Dossier | None:
        query = code_query(text)
        if isinstance(query, str):
            rows = await self._fetch(f"{_SELECT} WHERE d.code_key = $1", query)
        else:  # the sequence as a number: "-1", "-0001" and "-00001" are one dossier
            rows = await self._fetch(
                f"{_SELECT} WHERE d.code_date = $1 AND d.seq_num = $2"
                " AND d.code_agency = ANY($3::text[])"
                " ORDER BY d.code = $4 DESC, d.code_agency = $5 DESC, d.id LIMIT 1",
                query.yymmdd, query.sequence_number, list(agency_spellings(query.agency)),
                query.text, query.agency,
            )  # fmt: skip
        return self._dossier(rows[0]) if rows else None

    async def _fetch(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        try:
            async with asyncio.timeout(self._timeout_s):
                return list(await self._pool.fetch(sql, *params))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise LookupUnavailable(f"dossier database error: {exc}") from exc
        except TimeoutError as exc:
            raise LookupUnavailable(f"dossier database slower than {self._timeout_s} s") from exc

    def _dossier(self, row: asyncpg.Record) -> Dossier:
        return dossier_from_row(row, self._agencies, self._collection_place)


async def _count_secret(
    conn: asyncpg.Connection,
    key: str,
    now: float,
    policy: SecretPolicy,
    check: Callable[[], bool],
    *,
    guesser: str = "",
) -> bool:
    """Check a secret unless locked, and count it; inside the caller's transaction."""
    return key in await _count_shared_secret(conn, {key: check}, now, policy, guesser)


async def _count_shared_secret(
    conn: asyncpg.Connection,
    checks: Mapping[str, Callable[[], bool]],
    now: float,
    policy: SecretPolicy,
    guesser: str = "",
) -> frozenset[str]:
    """Check one secret against several dossiers (by code_key) as one attempt.

    Inside the caller's transaction; lookup.lockout.attempt_many decides. Every
    writer of secret_failure first takes a transaction-level advisory lock per
    dossier, in ascending lock order: attempts at a shared dossier wait for each
    other and all are counted, overlapping attempts cannot deadlock, and the
    count read is the latest committed one. Advisory locks, not row locks: the
    row may not exist yet, and a right secret deletes it, so a row lock would
    not cover the row a count is then written to.
    """
    for lock in sorted({_secret_lock(key) for key in checks}):
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", SECRET_LOCKS, lock)
    rows = await conn.fetch(
        "SELECT code_key, failures, first_at, locked_until FROM secret_failure"
        " WHERE code_key = ANY($1::text[]) AND guesser = $2",
        list(checks),
        guesser,
    )
    found = {
        row["code_key"]: Failures(row["failures"], row["first_at"], row["locked_until"])
        for row in rows
        if row["failures"]  # a count of 0 is no count
    }
    prior = {key: found.get(key) for key in checks}
    attempt = attempt_many(prior, lambda key: checks[key](), now, policy)
    cleared = [key for key, failed in attempt.changes.items() if failed is None]
    if cleared:
        await conn.execute(
            "DELETE FROM secret_failure WHERE code_key = ANY($1::text[]) AND guesser = $2",
            cleared,
            guesser,
        )
    counted = [
        (key, guesser, failed.count, failed.first_at, failed.locked_until)
        for key, failed in attempt.changes.items()
        if failed is not None
    ]
    if counted:
        await conn.executemany(
            "INSERT INTO secret_failure (code_key, guesser, failures, first_at, locked_until)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code_key, guesser) DO UPDATE SET"
            " failures = excluded.failures, first_at = excluded.first_at,"
            " locked_until = excluded.locked_until",
            counted,
        )
    return attempt.proven


def _secret_lock(code_key: str) -> int:
    """The advisory lock id of a dossier's secret_failure row (collisions only serialise)."""
    digest = hashlib.blake2b(code_key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _pool(url: str) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4, command_timeout=10)
        async with pool.acquire() as conn:
            await migrate(conn, COMPONENT, STEPS)
    except (asyncpg.PostgresError, OSError) as exc:
        raise LookupUnavailable(f"cannot open the PostgreSQL dossier database: {exc}") from exc
    return pool


def _procedure(row: asyncpg.Record) -> Procedure:
    return Procedure(
        code=row["code"],
        name=row["name"],
        documents=tuple(json.loads(row["documents"])),
        fee=row["fee"],
        processing_time=row["processing_time"],
        common=bool(row["common"]),
    )


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
