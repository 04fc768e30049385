"""The driver calls of each database, written once: ``Driver`` and one class per dialect.

``Database`` (the execution layer) never calls asyncpg, aiomysql or sqlite3 itself; it asks
the ``Driver`` of its dialect, whose methods are the few things that differ:

- pool: ``asyncpg.create_pool`` / ``aiomysql.create_pool`` (autocommit, utf8mb4) / one
  ``sqlite3`` connection in a thread of its own (WAL, ``synchronous=NORMAL``, a busy timeout),
  and for a file a second one checkpointing its WAL in another thread (``Checkpoints``);
- placeholders: ``$1`` / ``%s`` / ``?``;
- the statement time bound: asyncpg's ``command_timeout`` (``bounds_statements``) / none in
  the driver: the execution layer's watchdog, then ``interrupt()`` (MySQL: close the
  connection, which is mid-reply, and ``KILL`` its server thread; SQLite:
  ``sqlite3.Connection.interrupt``);
- transactions: ``BEGIN``/``COMMIT`` / ``begin()``/``commit()`` / ``BEGIN IMMEDIATE``.

Statements come in the driver's own placeholder style (``dialects.placeholders`` writes them);
rows come back as the driver makes them (asyncpg ``Record``, tuples), indexable by position.
Every method may raise the driver's exceptions: translating them is the caller's job, once
(``autocoder.storage.sql.errors``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import aiomysql
import asyncpg
import structlog

from autocoder.storage.sql.dialects import Dialect, quote, sqlite_in_memory
from autocoder.storage.sql.sqlite_checkpoints import Checkpoints
from autocoder.storage.sql.sqlite_thread import SqliteThread, execute, execute_many, fetch_all

T = TypeVar("T")

log = structlog.get_logger("autocoder")
#: MySQL's error for ``KILL`` of a thread that is no more (ER_NO_SUCH_THREAD).
_UNKNOWN_THREAD = 1094
_KILL_QUERY = "KILL QUERY %s"

DEFAULT_PORTS: dict[Dialect, int] = {"postgresql": 5432, "mysql": 3306, "sqlite": 0}


class Executed(NamedTuple):
    """What a statement that returns no rows reports: rows affected, and the id it generated
    (MySQL ``LAST_INSERT_ID()``, SQLite's last rowid; None on PostgreSQL)."""

    rowcount: int
    last_id: Any


class Result(NamedTuple):
    """One statement's result among several sent as one text (``MySqlDriver.script``): its
    rows (none for a statement that returns none), rows affected, and the id it generated."""

    rows: list[Any]
    rowcount: int
    last_id: Any


@dataclass(frozen=True)
class Target:
    """Where a database URL points, parsed once (the password kept apart, for masking)."""

    dialect: Dialect
    url: str
    host: str = ""
    port: int = 0
    user: str | None = None
    password: str | None = None
    database: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str, dialect: Dialect) -> Target:
        parts = urlsplit(url)
        if dialect == "sqlite":
            # sqlite:///relative.db, sqlite:////absolute/path.db, sqlite:///:memory:
            path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
            return cls(dialect, url, database=path or ":memory:")
        return cls(
            dialect,
            url,
            host=parts.hostname or "localhost",
            port=parts.port or DEFAULT_PORTS[dialect],
            user=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            database=unquote(parts.path.lstrip("/")),
            options=dict(parse_qsl(parts.query)),
        )

    @property
    def where(self) -> str:
        """``host:port`` (the file for SQLite): how messages name the database."""
        return self.database if self.dialect == "sqlite" else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PoolSettings:
    """How many connections, and how long connecting and each statement may take (seconds)."""

    min_size: int
    max_size: int
    connect_timeout: float
    command_timeout: float | None


