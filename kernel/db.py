"""The one way every store reaches the database, never blocking the event loop.

    db = await Database.open(settings.database)      # once per process, by the composition root
    await db.migrate("sms", STEPS)                    # the component's schema steps
    row = await db.fetchone("SELECT state FROM sms_message WHERE id = ?", (7,))
    await db.execute("UPDATE sms_message SET state = ? WHERE id = ?", ("failed", 7))
    async with db.transaction() as tx:                # one BEGIN IMMEDIATE ... COMMIT
        await tx.execute(...)
        (n,) = await tx.fetchone(...)
    sent = await db.run(job)                          # job(conn) in ONE transaction, off the loop
    await db.close()

SQL is portable: `?` placeholders (numbered() rewrites them to `$1, $2, ...` for
a PostgreSQL adapter), `INSERT ... ON CONFLICT`, `RETURNING` instead of
lastrowid, no SQLite-only syntax outside the SQLite adapter. Rows answer to
index, column name and unpacking (sqlite3.Row here; asyncpg's Record behaves
alike). Errors are DatabaseError / IntegrityError, whatever the driver.

SQLite adapter. One writer thread owns the only writable connection and runs
every write, transaction and job in arrival order; reader threads (2 by
default, WAL mode) own query_only connections and answer plain reads, so a
lookup never queues behind an import batch. Every sqlite3 object (connection,
cursor, cached statement) is created, used and destroyed in its own thread;
only plain Python values cross to the loop. That rules out by construction the
`InterfaceError: bad parameter or other API misuse` seen with aiosqlite: its
executemany() hands the sqlite3.Cursor back to the loop thread, and when that
cursor is freed there it resets the shared cached statement while the
aiosqlite thread is running the next executemany() of the same SQL (CPython's
unlocked `in_use` flag of the statement cache then skips a reset, and the next
bind fails). Busy waits (another process holding the write lock) happen in
the writer thread, never on the loop. Jobs given to run()/read() must not
touch the event loop; long ones should work in slices (see sms/reminder_job.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import itertools
import logging
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from kernel.dsn import DatabaseUrl
from kernel.migrate import statements

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Sequence[Any]
# Where a store lives: a SQLite path or URL, or a postgresql:// URL (kernel.dsn).
Location = str | Path | DatabaseUrl


class Variants(NamedTuple):
    """A migration step written twice, where SQLite's and PostgreSQL's SQL differ."""

    sqlite: str
    postgresql: str


Step = str | Variants

BUSY_TIMEOUT_MS = 5000
READERS = 2
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_PREFIXES = ("sqlite:///", "sqlite://", "sqlite:")


class Row(Protocol):
    """A result row: by index, by column name, and unpacked."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[str]: ...


class DatabaseError(Exception):
    """The database refused or failed (whatever the driver)."""


class IntegrityError(DatabaseError):
    """A constraint refused the write (unique key, foreign key, check)."""


# What a store may raise, whatever the backend (a SQLite BlockingConnection lets
# sqlite3's own errors through).
DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, DatabaseError)


def backend_of(conn: object) -> str:
    """'sqlite' or 'postgresql': for the few statements that must differ (a claim's
    FOR UPDATE SKIP LOCKED), chosen where they are written."""
    return str(getattr(conn, "backend", "sqlite"))


class Conn(Protocol):
    """What a job given to Database.run()/read() works with, synchronously, in the
    database's own thread (inside one transaction for run())."""

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...
    def fetchval(self, sql: str, params: Params = ()) -> Any: ...
    def execute(self, sql: str, params: Params = ()) -> int: ...
    def executemany(self, sql: str, rows: Iterable[Params]) -> int: ...
    def begin(self) -> None:
        """Take the write lock now, unless a transaction is open (in a job: always)."""


