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

The queries (SqliteLookup) are lookup/queries.py's, shared with PostgreSQL;
this module owns the SQLite schema (WITHOUT ROWID tables), the writer and how
a lookup of its own opens a file.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kernel.db import Conn, Database, DatabaseError, SqliteDatabase
from lookup.lockout import DEFAULT_POLICY, SecretPolicy
from lookup.model import Dossier, Procedure
from lookup.port import LookupUnavailable
from lookup.queries import COMPONENT, DatabaseLookup
from lookup.rows import COLUMNS, COMPARED, batches, dossier_row
from lookup.schema import STEPS

log = logging.getLogger(__name__)

__all__ = ["COMPONENT", "STEPS", "DossierStore", "SqliteLookup", "open_sqlite"]

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


class SqliteLookup(DatabaseLookup):
    """DossierLookup on a SQLite file (the queries: lookup/queries.py). Readers only;
    the schema must exist (DossierStore)."""

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
    async def on_file(
        cls,
        db: Database,
        path: Path,
        *,
        agencies: Mapping[str, str] | None = None,
        collection_place: str = "",
        timeout_s: float = 5.0,
        policy: SecretPolicy = DEFAULT_POLICY,
        create: bool = True,
    ) -> SqliteLookup:
        """On the process's Database, opened on the dossier file `path` (lookup/factory.py):
        open()'s checks (a missing file, a file without dossiers), closed by its owner."""
        existed = require_file(path, create)
        await check_dossiers(db, path, existed)
        return cls(db, agencies or {}, collection_place, timeout_s, policy=policy)

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
        (kernel.db: a writer thread and `readers` reader threads); the gateway
        shares its own instead (lookup/factory.py).

        With create=False a missing file raises LookupUnavailable: a mistyped
        path must not become an empty database that answers "no such dossier"
        to every citizen. Readers should pass it; only writers (db init,
        import, demo data and the demo mode's seeding) should create the file.
        The default still creates, because callers outside lookup/ rely on it.
        An existing file without dossiers opens, with a warning.
        """
        path = Path(path)
        existed = require_file(path, create)
        try:
            db = await SqliteDatabase.open_path(str(path), readers=readers)
        except (DatabaseError, OSError) as exc:
            raise LookupUnavailable(f"cannot open the dossier database {path}: {exc}") from exc
        try:
            await check_dossiers(db, path, existed)
        except LookupUnavailable:
            await db.close()
            raise
        return cls(
            db, agencies or {}, collection_place, timeout_s,
            policy=policy, clock=clock, owned=True,
        )  # fmt: skip


def require_file(path: Path, create: bool) -> bool:
    """Whether the dossier file exists; LookupUnavailable if not and create=False."""
    existed = path.exists()
    if not create and not existed:
        raise LookupUnavailable(
            f"the dossier database {path} does not exist: run `tracuu db init`, "
            "`tracuu import` or `tracuu demo-data` to create it"
        )
    return existed


async def check_dossiers(db: Database, path: Path, existed: bool) -> None:
    """Create or upgrade the schema; warn when an existing file holds no dossiers."""
    try:
        await DossierStore.on(db)  # creates or upgrades the schema
        row = await db.fetchone("SELECT EXISTS (SELECT 1 FROM dossier)")
    except (DatabaseError, LookupUnavailable) as exc:
        raise LookupUnavailable(f"cannot open the dossier database {path}: {exc}") from exc
    if existed and (row is None or not row[0]):
        log.warning(
            "the dossier database %s holds no dossiers: every lookup will answer "
            "'not found' until `tracuu import` or `tracuu demo-data` fills it",
            path,
        )


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
