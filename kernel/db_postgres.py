"""kernel.db's Database on PostgreSQL (asyncpg): TRACUU_DATABASE=postgresql://...

Same API, same SQL (`?` placeholders rewritten by numbered()), same migrations.

asyncpg runs on one private event loop in a thread of its own (one per process,
shared by every PostgreSQL Database and BlockingConnection): the caller's loop
only awaits futures, and the synchronous jobs given to run()/read()/
run_blocking() (the Conn API) work from a small thread pool, each statement a
round trip to that loop. Nothing of asyncpg ever touches the caller's loop, so
a Database opened on one loop serves another (tests, the SMPP thread) alike.

One process writes as SQLite does, one write at a time (an asyncio.Lock on the
private loop): the stores were written against a single writer, and this keeps
their read-then-write steps correct inside a process. Across processes (several
gateway instances) the stores say what they need themselves: rows claimed with
FOR UPDATE SKIP LOCKED, advisory locks (kernel.db.Database.try_lock()).

Migrations: a step may be given as Variants(sqlite=..., postgresql=...); a plain
step runs as written after the column types that differ are mapped
(`INTEGER PRIMARY KEY` -> an identity column, INTEGER -> BIGINT as SQLite's are
64-bit, REAL -> DOUBLE PRECISION as SQLite's are 8 bytes, BLOB -> BYTEA).
Steps run under a transaction-level advisory lock: two instances starting
together never apply one twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from kernel.db import (
    BlockingConnection,
    Conn,
    Database,
    DatabaseError,
    IntegrityError,
    Params,
    Row,
    Step,
    migrate_steps,
    numbered,
)

T = TypeVar("T")

POOL_SIZE = 8
JOB_THREADS = 4
MIGRATION_LOCK = 0x7472_6163_7575  # 'tracuu': one migration at a time across instances


# ---------------------------------------------------------------- the private loop

_loop_lock = threading.Lock()
_loops: list[asyncio.AbstractEventLoop] = []  # the one private loop, once started


def _private_loop() -> asyncio.AbstractEventLoop:
    with _loop_lock:
        if not _loops:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="db-postgres", daemon=True)
            thread.start()
            _loops.append(loop)
        return _loops[0]


def _on_private(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    return asyncio.run_coroutine_threadsafe(_translated(coro), _private_loop())


async def _translated(coro: Awaitable[T]) -> T:
    try:
        return await coro
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(str(exc)) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise DatabaseError(str(exc)) from exc
    except asyncpg.InternalClientError as exc:
        # A connection the server ended in the middle of an operation ("another
        # operation is in progress"): an outage like the others, not a fault that
        # stops the gateway (seen in the PostgreSQL-restart fault test).
        raise DatabaseError(str(exc)) from exc


def _blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Wait for a coroutine on the private loop, from any thread but that loop's. (A
    BlockingConnection used on an application loop blocks it, as SQLite's does.)"""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None and running is _private_loop():
        coro.close()
        raise RuntimeError("a blocking PostgreSQL call on its own loop would never return")
    return _on_private(coro).result()


async def _from_loop(coro: Coroutine[Any, Any, T]) -> T:
    return await asyncio.wrap_future(_on_private(coro))


async def _init_connection(conn: asyncpg.Connection) -> None:
    # SQLite answers sum()/avg() with numbers Python adds to floats; PostgreSQL's numeric
    # would come back as Decimal: read it as float, as the stores expect.
    await conn.set_type_codec(
        "numeric", encoder=str, decoder=float, schema="pg_catalog", format="text"
    )


