"""The execution layer: one database (PostgreSQL, MySQL/MariaDB or SQLite) and every call to it.

Both SQL backends (the Store's documents, V5's tables) run on this, and only this calls a
driver (through ``drivers.Driver``): connections are lent and given back here, every statement
runs through ``Connection._run`` (its time bound, its error translation, outage detection,
and with tracing on its span, ``db.system`` and the operation but never the values),
and a background probe brings service back after an outage with no traffic needed.

API::

    db = Database("postgresql://user:secret@127.0.0.1:5432/app", min_size=1, max_size=4,
                  timeout=5.0, command_timeout=30.0)
    db.dialect            # "postgresql" | "mysql" | "sqlite" (from the scheme or database_type)
    db.safe_url           # the URL with its password masked, for messages and logs
    db.host_port          # "127.0.0.1:5432" (the file path for SQLite), for messages
    await db.connect()    # DatabaseConnectionError naming host:port (never the password)
    db.connected          # False from an outage until a statement (or the probe) succeeds

    async with db.connection() as conn:     # a Connection, lent for the block
        rows = await conn.fetch("SELECT a FROM t WHERE b = $1", (3,))   # driver's placeholders
        done = await conn.execute("UPDATE t SET a = $1", (1,))          # Executed(rowcount, id)
    async with db.transaction() as conn:    # the same, inside BEGIN … COMMIT / ROLLBACK
        ...
    conn = await db.acquire(shared=True); ...; await db.release(conn)   # the hot paths
    await db.execute("UPDATE t SET a = ? WHERE id = ?", 1, "x")   # helpers: ``?`` placeholders
    await db.fetch_all(...) / fetch_one(...) / fetch_val(...)
    db.pool_stats()       # PoolStats(size, in_use, idle, max_size)
    await db.disconnect()

Connections: at most ``max_size`` are lent at once, to callers in the order they asked
(``permits.FairPermits``; the drivers' own pools are not fair). A caller that gets none
within ``timeout`` seconds fails with ``Unavailable("connection pool exhausted …")``. SQLite
has one connection: single statements (``acquire(shared=True)``) share it, a transaction or a
``connection()`` block has it alone (``sqlite_gate.SqliteGate``).

Time bound: every statement ends within ``command_timeout`` seconds. asyncpg enforces it
itself; for aiomysql (no read timeout) and sqlite3 a ``Watchdog`` cancels the overdue wait,
then the connection is closed (MySQL: it is mid-reply) or the statement interrupted (SQLite),
and the caller gets ``StoreTimeout``.

Errors: a driver exception leaves ``Connection`` methods, ``acquire`` and the blocks'
BEGIN/COMMIT as an ``autocoder.errors`` class (``errors.translate``), raised from the original.
An exception raised by the code inside a block is not touched (the transaction is rolled back).

Outage: ``Unavailable`` sets ``connected`` to False and starts a background task that runs
``SELECT 1`` (after 0.1 s, then doubling up to 1 s) until it succeeds; the drivers drop dead
connections and open new ones, so service and ``connected`` come back by themselves when the
database does, whether or not traffic comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import structlog
from opentelemetry.trace import Status, StatusCode

from autocoder.errors import DatabaseConnectionError, StoreError, Unavailable
from autocoder.observability.carried import current as current_carried
from autocoder.observability.spans import statement_span
from autocoder.storage.sql.dialects import Dialect, dialect_of, native
from autocoder.storage.sql.drivers import (
    DRIVERS,
    Driver,
    Executed,
    MySqlDriver,
    PoolSettings,
    Result,
    SqliteDriver,
    Target,
)
from autocoder.storage.sql.errors import mask, pool_exhausted, statement_timed_out, translate
from autocoder.storage.sql.permits import FairPermits
from autocoder.storage.sql.sqlite_gate import SqliteGate
from autocoder.storage.sql.watchdog import Watchdog

T = TypeVar("T")
log = structlog.get_logger("autocoder")

__all__ = ["Connection", "Database", "Executed", "PoolStats", "Result", "open_database"]

#: The background probe's first wait after an outage and its longest (seconds).
PROBE_FIRST = 0.1
PROBE_MAX = 1.0


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Connections of the pool: open (``size``), lent out (``in_use``), waiting (``idle``)."""

    size: int
    in_use: int
    idle: int
    max_size: int


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}"))


