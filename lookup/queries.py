"""The dossier lookup's queries on a kernel.db Database: one code for SQLite and PostgreSQL.

SqliteLookup (lookup/sqlite.py) and PostgresLookup (lookup/postgres.py) differ
only in their schema steps and in how they are opened; every question they answer
is asked here, in portable SQL (`?` placeholders, IN lists, ON CONFLICT).

Off the loop. Every statement runs in the database's own threads (a SQLite
reader or writer thread; PostgreSQL's driver loop and job threads). Where rows
become Dossiers depends on how many there can be:
- a page of changes (changed_since: up to `limit` rows, a reminder scan reads
  1.1M of them) is mapped in the read job, on the database's thread;
- a point lookup (a code, a keypad code, a phone: at most BY_PHONE_LIMIT rows)
  is one plain fetch mapped on the loop: a row costs microseconds, and on
  PostgreSQL a read job would add a transaction's two round trips to every call.
Wrong secrets are checked and counted in one write job (one transaction); on
PostgreSQL it first takes an advisory lock per dossier, so concurrent guesses
from any gateway instance are all counted.
Driver errors and slow answers become LookupUnavailable; an invalid code
raises lookup.codes.InvalidCode.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from kernel.db import Conn, Database, DatabaseError, Row, backend_of
from lookup.codes import agency_spellings, code_query, compact_key, parse_keypad
from lookup.lockout import DEFAULT_POLICY, Failures, SecretPolicy, attempt_many, is_locked
from lookup.model import Changes, Dossier, FullView, Procedure, PublicView
from lookup.phones import normalise_phone
from lookup.port import LookupUnavailable, Proof
from lookup.proof import proves_phone, proves_secret, secret_checks
from lookup.rows import BY_PHONE_LIMIT, COLUMNS, dossier_from_row

T = TypeVar("T")

COMPONENT = "lookup"
# Advisory lock class ("secr") of secret_failure on PostgreSQL: (SECRET_LOCKS,
# secret_lock(code_key)). Two-int locks never meet a one-bigint lock (the writer's).
SECRET_LOCKS = 0x7365_6372
SELECT = "SELECT " + ", ".join(f"d.{c}" for c in COLUMNS) + " FROM dossier d"


def marks(n: int) -> str:
    return ", ".join("?" * n)


class DatabaseLookup:
    """DossierLookup (and SecretGuard) on a Database whose lookup schema exists."""

    def __init__(
        self,
        db: Database,
        agencies: Mapping[str, str],
        collection_place: str,
        timeout_s: float,
        *,
        guard: bool = True,
        policy: SecretPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.time,
        owned: bool = False,
    ) -> None:
        """`guard`: count wrong secrets in secret_failure (a write); without it secrets
        never prove. `owned`: close() closes the Database."""
        self._db = db
        # Compared upper-case: codes are folded to upper case when parsed.
        self._agencies = {k.upper(): v for k, v in agencies.items()}
        self._collection_place = collection_place
        self._timeout_s = timeout_s
        self._guard = guard
        self._policy = policy
        self._clock = clock
        self._owned = owned

    async def close(self) -> None:
        if self._owned:
            await self._db.close()

    async def by_code(self, code: str) -> PublicView | None:
        dossier = await self._find(code)
        return None if dossier is None else dossier.public()

    async def by_keypad_digits(self, digits: str, *, any_agency: bool = False) -> list[PublicView]:
        keyed = parse_keypad(digits)
        sql = f"{SELECT} WHERE d.code_date = ? AND d.seq_num = ?"
        params: list[Any] = [keyed.yymmdd, keyed.sequence_number]
        if self._agencies and not any_agency:
            sql += f" AND d.code_agency IN ({marks(len(self._agencies))})"
            params += list(self._agencies)
        dossiers = await self._dossiers(sql + " ORDER BY d.code_agency", params)
        return [dossier.public() for dossier in dossiers]

    async def by_phone(self, phone: str) -> list[PublicView]:
        e164 = normalise_phone(phone)
        if e164 is None:
            return []
        dossiers = await self._dossiers(
            f"{SELECT} JOIN dossier_phone p ON p.dossier_id = d.id WHERE p.phone = ?"
            " ORDER BY d.received_on DESC, d.id DESC LIMIT ?",
            [e164, BY_PHONE_LIMIT],
        )
        return [dossier.public() for dossier in dossiers]

    async def full(self, code: str, proof: Proof) -> FullView | None:
        """The full view on a registered phone or a right secret; None while locked."""
        dossier = await self._find(code)
        if dossier is None:
            return None
        if proves_phone(dossier, proof.phone):
            return dossier.full()
        secret = (proof.secret or "").strip()
        if not secret or not self._guard:
            return None
        key, now, policy = compact_key(dossier.code), self._clock(), self._policy
        checks = {key: lambda: proves_secret(dossier, secret, policy.min_id_digits)}
        proven = await self._count(checks, now, proof.guesser)
        return dossier.full() if key in proven else None

    async def full_any(
        self, codes: Sequence[str], secret: str, *, guesser: str = ""
    ) -> list[FullView]:
        """The full views of those `codes` that one secret proves, as ONE attempt.

        lookup.port.SecretGuard.full_any: locked dossiers are skipped; a secret
        that proves some counts nothing on the others; one that proves none
        counts one failure on each unlocked dossier. Unknown codes are ignored.
        """
        secret = secret.strip()
        if not secret or not self._guard:
            return []
        now, policy = self._clock(), self._policy
        dossiers, checks = await secret_checks(self._find, codes, secret, policy)
        if not checks:
            return []
        proven = await self._count(checks, now, guesser)
        return [dossier.full() for key, dossier in dossiers.items() if key in proven]

    async def _count(
        self, checks: Mapping[str, Callable[[], bool]], now: float, guesser: str
    ) -> frozenset[str]:
        """Check a secret and count it in one write transaction (a job off the loop)."""
        job = functools.partial(
            count_shared_secret, checks=checks, now=now, policy=self._policy, guesser=guesser
        )
        return await self._timed(self._db.run(job))

    async def secret_locked(self, code: str, *, guesser: str = "") -> bool:
        dossier = await self._find(code)
        if dossier is None:
            return False
        rows = await self._fetch(
            "SELECT failures, first_at, locked_until FROM secret_failure"
            " WHERE code_key = ? AND guesser = ?",
            [compact_key(dossier.code), guesser],
        )
        row = rows[0] if rows else None
        return row is not None and is_locked(_failures((row[0], row[1], row[2])), self._clock())

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        after = _cursor(cursor)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        agencies, place = self._agencies, self._collection_place

        def page(conn: Conn) -> Changes:  # rows become Dossiers in the database's thread
            rows = conn.fetchall(
                f"{SELECT} WHERE d.change_seq > ? ORDER BY d.change_seq LIMIT ?",
                (after, limit + 1),
            )
            kept = rows[:limit]
            last = int(kept[-1]["change_seq"]) if kept else after
            return Changes(
                tuple(dossier_from_row(row, agencies, place) for row in kept),
                cursor=str(last),
                more=len(rows) > limit,
            )

        return await self._timed(self._db.read(page))

    async def procedure(self, procedure_code: str) -> Procedure | None:
        rows = await self._fetch("SELECT * FROM procedure WHERE code = ?", [procedure_code])
        return _procedure(rows[0]) if rows else None

    async def procedures(self, *, common_only: bool = False) -> list[Procedure]:
        where = " WHERE common" if common_only else ""
        rows = await self._fetch(f"SELECT * FROM procedure{where} ORDER BY name", [])
        return [_procedure(row) for row in rows]

    async def _find(self, text: str) -> Dossier | None:
        query = code_query(text)
        if isinstance(query, str):
            found = await self._dossiers(f"{SELECT} WHERE d.code_key = ?", [query])
        else:  # the sequence as a number: "-1", "-0001" and "-00001" are one dossier
            spellings = agency_spellings(query.agency)
            found = await self._dossiers(
                f"{SELECT} WHERE d.code_date = ? AND d.seq_num = ?"
                f" AND d.code_agency IN ({marks(len(spellings))})"
                " ORDER BY d.code = ? DESC, d.code_agency = ? DESC, d.id LIMIT 1",
                [query.yymmdd, query.sequence_number, *spellings, query.text, query.agency],
            )
        return found[0] if found else None

    async def _dossiers(self, sql: str, params: Sequence[Any]) -> list[Dossier]:
        """A point lookup's few rows (at most BY_PHONE_LIMIT) as Dossiers."""
        rows = await self._fetch(sql, params)
        agencies, place = self._agencies, self._collection_place
        return [dossier_from_row(row, agencies, place) for row in rows]

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return await self._timed(self._db.fetchall(sql, params))

    async def _timed(self, work: Any) -> T:
        """`await work` within the lookup's time limit, its errors as LookupUnavailable."""
        try:
            async with asyncio.timeout(self._timeout_s):
                result: T = await work
                return result
        except DatabaseError as exc:
            raise LookupUnavailable(f"dossier database error: {exc}") from exc
        except TimeoutError as exc:
            raise LookupUnavailable(f"dossier database slower than {self._timeout_s} s") from exc