def _rowcount(status: str) -> int:
    """'UPDATE 3' / 'INSERT 0 2' / 'DELETE 1' -> rows changed (0 for other commands)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


# ---------------------------------------------------------------- statements on one connection


class _Statements:
    """The async statements on one asyncpg connection, run on the private loop.

    In a transaction (guarded), a write runs under a savepoint: SQLite leaves the
    transaction usable after a refused statement (a unique key the caller expects
    and catches), PostgreSQL would abort the whole of it."""

    def __init__(self, conn: asyncpg.Connection, guarded: bool = False) -> None:
        self.conn = conn
        self.guarded = guarded

    async def _guard(self, sql: str, work: Callable[[], Awaitable[T]]) -> T:
        if not self.guarded or _reads_only(sql):
            return await work()
        async with self.conn.transaction():
            return await work()

    async def fetchone(self, sql: str, params: Params) -> Row | None:
        row: Row | None = await self._guard(sql, lambda: self.conn.fetchrow(numbered(sql), *params))
        return row

    async def fetchall(self, sql: str, params: Params) -> list[Row]:
        rows: list[Row] = await self._guard(sql, lambda: self.conn.fetch(numbered(sql), *params))
        return rows

    async def fetchval(self, sql: str, params: Params) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params) -> int:
        async def go() -> int:
            if params:
                return _rowcount(await self.conn.execute(numbered(sql), *params))
            return _rowcount(await self.conn.execute(numbered(sql)))

        return await self._guard(sql, go)

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        # asyncpg's executemany() answers no count; one prepared statement, row by row.
        async def go() -> int:
            statement = await self.conn.prepare(numbered(sql))
            changed = 0
            for row in rows:
                await statement.fetch(*row)
                changed += _rowcount(statement.get_statusmsg())
            return changed

        return await self._guard(sql, go)


class _SyncConn:
    """Conn for a job thread: each statement a round trip to the private loop."""

    backend = "postgresql"

    def __init__(self, statements: _Statements) -> None:
        self._s = statements

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return _blocking(self._s.fetchone(sql, tuple(params)))

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return _blocking(self._s.fetchall(sql, tuple(params)))

    def fetchval(self, sql: str, params: Params = ()) -> Any:
        return _blocking(self._s.fetchval(sql, tuple(params)))

    def execute(self, sql: str, params: Params = ()) -> int:
        return _blocking(self._s.execute(sql, tuple(params)))

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        listed = [tuple(r) for r in rows]
        return _blocking(self._s.executemany(sql, listed)) if listed else 0

    def begin(self) -> None:
        """A job runs inside its transaction already."""


class _AsyncTx:
    def __init__(self, statements: _Statements) -> None:
        self._s = statements

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await _from_loop(self._s.fetchone(sql, tuple(params)))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await _from_loop(self._s.fetchall(sql, tuple(params)))

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        return await _from_loop(self._s.fetchval(sql, tuple(params)))

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await _from_loop(self._s.execute(sql, tuple(params)))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        listed = [tuple(r) for r in rows]
        return await _from_loop(self._s.executemany(sql, listed)) if listed else 0


# ---------------------------------------------------------------- the Database


class _DaemonPool:
    """Job threads that never hold the interpreter's exit (ThreadPoolExecutor's are
    joined at exit: a job waiting on a dead server would hang it)."""

    def __init__(self, size: int) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._main, name=f"db-postgres-job{n}", daemon=True)
            for n in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((work, future))
        return future

    def _main(self) -> None:
        while (item := self._jobs.get()) is not None:
            work, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self, wait: bool = False) -> None:
        for _ in self._threads:
            self._jobs.put(None)


class _Held:
    """A connection taken from the pool with its transaction open (private loop only)."""

    def __init__(self, db: PostgresDatabase, write: bool) -> None:
        self.db, self.write = db, write
        self.conn: asyncpg.Connection | None = None
        self.tx: Any = None
        self.locked = False

    async def enter(self) -> _Statements:
        if self.write:
            await self.db._write_lock.acquire()
            self.locked = True
        try:
            self.conn = await self.db._pool.acquire()
            if self.write:
                self.tx = self.conn.transaction()
            else:
                self.tx = self.conn.transaction(isolation="repeatable_read", readonly=True)
            await self.tx.start()
        except BaseException:
            await self._release()
            raise
        return _Statements(self.conn, guarded=True)

    async def leave(self, commit: bool) -> None:
        try:
            if self.tx is not None:
                if commit:
                    await self.tx.commit()
                else:
                    await self.tx.rollback()
        finally:
            await self._release()

    async def _release(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await self.db._pool.release(conn)
        if self.locked:  # only the lock this block took: never another holder's
            self.locked = False
            self.db._write_lock.release()


class PostgresDatabase(Database):
    backend = "postgresql"

    def __init__(self, pool: asyncpg.Pool, write_lock: asyncio.Lock, url: str) -> None:
        self._pool = pool
        self._write_lock = write_lock
        self._url = url
        self._jobs = _DaemonPool(JOB_THREADS)
        self._holder: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
            f"tracuu_pg_tx_{id(self)}", default=None
        )
        self._closed = False

    @classmethod
    async def open_url(cls, url: str, *, size: int = POOL_SIZE) -> PostgresDatabase:
        async def start() -> tuple[asyncpg.Pool, asyncio.Lock]:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=size, init=_init_connection)
            return pool, asyncio.Lock()

        pool, lock = await _from_loop(start())
        return cls(pool, lock, url)

    @property
    def url(self) -> str:
        """The whole URL (for LISTEN connections of the same database)."""
        return self._url

    @property
    def location(self) -> str:
        return self._url

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await _from_loop(self._pool.close())
        self._jobs.shutdown(wait=False)

    # ---- plain statements

    async def _one(self, write: bool, work: Callable[[_Statements], Coroutine[Any, Any, T]]) -> T:
        if self._closed:
            raise DatabaseError("the database is closed")
        if write:
            self._not_holding()

        async def go() -> T:
            if not write:
                async with self._pool.acquire() as conn:
                    return await work(_Statements(conn))
            held = _Held(self, True)
            statements = await held.enter()
            try:
                result = await work(statements)
            except BaseException:
                await held.leave(False)
                raise
            await held.leave(True)
            return result

        return await _from_loop(go())

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        args = tuple(params)
        return await self._one(not _reads_only(sql), lambda s: s.fetchone(sql, args))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        args = tuple(params)
        return await self._one(not _reads_only(sql), lambda s: s.fetchall(sql, args))

    async def execute(self, sql: str, params: Params = ()) -> int:
        args = tuple(params)
        return await self._one(True, lambda s: s.execute(sql, args))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        listed = [tuple(r) for r in rows]
        if not listed:
            return 0
        return await self._one(True, lambda s: s.executemany(sql, listed))

    # ---- transactions and jobs

    def transaction(self) -> AbstractAsyncContextManager[_AsyncTx]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_AsyncTx]:
        if self._closed:
            raise DatabaseError("the database is closed")
        self._not_holding()
        held = _Held(self, True)
        entering = _on_private(held.enter())
        try:
            statements = await asyncio.shield(asyncio.wrap_future(entering))
        except asyncio.CancelledError:
            # Cancelled while the transaction was being opened: once open, end it, or the
            # process's write lock and a connection would stay taken for good.
            def undo(done: concurrent.futures.Future[_Statements]) -> None:
                if not done.cancelled() and done.exception() is None:
                    _on_private(held.leave(False))

            entering.add_done_callback(undo)
            raise
        token = self._holder.set(asyncio.current_task())
        try:
            yield _AsyncTx(statements)
        except BaseException:
            self._holder.reset(token)
            await asyncio.shield(_from_loop(held.leave(False)))
            raise
        self._holder.reset(token)
        await asyncio.shield(_from_loop(held.leave(True)))

    def _job(self, job: Callable[[Conn], T], write: bool) -> T:
        """In a job thread: job(conn) in one transaction."""
        held = _Held(self, write)
        statements = _blocking(held.enter())
        try:
            result = job(_SyncConn(statements))
        except BaseException:
            _blocking(held.leave(False))
            raise
        _blocking(held.leave(True))
        return result

    async def run(self, job: Callable[[Conn], T]) -> T:
        self._not_holding()
        return await self._in_thread(lambda: self._job(job, True))

    async def read(self, job: Callable[[Conn], T]) -> T:
        return await self._in_thread(lambda: self._job(job, False))

    def run_blocking(self, job: Callable[[Conn], T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("run_blocking() on the event loop would block it: await run()")
        if self._closed:
            raise DatabaseError("the database is closed")
        return self._job(job, True)

    async def _in_thread(self, work: Callable[[], T]) -> T:
        if self._closed:
            raise DatabaseError("the database is closed")
        return await asyncio.wrap_future(self._jobs.submit(work))

    async def migrate(self, component: str, steps: Sequence[Step]) -> int:
        def job(conn: Conn) -> int:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            return migrate_steps(conn, component, steps, backend=self.backend)

        return await self.run(job)

    # ---- across instances

    def try_lock(self, key: int) -> AbstractAsyncContextManager[bool]:
        return self._try_lock(key)

    @asynccontextmanager
    async def _try_lock(self, key: int) -> AsyncIterator[bool]:
        # A session-level advisory lock on a connection kept for the block: when this
        # process dies its session ends, and the lock goes with it to the next asker.
        conn: asyncpg.Connection = await _from_loop(self._pool.acquire())
        try:
            got = bool(await _from_loop(conn.fetchval("SELECT pg_try_advisory_lock($1)", key)))
            try:
                yield got
            finally:
                if got:
                    await asyncio.shield(
                        _from_loop(conn.fetchval("SELECT pg_advisory_unlock($1)", key))
                    )
        finally:
            await asyncio.shield(_from_loop(self._pool.release(conn)))

    def _not_holding(self) -> None:
        if self._holder.get() is asyncio.current_task():
            raise RuntimeError(
                "this task holds a transaction of the database: use its tx, not the database"
            )


def _reads_only(sql: str) -> bool:
    head = sql.lstrip(" \t\r\n(")[:6].upper()
    return head == "SELECT"


# ---------------------------------------------------------------- migrations

_TYPES = (
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", re.I),
     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b", re.I), "BIGINT"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
)  # fmt: skip


def postgres_ddl(step: str) -> str:
    """A portable step's column types as PostgreSQL names them (see the module text)."""
    for pattern, replacement in _TYPES:
        step = pattern.sub(replacement, step)
    return step