class Connection:
    """A driver connection lent by ``Database``; every statement on it runs through ``_run``.

    SQL is written in the driver's placeholder style (``dialects.placeholders`` converts from
    ``?``); rows are the driver's (indexable by position).
    """

    __slots__ = ("_db", "_driver", "broken", "failures", "raw", "shared")

    def __init__(self, db: Database, raw: Any, *, shared: bool = False) -> None:
        self._db = db
        self._driver = db.driver
        self.raw = raw
        self.shared = shared
        #: Set when the connection's state is unknown: ``release`` closes it instead.
        self.broken = False
        #: Statements on this connection that raised: a caller running several writes in one
        #: transaction tells by it whether a failing write left the transaction as it was
        #: (nothing raised in the database) or needs it rolled back (PostgreSQL aborts it).
        self.failures = 0

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one statement."""
        return await self._run(self._driver.fetch(self.raw, sql, params), sql)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of one statement, or None."""
        rows = await self._run(self._driver.fetch(self.raw, sql, params), sql)
        return rows[0] if rows else None

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        rows = await self._run(self._driver.fetch(self.raw, sql, params), sql)
        return rows[0][0] if rows else None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Executed:
        """Run one statement that returns no rows."""
        return await self._run(self._driver.execute(self.raw, sql, params), sql)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row of ``rows``."""
        await self._run(self._driver.execute_many(self.raw, sql, rows), sql)

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``records`` by the driver's fastest bulk path (PostgreSQL: binary COPY)."""
        await self._run(self._driver.copy_records(self.raw, table, columns, records), "COPY")

    async def script(self, text: str) -> list[Result]:
        """MySQL only: the result of every statement of ``text``, sent as one (one round
        trip); the first that fails raises, and none after it ran."""
        driver = self._driver
        if not isinstance(driver, MySqlDriver):
            raise TypeError(f"script() needs MySQL, not {self.dialect}")
        first = text.removeprefix("BEGIN; ")[:64]  # names its span
        return await self._run(driver.script(self.raw, text), first)

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """SQLite only: ``function(sqlite3_connection, *args)`` in the connection's thread, as
        one step (several statements with no hop back to the event loop between them)."""
        driver = self._driver
        if not isinstance(driver, SqliteDriver):
            raise TypeError(f"in_thread() needs SQLite, not {self.dialect}")
        return await self._run(driver.in_thread(self.raw, function, *args), "SQL")

    async def begin(self) -> None:
        await self._run(self._driver.begin(self.raw), "BEGIN")

    async def commit(self) -> None:
        await self._run(self._driver.commit(self.raw), "COMMIT")

    async def rollback(self) -> None:
        await self._run(self._driver.rollback(self.raw), "ROLLBACK")

    async def _run(self, call: Awaitable[T], sql: str) -> T:
        """Await one driver call: bounded in time, its exception translated, and with tracing
        on a span of its own (the one place)."""
        db = self._db
        watchdog = db.statement_watchdog
        carried = current_carried()
        span = None
        if carried is not None and carried.trace is not None:
            span = statement_span(carried.trace, db.dialect, sql)
        try:
            if watchdog is None:
                result = await call
            else:
                ticket = watchdog.begin()
                try:
                    result = await call
                except asyncio.CancelledError:
                    if not watchdog.end(ticket):
                        raise
                    self.broken = True
                    self._driver.interrupt(self.raw)
                    raise statement_timed_out(db.host_port, watchdog.limit) from None
                finally:
                    watchdog.end(ticket)  # however it ended: a statement error too
        except StoreError as exc:
            self.failures += 1
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        except Exception as exc:
            self.failures += 1
            lost = self._driver.is_lost(self.raw)
            if lost:
                self.broken = True
            error = db.error(exc, connection_lost=lost)
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise error from exc
        finally:
            if span is not None:
                span.end()
        db.connected = True
        return result


class _Lease:
    """``async with db.connection()`` / ``db.transaction()``: a Connection for one block."""

    __slots__ = ("_conn", "_db", "_reset", "_transaction")

    def __init__(self, db: Database, *, transaction: bool, reset: bool) -> None:
        self._db = db
        self._transaction = transaction
        self._reset = reset
        self._conn: Connection | None = None

    async def __aenter__(self) -> Connection:
        conn = self._conn = await self._db.acquire()
        if self._transaction:
            try:
                await conn.begin()
            except BaseException:
                conn.broken = True
                await self._db.release(conn)
                raise
        return conn

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        assert conn is not None
        try:
            if self._transaction:
                if exc is None:
                    await conn.commit()
                elif conn.broken:
                    pass  # interrupted or lost: the server ends its transaction with it
                else:
                    try:
                        await conn.rollback()
                    except Exception as rollback_error:
                        # The block's own exception is the one to raise; the connection, in
                        # an unknown transaction state, is not reused.
                        conn.broken = True
                        log.warning(
                            "rollback failed",
                            database=self._db.host_port,
                            error=str(rollback_error),
                        )
                    except BaseException:  # cancelled mid-rollback: not reused either
                        conn.broken = True
                        raise
        except BaseException:
            conn.broken = True
            raise
        finally:
            await self._db.release(conn, reset=self._reset)