class Driver(Protocol):
    """The calls of one database driver that the execution layer needs."""

    dialect: ClassVar[Dialect]
    #: The driver stops a statement running past ``command_timeout`` by itself.
    bounds_statements: ClassVar[bool]

    async def open(self) -> None:
        """Create the pool (connect ``min_size`` connections): the driver's error if it fails."""

    async def close(self, timeout: float) -> None:
        """Close every connection, waiting at most ``timeout`` for lent ones, then cutting them."""

    def acquire(self) -> Awaitable[Any]:
        """A connection from the pool (the caller holds a permit: one is free or can be made)."""

    def release(self, raw: Any, *, reset: bool) -> Awaitable[Any]:
        """Give ``raw`` back; ``reset``: return its session to a new connection's state first."""

    def discard(self, raw: Any) -> None:
        """Close ``raw`` (state unknown: stopped mid-statement); ``release`` then drops it."""

    def is_lost(self, raw: Any) -> bool:
        """Whether ``raw`` is closed (the server or the network cut it)."""

    def sizes(self) -> tuple[int, int]:
        """Open connections and idle ones."""

    def interrupt(self, raw: Any) -> None:
        """Stop the statement running on ``raw`` (it ran past the time bound)."""

    def fetch(self, raw: Any, sql: str, params: Sequence[Any]) -> Awaitable[list[Any]]:
        """The rows of one statement."""

    async def execute(self, raw: Any, sql: str, params: Sequence[Any]) -> Executed:
        """Run one statement that returns no rows."""

    async def execute_many(self, raw: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per row of ``rows``."""

    async def copy_records(
        self, raw: Any, table: str, columns: Sequence[str], records: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``records`` into ``table`` by the driver's fastest bulk path."""

    async def begin(self, raw: Any) -> None: ...

    async def commit(self, raw: Any) -> None: ...

    async def rollback(self, raw: Any) -> None: ...


async def _no_reset(connection: asyncpg.Connection) -> None:
    """asyncpg's pool ``reset`` hook: nothing. The execution layer resets the connections that
    need it (``release(reset=True)``); plain statements leave no session state to undo, and
    asyncpg's default would cost a second round trip on every release."""


class PostgresDriver:
    """asyncpg: its pool, its prepared-statement cache, its ``command_timeout``."""

    dialect: ClassVar[Dialect] = "postgresql"
    bounds_statements: ClassVar[bool] = True

    def __init__(self, target: Target, settings: PoolSettings) -> None:
        parts = urlsplit(target.url)
        self._dsn = urlunsplit(parts._replace(scheme="postgresql"))
        self._settings = settings
        self._pool: Any = None

    async def open(self) -> None:
        s = self._settings
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=s.min_size,
            max_size=s.max_size,
            timeout=s.connect_timeout,
            command_timeout=s.command_timeout,
            reset=_no_reset,
        )

    async def close(self, timeout: float) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await pool.close()
        except TimeoutError:
            pool.terminate()

    def acquire(self) -> Awaitable[Any]:
        acquiring: Awaitable[Any] = self._pool.acquire()
        return acquiring

    def release(self, raw: Any, *, reset: bool) -> Awaitable[Any]:
        if reset:
            return self._reset_and_release(raw)
        releasing: Awaitable[Any] = self._pool.release(raw)
        return releasing

    async def _reset_and_release(self, raw: Any) -> None:
        try:
            if not self.is_lost(raw):
                await raw.reset()
        finally:
            await self._pool.release(raw)

    def discard(self, raw: Any) -> None:
        if not self.is_lost(raw):
            raw.terminate()

    def is_lost(self, raw: Any) -> bool:
        try:
            return bool(raw.is_closed())
        except asyncpg.InterfaceError:
            # The pool took the connection back when it died: the lent proxy is detached.
            return True

    def sizes(self) -> tuple[int, int]:
        pool = self._pool
        return (pool.get_size(), pool.get_idle_size()) if pool is not None else (0, 0)

    def interrupt(self, raw: Any) -> None:
        self.discard(raw)

    def fetch(self, raw: Any, sql: str, params: Sequence[Any]) -> Awaitable[list[Any]]:
        # The driver's own awaitable, not a coroutine around it: one frame less per statement.
        rows: Awaitable[list[Any]] = raw.fetch(sql, *params)
        return rows

    async def execute(self, raw: Any, sql: str, params: Sequence[Any]) -> Executed:
        status: str = await raw.execute(sql, *params)
        last = status.rsplit(" ", 1)[-1]
        return Executed(int(last) if last.isdigit() else 0, None)

    async def execute_many(self, raw: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await raw.executemany(sql, rows)

    async def copy_records(
        self, raw: Any, table: str, columns: Sequence[str], records: Sequence[Sequence[Any]]
    ) -> None:
        await raw.copy_records_to_table(table, records=records, columns=list(columns))

    async def begin(self, raw: Any) -> None:
        await raw.execute("BEGIN")

    async def commit(self, raw: Any) -> None:
        await raw.execute("COMMIT")

    async def rollback(self, raw: Any) -> None:
        await raw.execute("ROLLBACK")


class MySqlDriver:
    """aiomysql (PyMySQL underneath): autocommit connections, a cursor per statement."""

    dialect: ClassVar[Dialect] = "mysql"
    bounds_statements: ClassVar[bool] = False

    def __init__(self, target: Target, settings: PoolSettings) -> None:
        self._target = target
        self._settings = settings
        self._pool: Any = None
        #: ``KILL``s under way of the server threads of interrupted connections.
        self._kills: set[asyncio.Task[None]] = set()

    def _connect_options(self) -> dict[str, Any]:
        t = self._target
        return {
            "host": t.host,
            "port": t.port,
            "user": t.user or "root",
            "password": t.password or "",
            "db": t.database or None,
            "connect_timeout": self._settings.connect_timeout,
            "autocommit": True,
            "charset": "utf8mb4",
            **t.options,
        }

    async def open(self) -> None:
        s = self._settings
        self._pool = await aiomysql.create_pool(
            minsize=s.min_size, maxsize=s.max_size, **self._connect_options()
        )

    async def close(self, timeout: float) -> None:
        if self._kills:
            await asyncio.wait(self._kills, timeout=timeout)
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.close()
        try:
            async with asyncio.timeout(timeout):
                await pool.wait_closed()
        except TimeoutError:
            pool.terminate()
            await pool.wait_closed()

    def acquire(self) -> Awaitable[Any]:
        acquiring: Awaitable[Any] = self._pool.acquire()
        return acquiring

    def release(self, raw: Any, *, reset: bool) -> Awaitable[Any]:
        released: Awaitable[Any] = self._pool.release(raw)  # a done future: it is synchronous
        return released

    def discard(self, raw: Any) -> None:
        raw.close()

    def is_lost(self, raw: Any) -> bool:
        return bool(raw.closed)

    def sizes(self) -> tuple[int, int]:
        pool = self._pool
        return (pool.size, pool.freesize) if pool is not None else (0, 0)

    def interrupt(self, raw: Any) -> None:
        """Close ``raw`` (stopped mid-reply, it cannot be reused), and ``KILL`` its server
        thread from another connection: the server does not notice a closed client while a
        statement waits (for a lock, say), and would then go on with it, and with the rest of
        a batch's text, its ``COMMIT`` included, for a caller told that it timed out."""
        thread = raw.thread_id()
        raw.close()
        kill = asyncio.get_running_loop().create_task(self._kill(thread))
        self._kills.add(kill)
        kill.add_done_callback(self._kills.discard)

    async def _kill(self, thread: int) -> None:
        try:
            async with asyncio.timeout(self._settings.connect_timeout + 1.0):
                other = await aiomysql.connect(**self._connect_options())
                try:
                    async with other.cursor() as cursor:
                        await cursor.execute(_KILL_QUERY, (thread,))
                finally:
                    other.close()
        except aiomysql.Error as exc:
            if exc.args and exc.args[0] == _UNKNOWN_THREAD:
                return  # it had ended already
            log.warning("kill_failed", thread=thread, error=str(exc))
        except (OSError, TimeoutError) as exc:
            log.warning("kill_failed", thread=thread, error=str(exc) or type(exc).__name__)

    async def fetch(self, raw: Any, sql: str, params: Sequence[Any]) -> list[Any]:
        async with raw.cursor() as cursor:
            await cursor.execute(sql, params or None)
            rows: list[Any] = await cursor.fetchall()
            return rows

    async def execute(self, raw: Any, sql: str, params: Sequence[Any]) -> Executed:
        async with raw.cursor() as cursor:
            count = await cursor.execute(sql, params or None)
            return Executed(int(count), cursor.lastrowid)

    async def execute_many(self, raw: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with raw.cursor() as cursor:
            await cursor.executemany(sql, rows)

    async def script(self, raw: Any, text: str) -> list[Result]:
        """The result of every statement of ``text`` (several, without parameters), sent in
        one round trip, in order. The server stops at the first statement that fails, whose
        error is raised: none after it ran."""
        results: list[Result] = []
        async with raw.cursor() as cursor:
            await cursor.execute(text)
            while True:
                rows = list(await cursor.fetchall()) if cursor.description else []
                results.append(Result(rows, int(cursor.rowcount), cursor.lastrowid))
                if not await cursor.nextset():
                    return results

    async def copy_records(
        self, raw: Any, table: str, columns: Sequence[str], records: Sequence[Sequence[Any]]
    ) -> None:
        names = ", ".join(quote(c, "mysql") for c in columns)
        marks = ", ".join("%s" for _ in columns)
        sql = f"INSERT INTO {quote(table, 'mysql')} ({names}) VALUES ({marks})"
        await self.execute_many(raw, sql, records)

    async def begin(self, raw: Any) -> None:
        await raw.begin()

    async def commit(self, raw: Any) -> None:
        await raw.commit()

    async def rollback(self, raw: Any) -> None:
        await raw.rollback()


_SQLITE_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


class SqliteDriver:
    """sqlite3 in a thread of our own (``SqliteThread``): one long-lived connection.

    The execution layer lets single statements share it and gives it alone to transactions;
    the "pool" is that one connection.
    """

    dialect: ClassVar[Dialect] = "sqlite"
    bounds_statements: ClassVar[bool] = False

    def __init__(self, target: Target, settings: PoolSettings) -> None:
        self._path = target.database
        self._settings = settings
        self._thread: SqliteThread | None = None
        self._checkpoints: Checkpoints | None = None

    async def open(self) -> None:
        busy_ms = int(self._settings.connect_timeout * 1000)
        deadline = self._settings.connect_timeout

        def setup(connection: sqlite3.Connection) -> None:
            connection.execute(f"PRAGMA busy_timeout={busy_ms}")
            give_up = time.monotonic() + deadline
            delay = 0.005
            while True:  # switching to WAL wants the file alone and skips the busy handler
                try:
                    connection.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF not in _SQLITE_BUSY:
                        raise
                    if time.monotonic() > give_up:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 0.2)
            connection.execute("PRAGMA synchronous=NORMAL")

        thread = SqliteThread(self._path)
        await thread.open(setup)
        self._thread = thread
        if not sqlite_in_memory(self._path):  # commits no longer pay for the WAL's checkpoints
            self._checkpoints = Checkpoints(self._path)
            self._checkpoints.start()

    async def close(self, timeout: float) -> None:
        checkpoints, self._checkpoints = self._checkpoints, None
        if checkpoints is not None:
            await asyncio.to_thread(checkpoints.stop)
        thread, self._thread = self._thread, None
        if thread is not None:
            async with asyncio.timeout(timeout):
                await thread.close()

    async def acquire(self) -> Any:
        return self._thread

    async def release(self, raw: Any, *, reset: bool) -> None:
        pass  # the execution layer's gate decides who uses the one connection

    def discard(self, raw: Any) -> None:
        pass  # the one connection stays: an interrupted statement leaves it usable

    def is_lost(self, raw: Any) -> bool:
        return self._thread is None

    def sizes(self) -> tuple[int, int]:
        return (1, 1) if self._thread is not None else (0, 0)

    def interrupt(self, raw: SqliteThread) -> None:
        raw.interrupt()

    def fetch(self, raw: SqliteThread, sql: str, params: Sequence[Any]) -> Awaitable[list[Any]]:
        return raw.call(fetch_all, sql, params)

    async def execute(self, raw: SqliteThread, sql: str, params: Sequence[Any]) -> Executed:
        return Executed(*await raw.call(execute, sql, params))

    async def execute_many(
        self, raw: SqliteThread, sql: str, rows: Sequence[Sequence[Any]]
    ) -> None:
        await raw.call(execute_many, sql, rows)

    async def copy_records(
        self, raw: SqliteThread, table: str, columns: Sequence[str], records: Sequence[Any]
    ) -> None:
        names = ", ".join(quote(c, "sqlite") for c in columns)
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {quote(table, 'sqlite')} ({names}) VALUES ({marks})"
        await self.execute_many(raw, sql, records)

    async def in_thread(self, raw: SqliteThread, function: Callable[..., T], *args: Any) -> T:
        """``function(sqlite3_connection, *args)`` in the connection's thread (batched)."""
        return await raw.call(function, *args)

    async def begin(self, raw: SqliteThread) -> None:
        await raw.call(execute, "BEGIN IMMEDIATE", ())

    async def commit(self, raw: SqliteThread) -> None:
        await raw.call(execute, "COMMIT", ())

    async def rollback(self, raw: SqliteThread) -> None:
        await raw.call(execute, "ROLLBACK", ())


DRIVERS: dict[Dialect, Callable[[Target, PoolSettings], Driver]] = {
    "postgresql": PostgresDriver,
    "mysql": MySqlDriver,
    "sqlite": SqliteDriver,
}