# ---------------------------------------------------------------- LISTEN


class Listener:
    """LISTEN on a channel of its own connection: changed() says whether a NOTIFY came
    since the last call. Asking costs no query (a flag set by the private loop), so an
    idle sender may ask as often as it likes."""

    def __init__(self, url: str, channel: str) -> None:
        self._channel = channel
        self._heard = threading.Event()
        self._heard.set()  # the first look is a real one

        async def go() -> asyncpg.Connection:
            conn = await asyncpg.connect(url)
            await conn.add_listener(channel, self._notified)
            return conn

        self._conn = _blocking(go())

    def _notified(self, *_: object) -> None:
        self._heard.set()

    def changed(self) -> bool:
        if self._conn.is_closed():
            return True  # cannot tell: look at the queue
        if not self._heard.is_set():
            return False
        self._heard.clear()
        return True

    def close(self) -> None:
        if not self._conn.is_closed():
            _blocking(self._conn.close())


# ---------------------------------------------------------------- a blocking connection


async def _connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


class PostgresBlockingConnection(BlockingConnection):
    """BlockingConnection on PostgreSQL: a connection of its own for a thread that is
    not the event loop's. Statements open a transaction implicitly; commit() ends it.

    A connection the server ended (a restart, a failover, an idle timeout) is opened
    again at the next transaction's first statement: the SMPP link keeps one of these
    for its whole life, and before this it never sent again after a PostgreSQL restart
    (every claim failed on the closed connection; docs/reliability.md). Within a
    transaction nothing is retried: the statement fails, the caller rolls back."""

    __slots__ = ("_conn", "_statements", "_tx", "_url")
    backend = "postgresql"

    def __init__(self, conn: asyncpg.Connection, url: str = "") -> None:
        self._conn = conn
        self._statements = _Statements(conn, guarded=True)
        self._tx: Any = None
        self._url = url

    @classmethod
    def connect(cls, url: str) -> PostgresBlockingConnection:
        return cls(_blocking(_connect(url)), url)

    def _begun(self) -> _Statements:
        if self._tx is None and self._conn.is_closed() and self._url:
            self._conn = _blocking(_connect(self._url))  # DatabaseError while it is down
            self._statements = _Statements(self._conn, guarded=True)
        if self._tx is None:
            tx = self._conn.transaction()
            _blocking(tx.start())
            self._tx = tx
        return self._statements

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return _blocking(self._begun().fetchone(sql, tuple(params)))

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return _blocking(self._begun().fetchall(sql, tuple(params)))

    def fetchval(self, sql: str, params: Params = ()) -> Any:
        return _blocking(self._begun().fetchval(sql, tuple(params)))

    def execute(self, sql: str, params: Params = ()) -> int:
        return _blocking(self._begun().execute(sql, tuple(params)))

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        listed = [tuple(r) for r in rows]
        return _blocking(self._begun().executemany(sql, listed)) if listed else 0

    def begin(self) -> None:
        self._begun()

    @property
    def in_transaction(self) -> bool:
        return self._tx is not None

    def commit(self) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            _blocking(tx.commit())

    def rollback(self) -> None:
        tx, self._tx = self._tx, None
        if tx is not None and not self._conn.is_closed():  # else it ended with the session
            _blocking(tx.rollback())

    def close(self) -> None:
        try:
            self.rollback()
        finally:
            _blocking(self._conn.close())