class Transaction(Protocol):
    """The statements of one `async with db.transaction() as tx:` block."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...
    async def fetchval(self, sql: str, params: Params = ()) -> Any: ...
    async def execute(self, sql: str, params: Params = ()) -> int: ...
    async def executemany(self, sql: str, rows: Iterable[Params]) -> int: ...


class Database:
    """A database, for every store of one process. Open with Database.open(url)."""

    backend: str = ""

    @staticmethod
    async def open(url: object, *, readers: int = READERS) -> Database:
        """`url`: a SQLite path (or sqlite:///path, ':memory:') or a postgresql:// URL
        (a str, a Path, or kernel.dsn.DatabaseUrl)."""
        text = _secret(url)
        if text.startswith(POSTGRES_SCHEMES):
            from kernel.db_postgres import PostgresDatabase

            return await PostgresDatabase.open_url(text)
        return await SqliteDatabase.open_path(sqlite_path(text), readers=readers)

    async def close(self) -> None:
        raise NotImplementedError

    @property
    def location(self) -> str:
        """Where this database is (a SQLite path, a postgresql:// URL), for a worker
        process of the same gateway to open its own connection to (sms/link_process.py)."""
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        raise NotImplementedError

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        raise NotImplementedError

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One statement as its own transaction; returns the rows it changed."""
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """One statement for many rows, all in one transaction; returns rows changed."""
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """`async with db.transaction() as tx:` one BEGIN IMMEDIATE ... COMMIT (ROLLBACK
        on an exception). The writer is this block's until it ends: keep it short, and
        never await another write of this database inside it (RuntimeError)."""
        raise NotImplementedError

    async def run(self, job: Callable[[Conn], T]) -> T:
        """`job(conn)` in one write transaction, off the loop; its result is returned."""
        raise NotImplementedError

    async def read(self, job: Callable[[Conn], T]) -> T:
        """`job(conn)` on one consistent snapshot, reads only, off the loop."""
        raise NotImplementedError

    def run_blocking(self, job: Callable[[Conn], T]) -> T:
        """run() for a thread that is not the event loop's (e.g. the SMPP socket thread)."""
        raise NotImplementedError

    async def migrate(self, component: str, steps: Sequence[Step]) -> int:
        """Apply the component's pending schema steps; return its version afterwards.

        Steps are append-only scripts (never edit a released one, add a new one).
        The pending ones run with the version bump in one write transaction, so a
        crash or a second process never applies a step twice or half. A step that
        cannot be written portably is a Variants(sqlite=..., postgresql=...).
        """
        return await self.run(lambda conn: migrate_steps(conn, component, steps))

    def try_lock(self, key: int) -> AbstractAsyncContextManager[bool]:
        """`async with db.try_lock(KEY) as mine:` whether this process may do the work
        only one may do at a time across gateway instances (a reminder scan). SQLite
        serves one machine, whose processes share its write lock: always True.
        PostgreSQL: a session-level advisory lock, free again when its holder dies."""
        return _always_yours()


@asynccontextmanager
async def _always_yours() -> AsyncIterator[bool]:
    yield True


class SqliteDatabase(Database):
    """The SQLite adapter: one writer thread, reader threads, WAL."""

    backend = "sqlite"

    def __init__(self, path: str, writer: _Worker, readers: list[_Worker]) -> None:
        self.path = path
        self._writer = writer
        self._readers = readers
        self._read_jobs = readers[0].jobs if readers else writer.jobs
        # The task that holds this database's transaction (see transaction()).
        self._holder: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
            f"tracuu_db_tx_{id(self)}", default=None
        )
        self._closed = False

    @classmethod
    async def open_path(cls, path: str, *, readers: int = READERS) -> SqliteDatabase:
        memory = path == ":memory:" or path.startswith("file::memory:")
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = _Worker(f"db-writer {path}", queue.SimpleQueue(), lambda: _connect(path, False))
        workers = [writer]
        try:
            writer.start()
            await writer.ready()
            shared: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
            reader_list: list[_Worker] = []
            # One connection cannot be shared with an in-memory database: reads go to
            # the writer then.
            for n in range(0 if memory else readers):
                reader = _Worker(f"db-reader{n} {path}", shared, lambda: _connect(path, True))
                workers.append(reader)
                reader_list.append(reader)
                reader.start()
                await reader.ready()
        except BaseException:
            for worker in workers:
                worker.stop()
            raise
        return cls(path, writer, reader_list)

    @property
    def location(self) -> str:
        return self.path

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        stopped = [asyncio.wrap_future(w.stop()) for w in (*self._readers, self._writer)]
        await asyncio.gather(*stopped)

    # ---- plain statements

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        args = tuple(params)
        if _reads_only(sql):
            return await self._read(lambda c: c.fetchone(sql, args))
        return await self._write(lambda c: c.fetchone(sql, args))  # INSERT ... RETURNING

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        args = tuple(params)
        if _reads_only(sql):
            return await self._read(lambda c: c.fetchall(sql, args))
        return await self._write(lambda c: c.fetchall(sql, args))

    async def execute(self, sql: str, params: Params = ()) -> int:
        args = tuple(params)
        return await self._write(lambda c: c.execute(sql, args))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        # Materialised here: nothing lazy (a generator over loop state) runs in the thread.
        listed = [tuple(r) for r in rows]
        if not listed:
            return 0
        return await self._write(lambda c: _in_transaction(c, lambda: c.executemany(sql, listed)))

    # ---- transactions and jobs

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        self._not_holding()
        session = _Session()
        self._writer.submit(session.serve)
        holder = self._holder.set(asyncio.current_task())
        tx = _AsyncTx(session)
        try:
            await tx.call(lambda c: c.execute("BEGIN IMMEDIATE"))
        except BaseException:
            self._holder.reset(holder)
            session.end(None)
            raise
        try:
            yield tx
        except BaseException:
            self._holder.reset(holder)
            done = session.end(False)
            # Cancelled or failed: the rollback runs in the thread whatever happens here.
            await asyncio.shield(asyncio.wrap_future(done))
            raise
        self._holder.reset(holder)
        await asyncio.wrap_future(session.end(True))

    async def run(self, job: Callable[[Conn], T]) -> T:
        return await self._write(lambda c: _in_transaction(c, lambda: job(c)))

    async def read(self, job: Callable[[Conn], T]) -> T:
        return await self._read(lambda c: _in_snapshot(c, lambda: job(c)))

    def run_blocking(self, job: Callable[[Conn], T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("run_blocking() on the event loop would block it: await run()")
        if self._closed:  # a worker thread outliving its gateway: fail, never wait forever
            raise DatabaseError("the database is closed")
        future = self._writer.submit(lambda c: _in_transaction(c, lambda: job(c)))
        result: T = future.result()
        return result

    # ---- plumbing

    async def _write(self, job: Callable[[_SyncConn], T]) -> T:
        self._not_holding()
        return await self._submit(self._writer.jobs, job)

    async def _read(self, job: Callable[[_SyncConn], T]) -> T:
        if self._holder.get() is asyncio.current_task() and not self._readers:
            raise RuntimeError("a read outside the open transaction would wait for it")
        return await self._submit(self._read_jobs, job)

    async def _submit(
        self, jobs: queue.SimpleQueue[_Job | None], job: Callable[[_SyncConn], T]
    ) -> T:
        if self._closed:
            raise DatabaseError("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        jobs.put((job, _AsyncReply(loop, future)))
        return await future

    def _not_holding(self) -> None:
        if self._holder.get() is asyncio.current_task():
            raise RuntimeError(
                "this task holds a transaction of the database: use its tx, not the database"
            )


# ---------------------------------------------------------------- threads


class _Reply(Protocol):
    def deliver(self, result: Any, error: BaseException | None) -> None: ...


_Job = tuple[Callable[["_SyncConn"], Any], _Reply]


class _AsyncReply:
    __slots__ = ("_future", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        self._loop, self._future = loop, future

    def deliver(self, result: Any, error: BaseException | None) -> None:
        # RuntimeError: the loop is closed, nobody waits any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_settle, self._future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled; the work was done anyway
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _ThreadReply:
    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def deliver(self, result: Any, error: BaseException | None) -> None:
        _resolve(self.future, result, error)


def _resolve(
    future: concurrent.futures.Future[Any], result: Any, error: BaseException | None
) -> None:
    """Settle a thread-side future unless whoever waited gave up (cancelled it)."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class _Worker:
    """A thread that owns one connection and runs jobs from its queue, one at a time."""

    _ids = itertools.count()

    def __init__(
        self,
        name: str,
        jobs: queue.SimpleQueue[_Job | None],
        connect: Callable[[], sqlite3.Connection],
    ) -> None:
        self.jobs = jobs
        self._connect = connect
        self._started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def ready(self) -> None:
        await asyncio.wrap_future(self._started)

    def submit(self, job: Callable[[_SyncConn], Any]) -> concurrent.futures.Future[Any]:
        reply = _ThreadReply()
        self.jobs.put((job, reply))
        return reply.future

    def stop(self) -> concurrent.futures.Future[None]:
        """Ends the thread after the jobs already queued (a shared queue: any one reader).

        One None per started worker, alive or not: readers share the queue, so a
        sibling's None may end this one's thread before its own stop(), and checking
        is_alive() here then put no None for the sibling, which waited forever (a
        close() that never returned: CI runs that stalled inside an async test)."""
        if self._thread.ident is not None:
            self.jobs.put(None)
        else:
            _resolve(self._stopped, None, None)
        return self._stopped

    def _main(self) -> None:
        try:
            raw = self._connect()
        except sqlite3.Error as exc:
            _resolve(self._started, None, DatabaseError(f"cannot open the database: {exc}"))
            _resolve(self._stopped, None, None)
            return
        except BaseException as exc:
            _resolve(self._started, None, exc)
            _resolve(self._stopped, None, None)
            return
        _resolve(self._started, None, None)
        conn = _SyncConn(raw)
        try:
            while True:
                item = self.jobs.get()
                if item is None:
                    break
                job, reply = item
                try:
                    result = job(conn)
                except BaseException as exc:  # delivered to whoever waits, never lost
                    reply.deliver(None, _translate(exc))
                else:
                    reply.deliver(result, None)
        finally:
            raw.close()
            # Jobs queued behind the stop (a worker thread's run_blocking racing close())
            # are answered, so their threads end instead of waiting for good.
            stops = 0  # another reader's stop, on a shared queue: put back for it
            while True:
                try:
                    left = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if left is None:
                    stops += 1
                else:
                    left[1].deliver(None, DatabaseError("the database is closed"))
            for _ in range(stops):
                self.jobs.put(None)
            _resolve(self._stopped, None, None)


class _Session:
    """One transaction in the writer thread: it serves this block's statements only,
    so no other write can slip into it, and nothing waits on the event loop."""

    _COMMIT = object()
    _ROLLBACK = object()

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[tuple[Any, _Reply]] = queue.SimpleQueue()

    def serve(self, conn: _SyncConn) -> None:
        while True:
            job, reply = self.inbox.get()
            if job is self._COMMIT or job is self._ROLLBACK:
                end = "COMMIT" if job is self._COMMIT else "ROLLBACK"
                try:
                    if conn.raw.in_transaction:
                        if end == "COMMIT":
                            try:
                                conn.raw.execute("COMMIT")
                            except BaseException:
                                conn.raw.execute("ROLLBACK")
                                raise
                        else:
                            conn.raw.execute("ROLLBACK")
                except BaseException as exc:
                    reply.deliver(None, _translate(exc))
                else:
                    reply.deliver(None, None)
                return
            try:
                result = job(conn)
            except BaseException as exc:
                reply.deliver(None, _translate(exc))
            else:
                reply.deliver(result, None)

    def end(self, commit: bool | None) -> concurrent.futures.Future[Any]:
        reply = _ThreadReply()
        self.inbox.put((self._COMMIT if commit else self._ROLLBACK, reply))
        return reply.future


class _AsyncTx:
    def __init__(self, session: _Session) -> None:
        self._session = session

    async def call(self, job: Callable[[_SyncConn], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._session.inbox.put((job, _AsyncReply(loop, future)))
        return await future

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        args = tuple(params)
        return await self.call(lambda c: c.fetchone(sql, args))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        args = tuple(params)
        return await self.call(lambda c: c.fetchall(sql, args))

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        args = tuple(params)
        return await self.call(lambda c: c.fetchval(sql, args))

    async def execute(self, sql: str, params: Params = ()) -> int:
        args = tuple(params)
        return await self.call(lambda c: c.execute(sql, args))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        listed = [tuple(r) for r in rows]
        return await self.call(lambda c: c.executemany(sql, listed)) if listed else 0


class _SyncConn:
    """Conn on a sqlite3 connection, used only in its own thread. Cursors are closed
    before a method returns: no cursor or statement outlives the call."""

    __slots__ = ("raw",)
    backend = "sqlite"

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cursor = self.raw.execute(sql, params)
        try:
            row: Row | None = cursor.fetchone()
            return row
        finally:
            cursor.close()

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = self.raw.execute(sql, params)
        try:
            rows: list[Row] = cursor.fetchall()
            return rows
        finally:
            cursor.close()

    def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    def execute(self, sql: str, params: Params = ()) -> int:
        cursor = self.raw.execute(sql, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        cursor = self.raw.executemany(sql, rows)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def begin(self) -> None:
        if not self.raw.in_transaction:
            self.raw.execute("BEGIN IMMEDIATE")


class BlockingConnection:
    """Conn on a connection of its own, for a thread that is NOT the event loop's and
    groups its writes itself (the SMPP link thread: one commit per batch of PDUs).
    Statements start a transaction implicitly; commit() ends it. Never on the loop:
    there, use Database."""

    __slots__ = ()

    @staticmethod
    def open(url: object) -> BlockingConnection:
        text = _secret(url)
        if text.startswith(POSTGRES_SCHEMES):
            from kernel.db_postgres import PostgresBlockingConnection

            return PostgresBlockingConnection.connect(text)
        return SqliteBlockingConnection.open_path(sqlite_path(text))

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        raise NotImplementedError

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        raise NotImplementedError

    def fetchval(self, sql: str, params: Params = ()) -> Any:
        raise NotImplementedError

    def execute(self, sql: str, params: Params = ()) -> int:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        raise NotImplementedError

    def begin(self) -> None:
        raise NotImplementedError

    @property
    def in_transaction(self) -> bool:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteBlockingConnection(_SyncConn, BlockingConnection):
    """BlockingConnection on a SQLite file."""

    __slots__ = ()

    @classmethod
    def open_path(cls, path: str) -> SqliteBlockingConnection:
        raw = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        raw.row_factory = sqlite3.Row
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = NORMAL")
        raw.execute("PRAGMA foreign_keys = ON")
        return cls(raw)

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()


class ChangeWatch(Protocol):
    """Has anyone written since the last look? For a thread that is not the event loop's
    and sleeps until there is work (the SMPP link, when its outbox is empty)."""

    def changed(self) -> bool:
        """True if another connection may have committed since the last call (false
        alarms are fine: the caller then looks at its tables)."""

    def close(self) -> None: ...


def change_watch(url: object, channel: str) -> ChangeWatch:
    """The watch for where `url` is. SQLite: `PRAGMA data_version` on a connection of
    its own, which changes whenever another connection commits
    (https://sqlite.org/pragma.html#pragma_data_version); no table is read, so an idle
    thread may ask twice a second. PostgreSQL: LISTEN on `channel`, which the writers'
    triggers NOTIFY (kernel/db_postgres.py Listener)."""
    text = _secret(url)
    if text.startswith(POSTGRES_SCHEMES):
        from kernel.db_postgres import Listener

        return Listener(text, channel)
    return SqliteChangeWatch(SqliteBlockingConnection.open_path(sqlite_path(text)))


class SqliteChangeWatch:
    """PRAGMA data_version on a BlockingConnection that never writes. The PRAGMA opens
    no transaction (the connection's implicit ones begin at a write), so it holds no
    snapshot between looks."""

    def __init__(self, conn: SqliteBlockingConnection) -> None:
        self._conn = conn
        self._version = self._read()

    def _read(self) -> int:
        return int(self._conn.fetchval("PRAGMA data_version"))

    def changed(self) -> bool:
        try:
            version = self._read()
        except DB_ERRORS:
            return True  # cannot tell: look (the caller's own reads report the error)
        if version == self._version:
            return False
        self._version = version
        return True

    def close(self) -> None:
        self._conn.close()


def _connect(path: str, reader: bool) -> sqlite3.Connection:
    # isolation_level=None: autocommit; transactions are explicit BEGIN IMMEDIATE.
    # check_same_thread stays on: a connection used outside its thread is a bug.
    uri = path.startswith("file:")
    conn = sqlite3.connect(path, isolation_level=None, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if reader:
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable at checkpoints, safe on crash
        conn.execute("PRAGMA cache_size = -65536")  # 64 MB keeps a big import's pages hot
    return conn


def _in_transaction(conn: _SyncConn, work: Callable[[], T]) -> T:
    if conn.raw.in_transaction:  # inside a session already (never expected): no nesting
        raise RuntimeError("a job inside an open transaction")
    conn.raw.execute("BEGIN IMMEDIATE")
    try:
        result = work()
    except BaseException:
        conn.raw.execute("ROLLBACK")
        raise
    conn.raw.execute("COMMIT")
    return result


def _in_snapshot(conn: _SyncConn, work: Callable[[], T]) -> T:
    conn.raw.execute("BEGIN")
    try:
        return work()
    finally:
        conn.raw.execute("COMMIT")


def _reads_only(sql: str) -> bool:
    """A plain SELECT, answered by a reader; anything else (RETURNING) by the writer."""
    head = sql.lstrip(" \t\r\n(")[:6].upper()
    return head == "SELECT"


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.IntegrityError):
        error: BaseException = IntegrityError(str(exc))
    elif isinstance(exc, sqlite3.Error):
        error = DatabaseError(str(exc))
    else:
        return exc
    error.__cause__ = exc
    return error


# ---------------------------------------------------------------- migrations and helpers

_CREATE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)


def migrate_steps(
    conn: Conn, component: str, steps: Sequence[Step], *, backend: str = "sqlite"
) -> int:
    """The pending steps of one component, inside the caller's write transaction."""
    conn.execute(_CREATE)
    found = conn.fetchval("SELECT version FROM schema_version WHERE component = ?", (component,))
    version = 0 if found is None else int(found)
    if version > len(steps):
        raise RuntimeError(
            f"{component} schema is version {version}, newer than this code "
            f"({len(steps)}): refusing to run against it"
        )
    for step in steps[version:]:
        script = _for_backend(step, backend)
        if backend != "sqlite":
            # One script as it is: PostgreSQL takes several statements at once, and a
            # function body's own ';' must not be split on.
            if script.strip():
                conn.execute(script)
            continue
        for statement in statements(script):
            conn.execute(statement)
    if version < len(steps):
        conn.execute(
            "INSERT INTO schema_version (component, version) VALUES (?, ?)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            (component, len(steps)),
        )
    return len(steps)


async def open_migrated(
    url: object, *components: tuple[str, Sequence[Step]], readers: int = READERS
) -> Database:
    """A Database of its own with the components' schemas brought up to date, closed
    again if a migration fails (a store opened by the command line or a test).

        db = await open_migrated(path, (COMPONENT, STEPS))
    """
    db = await Database.open(url, readers=readers)
    try:
        for component, steps in components:
            await db.migrate(component, steps)
    except BaseException:
        await db.close()
        raise
    return db


def _for_backend(step: Step, backend: str) -> str:
    if backend == "sqlite":
        return step.sqlite if isinstance(step, Variants) else step
    if isinstance(step, Variants):
        return step.postgresql
    from kernel.db_postgres import postgres_ddl

    return postgres_ddl(step)


def table_names(conn: Conn) -> set[str]:
    """The tables of the database (of the current schema on PostgreSQL)."""
    if backend_of(conn) == "postgresql":
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {str(row[0]) for row in conn.fetchall(sql)}


def numbered(sql: str) -> str:
    """`?` placeholders as `$1, $2, ...` (PostgreSQL), leaving quoted text alone."""
    out: list[str] = []
    n = 0
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(char)
    return "".join(out)


def sqlite_path(url: str) -> str:
    """The file of a SQLite URL or path ('sqlite:///var/x.db' -> 'var/x.db')."""
    for prefix in SQLITE_PREFIXES:
        if url.startswith(prefix):
            return url.removeprefix(prefix)
    return url


def is_postgres(url: object) -> bool:
    return _secret(url).startswith(POSTGRES_SCHEMES)


def _secret(url: object) -> str:
    reveal = getattr(url, "get_secret_value", None)
    return str(reveal() if callable(reveal) else url)