def count_shared_secret(
    conn: Conn,
    *,
    checks: Mapping[str, Callable[[], bool]],
    now: float,
    policy: SecretPolicy,
    guesser: str = "",
) -> frozenset[str]:
    """Check one secret against several dossiers (by code_key) as one attempt.

    lookup.lockout.attempt_many decides; reading the counts and writing the
    outcome share the job's one write transaction, so concurrent attempts (other
    processes too) are all counted. SQLite: BEGIN IMMEDIATE serialises every
    writer. PostgreSQL: every writer of secret_failure first takes a
    transaction-level advisory lock per dossier, in ascending lock order, so
    attempts at a shared dossier wait for each other, overlapping attempts cannot
    deadlock, and the count read is the latest committed one. Advisory locks, not
    row locks: the row may not exist yet, and a right secret deletes it.
    """
    if backend_of(conn) == "postgresql":
        for lock in sorted({secret_lock(key) for key in checks}):
            conn.execute("SELECT pg_advisory_xact_lock(?, ?)", (SECRET_LOCKS, lock))
    keys = list(checks)
    rows = conn.fetchall(
        "SELECT code_key, failures, first_at, locked_until FROM secret_failure"
        f" WHERE code_key IN ({marks(len(keys))}) AND guesser = ?",
        (*keys, guesser),
    )
    found = {str(row[0]): _failures((row[1], row[2], row[3])) for row in rows if row[1]}
    prior = {key: found.get(key) for key in keys}
    attempt = attempt_many(prior, lambda key: checks[key](), now, policy)
    conn.executemany(
        "DELETE FROM secret_failure WHERE code_key = ? AND guesser = ?",
        [(key, guesser) for key, failed in attempt.changes.items() if failed is None],
    )
    conn.executemany(
        "INSERT INTO secret_failure (code_key, guesser, failures, first_at, locked_until)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (code_key, guesser) DO UPDATE SET"
        " failures = excluded.failures, first_at = excluded.first_at,"
        " locked_until = excluded.locked_until",
        [
            (key, guesser, failed.count, failed.first_at, failed.locked_until)
            for key, failed in attempt.changes.items()
            if failed is not None
        ],
    )
    return attempt.proven


def secret_lock(code_key: str) -> int:
    """The advisory lock id of a dossier's secret_failure row (collisions only serialise)."""
    digest = hashlib.blake2b(code_key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _failures(row: Sequence[Any]) -> Failures:
    failures, first_at, locked_until = row
    return Failures(int(failures), float(first_at), float(locked_until))


def _procedure(row: Row) -> Procedure:
    return Procedure(
        code=row["code"],
        name=row["name"],
        documents=tuple(json.loads(row["documents"])),
        fee=row["fee"],
        processing_time=row["processing_time"],
        common=bool(row["common"]),
    )


def _cursor(cursor: str) -> int:
    if cursor == "":
        return 0
    if not cursor.isdigit():
        raise ValueError(f"not a cursor from changed_since(): {cursor!r}")
    return int(cursor)