class Database:
    """One database, its pool of driver connections, and the one path statements take."""

    def __init__(
        self,
        url: str,
        *,
        database_type: str | None = None,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 5.0,
        command_timeout: float | None = 30.0,
    ) -> None:
        self.dialect: Dialect = dialect_of(url, database_type)
        if min_size < 0 or max_size < 1 or min_size > max_size:
            raise ValueError(f"invalid pool bounds min_size={min_size} max_size={max_size}")
        self.target = Target.parse(url, self.dialect)
        self._password = self.target.password
        self.safe_url = _safe_url(url)
        self.host_port = self.target.where
        self.min_size = min_size
        self.max_size = 1 if self.dialect == "sqlite" else max_size
        self.timeout = timeout
        self.command_timeout = command_timeout
        self.connected = False
        self._settings = PoolSettings(
            min_size=min(min_size, self.max_size),
            max_size=self.max_size,
            connect_timeout=timeout,
            command_timeout=command_timeout,
        )
        self.driver: Driver = DRIVERS[self.dialect](self.target, self._settings)
        #: Bounds statements the driver does not bound itself (aiomysql, sqlite3).
        self.statement_watchdog = (
            Watchdog(command_timeout)
            if command_timeout and not self.driver.bounds_statements
            else None
        )
        self._sqlite = self.dialect == "sqlite"
        self._permits = FairPermits(self.max_size)
        self._gate = SqliteGate()
        self._waits = Watchdog(timeout)
        self._open = False
        self._prober: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the pool (or SQLite's connection); ``DatabaseConnectionError`` when unreachable."""
        if self._open:
            return
        driver = self.driver = DRIVERS[self.dialect](self.target, self._settings)
        try:
            async with asyncio.timeout(self.timeout + 1.0):
                await driver.open()
        except (Exception, TimeoutError) as exc:
            with suppress(Exception):  # closing what failed to open: the open error is told
                await driver.close(self.timeout)
            cause = mask(str(exc) or type(exc).__name__, self._password)
            what = (
                "open SQLite database"
                if self.dialect == "sqlite"
                else f"connect to {self.dialect} at"
            )
            raise DatabaseConnectionError(f"cannot {what} {self.host_port}: {cause}") from exc
        self._open = True
        self.connected = True

    async def disconnect(self) -> None:
        """Close every connection. Safe to call twice and after a failed ``connect``."""
        was_open, self._open = self._open, False
        self.connected = False
        await self._waits.close()
        if self.statement_watchdog is not None:
            await self.statement_watchdog.close()
        prober, self._prober = self._prober, None
        if prober is not None:
            prober.cancel()
            await asyncio.wait([prober])
        if was_open:
            await self.driver.close(self.timeout)

    # -- connections -----------------------------------------------------------------------

    async def acquire(self, *, shared: bool = False) -> Connection:
        """A Connection within ``timeout`` (first come, first served); give it back with
        ``release``. ``shared``: for single statements outside a transaction (on SQLite they
        share the connection; elsewhere this changes nothing)."""
        if not self._open:
            raise Unavailable(f"database {self.host_port} is not connected")
        if self._sqlite:
            try:
                if shared:
                    await self._gate.share(self.timeout)
                else:
                    await self._gate.take(self.timeout)
            except TimeoutError as exc:
                raise self._exhausted() from exc
            return Connection(self, await self.driver.acquire(), shared=shared)
        permits = self._permits
        if not permits.take_nowait():
            await self._wait_for_permit()
        try:
            raw = await self.driver.acquire()
        except BaseException as exc:
            permits.give()
            if isinstance(exc, Exception):
                # No connection came of it, whatever the driver raised: aiomysql on uvloop
                # raises RuntimeError when the server cuts the connection while it is made.
                raise self.error(exc, connection_lost=True) from exc
            raise
        return Connection(self, raw)

    async def _wait_for_permit(self) -> None:
        # Bounded by a watchdog (one task for every waiter) rather than a timer per wait.
        ticket = self._waits.begin()
        try:
            await self._permits.take()
        except asyncio.CancelledError:
            if self._waits.end(ticket):
                raise self._exhausted() from None
            raise
        finally:
            self._waits.end(ticket)

    def _exhausted(self) -> Unavailable:
        self._outage()
        return pool_exhausted(self.host_port, self.max_size, self.timeout)

    async def release(self, conn: Connection, *, reset: bool = False) -> None:
        """Give back a Connection from ``acquire``. ``reset``: it may have changed session
        state (settings, locks), so return it to a new connection's state (PostgreSQL)."""
        if self._sqlite:
            if conn.shared:
                self._gate.unshare()
            else:
                self._gate.give()
            return
        driver = self.driver
        reset = reset and not conn.broken
        given = False
        try:
            if conn.broken:
                driver.discard(conn.raw)
            releasing = driver.release(conn.raw, reset=reset)
            if not reset:
                # Nothing is left to wait for but the driver putting the connection back in
                # its own queue (first in, first out): the next caller may go and wait there,
                # rather than a loop turn later.
                self._permits.give()
                given = True
            await releasing
        except Exception as exc:
            # The operation's outcome stands; the driver drops this connection and opens
            # another. An outage seen here is recorded like any other, and logged.
            error = self.error(exc, connection_lost=True)
            log.warning(
                "database connection dropped on release",
                database=self.host_port,
                error=str(error),
                error_type=error.error_type,
            )
        finally:
            if not given:
                self._permits.give()

    def connection(self, *, reset: bool = True) -> _Lease:
        """``async with db.connection() as conn``: a Connection for the block. ``reset=False``
        when the block only runs plain statements (spares PostgreSQL a reset round trip)."""
        return _Lease(self, transaction=False, reset=reset)

    def transaction(self, *, reset: bool = True) -> _Lease:
        """``async with db.transaction() as conn``: committed on exit, rolled back on error.
        ``reset=False`` when the block only runs plain statements (as ``connection``)."""
        return _Lease(self, transaction=True, reset=reset)

    def error(self, exc: BaseException, *, connection_lost: bool = False) -> StoreError:
        """``exc`` as an ``autocoder.errors`` class; an outage also marks ``connected`` False."""
        error = translate(exc, self.host_port, self._password, connection_lost=connection_lost)
        if isinstance(error, Unavailable):
            self._outage()
        return error

    # -- outage and recovery ---------------------------------------------------------------

    def _outage(self) -> None:
        self.connected = False
        if not self._open or (self._prober is not None and not self._prober.done()):
            return
        try:
            self._prober = asyncio.get_running_loop().create_task(self._probe_until_back())
        except RuntimeError:  # no running loop: nothing to probe with
            self._prober = None

    async def _probe_until_back(self) -> None:
        delay = PROBE_FIRST
        while self._open and not self.connected:
            await asyncio.sleep(delay)
            await self.probe()
            delay = min(delay * 2, PROBE_MAX)

    async def probe(self) -> bool:
        """Ask the database ``SELECT 1``; updates and returns ``connected`` (never raises)."""
        if not self._open:
            return False
        try:
            conn = await self.acquire(shared=True)
            try:
                await conn.fetch("SELECT 1")
            finally:
                await self.release(conn)
        except StoreError:
            pass  # connected is False: the background probe tries again
        return self.connected

    def pool_stats(self) -> PoolStats:
        """Open, lent-out and idle connections (all zero while disconnected)."""
        if not self._open:
            return PoolStats(0, 0, 0, self.max_size)
        if self._sqlite:
            in_use = 1 if self._gate.taken else 0
            return PoolStats(1, in_use, 1 - in_use, 1)
        size, idle = self.driver.sizes()
        return PoolStats(size, size - idle, idle, self.max_size)

    @property
    def in_use(self) -> int:
        return self.pool_stats().in_use

    @property
    def idle(self) -> int:
        return self.pool_stats().idle

    # -- helpers (``?`` placeholders) ------------------------------------------------------

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement on its own connection; returns the rows it affected."""
        async with self.connection() as conn:
            done = await conn.execute(native(sql, self.dialect, params), params)
        return done.rowcount

    async def fetch_all(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Every row of a query, as tuples."""
        async with self.connection() as conn:
            rows = await conn.fetch(native(sql, self.dialect, params), params)
        return [tuple(row) for row in rows]

    async def fetch_one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        rows = await self.fetch_all(sql, *params)
        return rows[0] if rows else None

    async def fetch_val(self, sql: str, *params: Any) -> Any:
        """The first column of the first row, or None."""
        row = await self.fetch_one(sql, *params)
        return None if row is None else row[0]


@asynccontextmanager
async def open_database(database: Database) -> AsyncIterator[Database]:
    """``async with open_database(Database(url)) as db``: connect, and disconnect afterwards."""
    await database.connect()
    try:
        yield database
    finally:
        await database.disconnect()
