"""SQLite backend of the dossier lookup (the default), and its writer.

One file holds every component's tables; everything goes through kernel.db
(Database.migrate keeps each component's schema version). WAL mode lets the
readers (SqliteLookup's reads, on the Database's reader threads) answer while
the writer thread commits (DossierStore: import, demo data; one batch a job).
Every write takes a new, larger `change_seq`, so changed_since() never loses
a change, even when two changes share a timestamp.

Indexes, one per query: (code_date, seq_num) (by_code of a parsed code, whose
sequence compares as a number, and keypad), code_key (by_code of a compact
key), dossier_phone.phone (by_phone), change_seq (changed_since).

Second factor: wrong secrets are counted per dossier in secret_failure
(lookup/lockout.py); SqliteLookup checks and counts inside one write job
(one BEGIN IMMEDIATE on the writer thread), so concurrent guesses (other
processes too) cannot slip past the count. One
secret checked against several dossiers (full_any) is one such transaction.
Driver errors and slow answers become LookupUnavailable; an invalid code
raises lookup.codes.InvalidCode.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kernel.db import Conn, Database, DatabaseError, Row, SqliteDatabase
from lookup.codes import (
    agency_spellings,
    code_query,
    compact_key,
    parse_keypad,
)
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

log = logging.getLogger(__name__)
T = TypeVar("T")

COMPONENT = "lookup"
STEPS = (
    """
    CREATE TABLE dossier (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL,
        code_key TEXT NOT NULL UNIQUE,       -- lookup.codes.compact_key
        code_agency TEXT NOT NULL,           -- the agency part of the code
        code_date TEXT NOT NULL,             -- YYMMDD part of the code
        seq_num INTEGER NOT NULL,            -- sequence part, as a number
        agency_id TEXT NOT NULL,
        agency_name TEXT NOT NULL DEFAULT '',
        procedure_code TEXT NOT NULL DEFAULT '',
        procedure_name TEXT NOT NULL DEFAULT '',
        status INTEGER NOT NULL CHECK (status BETWEEN 1 AND 10),
        status_at TEXT,
        received_on TEXT NOT NULL,
        due_on TEXT NOT NULL,
        rescheduled_on TEXT,
        ready_on TEXT,
        collection_place TEXT NOT NULL DEFAULT '',
        applicant_name TEXT NOT NULL DEFAULT '',
        applicant_phones TEXT NOT NULL DEFAULT '',   -- E.164, comma-separated
        applicant_id_number TEXT NOT NULL DEFAULT '',
        applicant_address TEXT NOT NULL DEFAULT '',
        secret TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL,
        change_seq INTEGER NOT NULL
    );
    CREATE INDEX dossier_keypad ON dossier (code_date, seq_num);
    CREATE UNIQUE INDEX dossier_change ON dossier (change_seq);
    -- One B-tree serves by_phone and the import's deletes. No cascade: dossiers
    -- are never deleted here (a purge must delete their phones first).
    CREATE TABLE dossier_phone (
        phone TEXT NOT NULL,
        dossier_id INTEGER NOT NULL REFERENCES dossier (id),
        PRIMARY KEY (phone, dossier_id)
    ) WITHOUT ROWID;
    CREATE TABLE procedure (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        documents TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
        fee TEXT NOT NULL DEFAULT '',
        processing_time TEXT NOT NULL DEFAULT '',
        common INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX procedure_common ON procedure (common) WHERE common;
    """,
    """
    -- Wrong second-factor secrets per dossier (lookup/lockout.py); times in epoch seconds.
    CREATE TABLE secret_failure (
        code_key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        first_at REAL NOT NULL,
        locked_until REAL NOT NULL DEFAULT 0
    );
    """,
    """
    -- Counted per dossier AND guesser (the SMS sender; '' for one shared count), so one
    -- stranger's guesses cannot lock out the owner. The old per-dossier counts are
    -- dropped: at worst a lock ends early.
    DROP TABLE secret_failure;
    CREATE TABLE secret_failure (
        code_key TEXT NOT NULL,
        guesser TEXT NOT NULL DEFAULT '',
        failures INTEGER NOT NULL,
        first_at REAL NOT NULL,
        locked_until REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (code_key, guesser)
    ) WITHOUT ROWID;
    """,
)

_UPSERT = (
    f"INSERT INTO dossier (id, {', '.join(COLUMNS)})"
    f" VALUES ({', '.join('?' * (len(COLUMNS) + 1))})"
    " ON CONFLICT (code_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "code_key")
    + " WHERE "
    + " OR ".join(f"dossier.{c} IS NOT excluded.{c}" for c in COMPARED)
)
_UPSERT_PROCEDURE = (
    "INSERT INTO procedure (code, name, documents, fee, processing_time, common)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET"
    " name = excluded.name, documents = excluded.documents, fee = excluded.fee,"
    " processing_time = excluded.processing_time, common = excluded.common"
)
_SELECT = "SELECT " + ", ".join(f"d.{c}" for c in COLUMNS) + " FROM dossier d"


class DossierStore:
    """The writer: schema, dossier and procedure upserts, on a kernel.db Database.

    Each batch is one write job (off the loop, one transaction); the next batch
    is prepared (parsed, normalised) on the event loop, in slices that yield,
    while the database thread writes the previous one.
    """

    def __init__(self, db: Database, *, owned: bool = False) -> None:
        self._db = db
        self._owned = owned

    @classmethod
    async def on(cls, db: Database) -> DossierStore:
        """On the process's Database (migrated here; closed by its owner)."""
        try:
            await db.migrate(COMPONENT, STEPS)
        except DatabaseError as exc:
            raise LookupUnavailable(f"cannot open the dossier database: {exc}") from exc
        return cls(db)

    @classmethod
    async def open(cls, path: Path | str) -> DossierStore:
        """On a Database of its own (CLI, tests): close() closes it."""
        path = Path(path)
        try:
            # The SQLite adapter: a SQLite file whatever else serves the stores.
            db = await SqliteDatabase.open_path(str(path))
        except (DatabaseError, OSError) as exc:
            raise LookupUnavailable(f"cannot open the dossier database {path}: {exc}") from exc
        try:
            await db.migrate(COMPONENT, STEPS)
        except DatabaseError as exc:
            await db.close()
            raise LookupUnavailable(f"cannot open the dossier database {path}: {exc}") from exc
        return cls(db, owned=True)

    async def close(self) -> None:
        if self._owned:
            await self._db.close()

    async def upsert_dossiers(self, dossiers: Iterable[Dossier], batch_size: int = 10_000) -> int:
        """Insert or update by code, one transaction per batch; return how many were given.

        Every dossier of a batch is validated (its code must parse) before the
        batch is written, so a bad one raises InvalidCode and no part of its
        batch is stored (earlier batches are). Unchanged dossiers keep their
        change_seq: a re-import of the same data is not a change. A batch of
        10,000 holds the write lock for about half a second (fewer, larger
        commits halve the commit cost of a bulk import; readers never wait in WAL).
        """
        total = 0
        writing: asyncio.Task[None] | None = None
        now_iso = datetime.now(UTC).isoformat()
        try:
            for batch in batches(dossiers, batch_size):
                rows: list[list[Any]] = []
                for start in range(0, len(batch), _PREPARE_SLICE):  # the loop keeps its turn
                    rows += [dossier_row(d, now_iso) for d in batch[start : start + _PREPARE_SLICE]]
                    await asyncio.sleep(0)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(
                    self._run(functools.partial(_write_dossiers, rows=rows))
                )
                await asyncio.sleep(0)  # let it reach its thread before we prepare more
                total += len(rows)
        finally:
            if writing is not None:
                await writing
        return total

    async def upsert_procedures(self, procedures: Iterable[Procedure]) -> int:
        rows = [
            (
                p.code,
                p.name,
                json.dumps(list(p.documents), ensure_ascii=False),
                p.fee,
                p.processing_time,
                int(p.common),
            )
            for p in procedures
        ]
        await self._run(lambda conn: conn.executemany(_UPSERT_PROCEDURE, rows))
        return len(rows)

    async def _run(self, write: Callable[[Conn], object]) -> None:
        try:
            await self._db.run(write)
        except DatabaseError as exc:
            raise LookupUnavailable(f"cannot store: {exc}") from exc


_PREPARE_SLICE = 1000  # dossiers made into rows between two yields to the event loop


def _write_dossiers(conn: Conn, *, rows: list[list[Any]]) -> None:
    """Upsert one batch and bring the phone index up to date for it.

    Inside the job's write transaction new dossiers get their ids and every
    row its change_seq here, so phones need no lookup by code, and only
    phones that changed are touched. (Measured: triggers doing the same cost
    twice as much on a bulk import.)
    """
    key_at, phones_at = COLUMNS.index("code_key"), COLUMNS.index("applicant_phones")
    known: dict[str, tuple[int, str]] = {}
    keys = list({row[key_at] for row in rows})
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for key, ident, phones in conn.fetchall(
            "SELECT code_key, id, applicant_phones FROM dossier"
            f" WHERE code_key IN ({', '.join('?' * len(chunk))})",
            chunk,
        ):
            known[key] = (ident, phones)
    stored = dict(known.values())  # id -> phones in the file before this batch
    # Two subqueries: SQLite answers a lone max() from the index, but two
    # max() in one SELECT scan the whole table.
    last = conn.fetchone(
        "SELECT coalesce((SELECT max(id) FROM dossier), 0),"
        " coalesce((SELECT max(change_seq) FROM dossier), 0)"
    )
    assert last is not None
    last_id, last_seq = int(last[0]), int(last[1])
    wanted: dict[int, str] = {}  # id -> phones after this batch
    params = []
    for offset, row in enumerate(rows, start=1):
        key = row[key_at]
        prior = known.get(key)
        if prior is None:
            last_id += 1
            ident = last_id
        else:
            ident = prior[0]
        known[key] = (ident, row[phones_at])
        wanted[ident] = row[phones_at]
        params.append((ident, *row, last_seq + offset))
    conn.executemany(_UPSERT, params)
    changed = [
        (i, _split(stored.get(i, "")), _split(p))
        for i, p in wanted.items()
        if p != stored.get(i, "")
    ]
    conn.executemany(
        "DELETE FROM dossier_phone WHERE phone = ? AND dossier_id = ?",
        [(p, i) for i, old, new in changed for p in old - new],
    )
    conn.executemany(
        "INSERT INTO dossier_phone (phone, dossier_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(p, i) for i, old, new in changed for p in new - old],
    )


def _split(phones: str) -> set[str]:
    return set(phones.split(",")) if phones else set()


class SqliteLookup:
    """DossierLookup on a SQLite file. Readers only; the schema must exist (DossierStore)."""

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
    ) -> SqliteLookup:
        """On the process's Database (migrated here; closed by its owner)."""
        await DossierStore.on(db)
        return cls(db, agencies or {}, collection_place, timeout_s, policy=policy, clock=clock)

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        agencies: Mapping[str, str] | None = None,
        collection_place: str = "",
        readers: int = 2,
        timeout_s: float = 5.0,
        policy: SecretPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.time,
        create: bool = True,
    ) -> SqliteLookup:
        """`agencies` (id -> name) limits keypad lookups and names rows that lack a name.

        With no agencies, keypad lookups search every agency. Opening migrates
        the schema (it takes the write lock): open one lookup per process and
        share it, never one per call or message. A Database of its own
        (kernel.db: a writer thread and `readers` reader threads).

        With create=False a missing file raises LookupUnavailable: a mistyped
        path must not become an empty database that answers "no such dossier"
        to every citizen. Readers should pass it; only writers (db init,
        import, demo data and the demo mode's seeding) should create the file.
        The default still creates, because callers outside lookup/ rely on it.
        An existing file without dossiers opens, with a warning.
        """
        path = Path(path)
        existed = path.exists()
        if not create and not existed:
            raise LookupUnavailable(
                f"the dossier database {path} does not exist: run `tracuu db init`, "
                "`tracuu import` or `tracuu demo-data` to create it"
            )
        try:
            db = await SqliteDatabase.open_path(str(path), readers=readers)
        except (DatabaseError, OSError) as exc:
            raise LookupUnavailable(f"cannot open the dossier database {path}: {exc}") from exc
        try:
            await DossierStore.on(db)  # creates or upgrades the schema
            row = await db.fetchone("SELECT EXISTS (SELECT 1 FROM dossier)")
        except (DatabaseError, LookupUnavailable) as exc:
            await db.close()
            raise LookupUnavailable(f"cannot open the dossier database {path}: {exc}") from exc
        if existed and (row is None or not row[0]):
            log.warning(
                "the dossier database %s holds no dossiers: every lookup will answer "
                "'not found' until `tracuu import` or `tracuu demo-data` fills it",
                path,
            )
        return cls(
            db, agencies or {}, collection_place, timeout_s,
            policy=policy, clock=clock, owned=True,
        )  # fmt: skip

    async def close(self) -> None:
        if self._owned:
            await self._db.close()

    async def by_code(self, code: str) -> PublicView | None:
        dossier = await self._find(code)
        return None if dossier is None else dossier.public()

    async def by_keypad_digits(self, digits: str, *, any_agency: bool = False) -> list[PublicView]:
        keyed = parse_keypad(digits)
        sql = f"{_SELECT} WHERE d.code_date = ? AND d.seq_num = ?"
        params: list[Any] = [keyed.yymmdd, keyed.sequence_number]
        if self._agencies and not any_agency:
            sql += f" AND d.code_agency IN ({', '.join('?' * len(self._agencies))})"
            params += list(self._agencies)
        dossiers = await self._dossiers(sql + " ORDER BY d.code_agency", params)
        return [dossier.public() for dossier in dossiers]

    async def by_phone(self, phone: str) -> list[PublicView]:
        e164 = normalise_phone(phone)
        if e164 is None:
            return []
        dossiers = await self._dossiers(
            f"{_SELECT} JOIN dossier_phone p ON p.dossier_id = d.id WHERE p.phone = ?"
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
        try:
            return await self._db.run(
                functools.partial(
                    _count_shared_secret, checks=checks, now=now, policy=self._policy,
                    guesser=guesser,
                )
            )  # fmt: skip
        except DatabaseError as exc:
            raise LookupUnavailable(f"dossier database error: {exc}") from exc

    async def secret_locked(self, code: str, *, guesser: str = "") -> bool:
        dossier = await self._find(code)
        if dossier is None:
            return False
        rows = await self._fetch(
            "SELECT failures, first_at, locked_until FROM secret_failure"
            " WHERE code_key = ? AND guesser = ?",
            [compact_key(dossier.code), guesser],
        )
        return bool(rows) and is_locked(Failures(*rows[0]), self._clock())

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        after = _cursor(cursor)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        agencies, place = self._agencies, self._collection_place

        def page(conn: Conn) -> Changes:  # rows become Dossiers on the reader thread
            rows = conn.fetchall(
                f"{_SELECT} WHERE d.change_seq > ? ORDER BY d.change_seq LIMIT ?",
                (after, limit + 1),
            )
            kept = rows[:limit]
            last = int(kept[-1]["change_seq"]) if kept else after
            return Changes(
                tuple(dossier_from_row(row, agencies, place) for row in kept),
                cursor=str(last),
                more=len(rows) > limit,
            )

        return await self._read(page)

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
            found = await self._dossiers(f"{_SELECT} WHERE d.code_key = ?", [query])
        else:  # the sequence as a number: "-1", "-0001" and "-00001" are one dossier
            spellings = agency_spellings(query.agency)
            found = await self._dossiers(
                f"{_SELECT} WHERE d.code_date = ? AND d.seq_num = ?"
                f" AND d.code_agency IN ({', '.join('?' * len(spellings))})"
                " ORDER BY d.code = ? DESC, d.code_agency = ? DESC, d.id LIMIT 1",
                [query.yymmdd, query.sequence_number, *spellings, query.text, query.agency],
            )
        return found[0] if found else None

    async def _dossiers(self, sql: str, params: Sequence[Any]) -> list[Dossier]:
        """The rows of `sql` as Dossiers, mapped on the reader thread: the loop gets them done."""
        agencies, place = self._agencies, self._collection_place

        def job(conn: Conn) -> list[Dossier]:
            return [dossier_from_row(row, agencies, place) for row in conn.fetchall(sql, params)]

        return await self._read(job)

    async def _read(self, job: Callable[[Conn], T]) -> T:
        """`job(conn)` on a reader thread, with the lookup's time limit and errors."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._db.read(job)
        except DatabaseError as exc:
            raise LookupUnavailable(f"dossier database error: {exc}") from exc
        except TimeoutError as exc:
            raise LookupUnavailable(f"dossier database slower than {self._timeout_s} s") from exc

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._db.fetchall(sql, params)  # one trip to a reader thread
        except DatabaseError as exc:
            raise LookupUnavailable(f"dossier database error: {exc}") from exc
        except TimeoutError as exc:
            raise LookupUnavailable(f"dossier database slower than {self._timeout_s} s") from exc


@asynccontextmanager
async def open_sqlite(
    path: Path | str,
    agencies: Mapping[str, str] | None = None,
    collection_place: str = "",
    *,
    create: bool = True,
) -> AsyncIterator[SqliteLookup]:
    lookup = await SqliteLookup.open(
        path, agencies=agencies, collection_place=collection_place, create=create
    )
    try:
        yield lookup
    finally:
        await lookup.close()


def _count_shared_secret(
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
    processes too) are all counted.
    """
    prior: dict[str, Failures | None] = {}
    for key in checks:
        row = conn.fetchone(
            "SELECT failures, first_at, locked_until FROM secret_failure"
            " WHERE code_key = ? AND guesser = ?",
            (key, guesser),
        )
        prior[key] = Failures(*row) if row else None
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
