"""The connection layer: one database (PostgreSQL, MySQL/MariaDB or SQLite) behind ``databases``.

This is the only module that imports ``databases``. It keeps ``databases`` for what it does
well (URLs, the driver pools, connecting and disconnecting) and hands callers the driver
connection that ``databases`` holds, so hot paths run pre-written SQL on asyncpg, aiomysql or
aiosqlite directly instead of compiling every query through SQLAlchemy.

API::

    db = Database("postgresql://user:secret@127.0.0.1:5432/app", min_size=1, max_size=4,
                  timeout=5.0)
    db.dialect            # "postgresql" | "mysql" | "sqlite" (from the scheme or database_type)
    db.safe_url           # the URL with its password masked, for messages and logs
    db.host_port          # "127.0.0.1:5432" (the file path for SQLite), for messages
    await db.connect()    # DatabaseConnectionError naming host:port (never the password)
    db.connected          # False once an operation met an outage, True again on success

    async with db.connection() as raw:      # the driver's connection (asyncpg Connection,
        ...                                 # aiomysql Connection, aiosqlite Connection)
    async with db.transaction() as raw:     # the same, inside BEGIN … COMMIT/ROLLBACK
        ...
    await db.execute("UPDATE t SET a = ? WHERE id = ?", 1, "x")   # -> rows affected
    await db.fetch_all("SELECT a, b FROM t WHERE c = ?", 3)        # -> list of tuples
    await db.fetch_one(...) / await db.fetch_val(...)
    db.pool_stats()       # PoolStats(size, in_use, idle, max_size): autocoder_db_pool_connections
    await db.disconnect()

Placeholders are ``?`` on every dialect (rewritten for the driver). Driver exceptions raised
inside ``connection()``/``transaction()`` blocks and by the helpers leave as
``autocoder.errors`` classes (see ``autocoder.storage.sql.errors``). The lower-level
``acquire()``/``release(raw)``/``error(exc)`` trio is for the hottest paths, where even an
async context manager is measurable; ``acquire_shared()``/``release_shared(raw)`` for work
that opens no transaction (on SQLite it shares the connection), and ``mark_clean(raw)`` before
releasing a connection that changed no session state (spares asyncpg's reset query).

Outage: an operation that gets no connection within ``timeout`` seconds fails with
``Unavailable("connection pool exhausted …")``; a refused or lost connection fails with
``Unavailable`` at once; a statement running past ``command_timeout`` fails with
``StoreTimeout``. None of these hang, all set ``connected`` to False, and nothing needs
restarting: the driver pools drop dead connections and open new ones on the next operation,
so service resumes by itself when the database does. ``await db.probe()`` (or
``db.probe_soon()`` from synchronous health code) runs ``SELECT 1`` to notice that without
traffic. MySQL has no statement time limit in the driver: bound MySQL work yourself
(``SqlDocumentBackend`` does, with ``command_timeout``).

SQLite: one long-lived connection (WAL journal, ``synchronous=NORMAL``, a busy timeout).
Transactions (``transaction()``, ``connection()``, ``acquire()``) have it alone; single
statements through ``acquire_shared()`` share it. ``in_use`` is 1 while a task holds it alone.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import databases

from autocoder.errors import DatabaseConnectionError, StoreError, Unavailable
from autocoder.storage.sql.dialects import (
    DATABASES_SCHEME,
    Dialect,
    dialect_of,
    run_execute,
    run_fetch,
)
from autocoder.storage.sql.errors import is_driver_error, mask, pool_exhausted, translate
from autocoder.storage.sql.lease import Lease
from autocoder.storage.sql.sqlite_gate import SqliteGate
from autocoder.storage.sql.watchdog import Watchdog

DEFAULT_PORTS: dict[Dialect, int] = {"postgresql": 5432, "mysql": 3306, "sqlite": 0}

__all__ = ["Database", "PoolStats", "open_database", "run_execute", "run_fetch"]


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


class Database:
    """A database reached through ``databases``, with driver-speed access to its connections."""

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
        _, _, rest = url.partition(":")
        self._url = f"{DATABASES_SCHEME[self.dialect]}:{rest}"
        parts = urlsplit(url)
        self._password = parts.password
        self.safe_url = _safe_url(url)
        if self.dialect == "sqlite":
            self.host_port = databases.DatabaseURL(self._url).database or ":memory:"
        else:
            host = parts.hostname or "localhost"
            self.host_port = f"{host}:{parts.port or DEFAULT_PORTS[self.dialect]}"
        self.min_size = min_size
        self.max_size = 1 if self.dialect == "sqlite" else max_size
        self.timeout = timeout
        self.command_timeout = command_timeout
        self.connected = False
        self._db: databases.Database | None = None
        self._pool: Any = None
        self._sqlite_holder: Any = None
        self._sqlite: Any = None
        self._gate = SqliteGate()
        self._clean: weakref.WeakSet[Any] = weakref.WeakSet()
        self._probe: asyncio.Task[bool] | None = None
        self._waits = Watchdog(timeout)
        #: Connections lent or promised (at most ``max_size``): below it, one is free now.
        self._lent = 0

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        if self.dialect == "postgresql":
            return {
                "min_size": self.min_size,
                "max_size": self.max_size,
                "timeout": self.timeout,  # connect timeout of each new connection
                "command_timeout": self.command_timeout,
                "reset": self._reset_session,
            }
        if self.dialect == "mysql":
            return {
                "min_size": self.min_size,
                "max_size": self.max_size,
                "connect_timeout": self.timeout,
                "charset": "utf8mb4",
            }
        return {}

    async def connect(self) -> None:
        """Open the pool (or SQLite's connection); ``DatabaseConnectionError`` when unreachable."""
        if self._db is not None:
            return
        db = databases.Database(self._url, **self._options())
        try:
            if self.dialect == "sqlite" and self.host_port != ":memory:":
                # Fail here, not in aiosqlite: its thread outlives a failed open.
                sqlite3.connect(self.host_port).close()
            async with asyncio.timeout(self.timeout + 1.0):
                await db.connect()
                if self.dialect == "sqlite":
                    await self._open_sqlite(db)
        except (Exception, TimeoutError) as exc:
            await self._discard(db)
            cause = mask(str(exc) or type(exc).__name__, self._password)
            what = (
                "open SQLite database"
                if self.dialect == "sqlite"
                else f"connect to {self.dialect} at"
            )
            raise DatabaseConnectionError(f"cannot {what} {self.host_port}: {cause}") from exc
        self._db = db
        self._pool = getattr(db._backend, "_pool", None)
        self.connected = True

    async def _open_sqlite(self, db: databases.Database) -> None:
        holder = db._backend.connection()
        await holder.acquire()
        self._sqlite_holder = holder
        raw = holder.raw_connection
        await raw.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        delay = 0.005
        while True:  # switching to WAL wants the file alone and skips the busy handler
            try:
                await raw.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                await asyncio.sleep(delay)  # bounded by connect()'s time limit
                delay = min(delay * 2, 0.2)
        await raw.execute("PRAGMA synchronous=NORMAL")
        self._sqlite = raw

    async def _discard(self, db: databases.Database) -> None:
        try:
            if self._sqlite_holder is not None:
                await self._sqlite_holder.release()
            if db.is_connected:
                await db.disconnect()
        except Exception:  # closing after a failure: nothing more to report
            pass
        finally:
            self._sqlite_holder = None
            self._sqlite = None

    async def disconnect(self) -> None:
        """Close every connection. Safe to call twice and after a failed ``connect``."""
        db, self._db, self._pool = self._db, None, None
        self.connected = False
        await self._waits.close()
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.wait([self._probe])
            self._probe = None
        if db is not None:
            await self._discard(db)

    # -- connections -----------------------------------------------------------------------

    async def acquire(self) -> Any:
        """A driver connection, within ``timeout``; hand it back with ``release``."""
        if self._db is None:
            raise Unavailable(f"database {self.host_port} is not connected")
        try:
            if self.dialect == "sqlite":
                await self._gate.take(self.timeout)
                return self._sqlite
            if self._lent < self.max_size:  # one is free now: no wait to bound
                self._lent += 1
                try:
                    return await self._pool.acquire()
                except BaseException:
                    self._lent -= 1
                    raise
            raw = await self._wait_for_connection()
            self._lent += 1
            return raw
        except TimeoutError as exc:
            self.connected = False
            raise pool_exhausted(self.host_port, self.max_size, self.timeout) from exc
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            raise self.error(exc) from exc

    async def _wait_for_connection(self) -> Any:
        # Bounded by the watchdog (one task for every waiter) rather than a timer per wait.
        ticket = self._waits.begin()
        try:
            raw = await self._pool.acquire()
        except asyncio.CancelledError:
            if self._waits.end(ticket):
                raise TimeoutError() from None
            raise
        self._waits.end(ticket)
        return raw

    async def acquire_shared(self) -> Any:
        """Like ``acquire``, for work that opens no transaction (single statements).

        On SQLite such work shares the one connection (aiosqlite queues the statements) and
        only waits while a transaction holds it; elsewhere this is ``acquire``. Hand it back
        with ``release_shared``.
        """
        if self.dialect != "sqlite" or self._db is None:
            return await self.acquire()
        try:
            await self._gate.share(self.timeout)
        except TimeoutError as exc:
            self.connected = False
            raise pool_exhausted(self.host_port, self.max_size, self.timeout) from exc
        return self._sqlite

    async def release_shared(self, raw: Any) -> None:
        """Give back a connection from ``acquire_shared``."""
        if self.dialect != "sqlite":
            await self.release(raw)
            return
        self._gate.unshare()

    async def release(self, raw: Any) -> None:
        """Give back a connection from ``acquire``."""
        if self.dialect == "sqlite":
            self._gate.give()
            return
        try:
            if self.dialect == "postgresql":
                await self._pool.release(raw)
            else:
                self._pool.release(raw)
        finally:  # counted until the pool has it back (so acquire never waits unbounded)
            self._lent -= 1

    def mark_clean(self, raw: Any) -> None:
        """Promise that ``raw`` (before ``release``) changed no session state.

        asyncpg resets every connection given back to its pool with a query (``RESET ALL``,
        ``UNLISTEN *`` …): a second round trip per operation. Code that only ran plain
        statements outside a transaction marks the connection clean to skip it; connections
        lent through ``connection()``/``transaction()`` are always reset.
        """
        if self.dialect == "postgresql":
            self._clean.add(getattr(raw, "_con", raw))

    async def _reset_session(self, con: Any) -> None:
        if con in self._clean:
            self._clean.discard(con)
            return
        query = con.get_reset_query()
        if query:
            await con.execute(query)

    def error(self, exc: BaseException) -> StoreError:
        """``exc`` as an ``autocoder.errors`` class; an outage also marks ``connected`` False."""
        if isinstance(exc, StoreError):
            error = exc
        else:
            error = translate(exc, self.host_port, self._password)
        if isinstance(error, Unavailable):
            self.connected = False
        return error

    def connection(self) -> Lease:
        """``async with db.connection() as raw``: a driver connection, errors translated."""
        return Lease(self, transaction=False)

    def transaction(self) -> Lease:
        """``async with db.transaction() as raw``: committed on exit, rolled back on error."""
        return Lease(self, transaction=True)

    async def probe(self) -> bool:
        """Ask the database ``SELECT 1``; updates and returns ``connected`` (never raises)."""
        if self._db is None:
            return False
        with suppress(StoreError):
            async with self.connection() as raw:
                await run_fetch(raw, self.dialect, "SELECT 1", ())
        return self.connected

    def probe_soon(self) -> None:
        """Start ``probe()`` in the background unless one runs (health checks call this)."""
        if self._probe is not None and not self._probe.done():
            return
        try:
            self._probe = asyncio.get_running_loop().create_task(self.probe())
        except RuntimeError:  # no running loop: nothing to probe with
            self._probe = None

    def pool_stats(self) -> PoolStats:
        """Open, lent-out and idle connections (all zero while disconnected)."""
        if self._db is None:
            return PoolStats(0, 0, 0, self.max_size)
        if self.dialect == "sqlite":
            in_use = 1 if self._gate.taken else 0
            return PoolStats(1, in_use, 1 - in_use, 1)
        if self.dialect == "postgresql":
            size, idle = self._pool.get_size(), self._pool.get_idle_size()
        else:
            size, idle = self._pool.size, self._pool.freesize
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
        async with self.connection() as raw:
            return await run_execute(raw, self.dialect, sql, params)

    async def fetch_all(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Every row of a query, as tuples."""
        async with self.connection() as raw:
            return await run_fetch(raw, self.dialect, sql, params)

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
