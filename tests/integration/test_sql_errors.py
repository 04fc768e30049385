"""Driver exceptions become autocoder errors in one place, never carrying a password."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pymysql
import pytest

from autocoder.errors import (
    Conflict,
    DatabaseConnectionError,
    InternalError,
    RolledBack,
    StoreError,
    StoreTimeout,
    Unavailable,
    ValidationFailed,
)
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.errors import CLASSES, class_kind, classify, translate
from tests.conformance.backends import POSTGRESQL_URL, reachable

pytestmark = pytest.mark.anyio


def sqlite_error(cls: type[sqlite3.Error], message: str, code: int) -> sqlite3.Error:
    """A sqlite3 exception as the driver raises it: with its (extended) result code."""
    error = cls(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


#: Driver exceptions, an instance of each, and what it must become.
CASES: list[tuple[BaseException, type[StoreError]]] = [
    (asyncpg.UniqueViolationError("duplicate key"), Conflict),
    (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), StoreTimeout),
    (asyncpg.LockNotAvailableError("canceling statement due to lock timeout"), StoreTimeout),
    (asyncpg.PostgresConnectionError("connection failure"), Unavailable),
    (asyncpg.ConnectionDoesNotExistError("connection was closed"), Unavailable),
    (asyncpg.CannotConnectNowError("the database system is starting up"), Unavailable),
    (asyncpg.AdminShutdownError("terminating connection"), Unavailable),
    (asyncpg.CrashShutdownError("crash"), Unavailable),
    (asyncpg.TooManyConnectionsError("too many clients"), Unavailable),
    (asyncpg.DeadlockDetectedError("deadlock"), RolledBack),
    (asyncpg.SerializationError("could not serialize"), RolledBack),
    (asyncpg.exceptions.StatementCompletionUnknownError("completion unknown"), Unavailable),
    (asyncpg.InternalClientError("cannot switch to state 12; another operation"), Unavailable),
    (asyncpg.InterfaceError("cannot perform operation: another operation"), InternalError),
    (asyncpg.UndefinedTableError("relation does not exist"), InternalError),
    (asyncpg.UntranslatableCharacterError("unsupported Unicode escape"), ValidationFailed),
    (asyncpg.StringDataRightTruncationError("value too long"), ValidationFailed),
    (asyncpg.CharacterNotInRepertoireError("invalid byte sequence"), ValidationFailed),
    (asyncpg.InvalidTextRepresentationError("invalid input syntax"), ValidationFailed),
    (pymysql.err.IntegrityError(1062, "Duplicate entry 'x' for key 'PRIMARY'"), Conflict),
    (pymysql.err.IntegrityError(1048, "Column cannot be null"), InternalError),
    (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), Unavailable),
    (pymysql.err.OperationalError(2006, "MySQL server has gone away"), Unavailable),
    (pymysql.err.OperationalError(2013, "Lost connection to MySQL server"), Unavailable),
    (pymysql.err.OperationalError(1040, "Too many connections"), Unavailable),
    (pymysql.err.OperationalError(1213, "Deadlock found"), RolledBack),
    (pymysql.err.OperationalError(1969, "Query execution was interrupted"), StoreTimeout),
    (pymysql.err.OperationalError(3024, "maximum statement execution time exceeded"), StoreTimeout),
    (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), StoreTimeout),
    (pymysql.err.OperationalError(1045, "Access denied"), InternalError),
    (pymysql.err.InterfaceError(0, ""), Unavailable),
    (pymysql.err.DataError(1406, "Data too long for column 'tenant'"), ValidationFailed),
    (pymysql.err.DataError(1264, "Out of range value"), InternalError),
    (pymysql.err.ProgrammingError(1064, "syntax error"), InternalError),
    (sqlite_error(sqlite3.IntegrityError, "UNIQUE constraint failed: t.k", 2067), Conflict),
    (sqlite_error(sqlite3.IntegrityError, "UNIQUE constraint failed: t.rowid", 1555), Conflict),
    (sqlite_error(sqlite3.IntegrityError, "NOT NULL constraint failed: t.v", 1299), InternalError),
    (sqlite_error(sqlite3.OperationalError, "database is locked", 5), Unavailable),
    (sqlite_error(sqlite3.OperationalError, "database table is locked", 262), Unavailable),
    (sqlite_error(sqlite3.OperationalError, "unable to open database file", 14), Unavailable),
    (sqlite_error(sqlite3.OperationalError, "interrupted", 9), StoreTimeout),
    (sqlite_error(sqlite3.OperationalError, "no such table: tasks", 1), InternalError),
    (sqlite3.ProgrammingError("Cannot operate on a closed database."), InternalError),
    (ConnectionRefusedError(111, "Connection refused"), Unavailable),
    (ConnectionResetError(104, "Connection reset by peer"), Unavailable),
    (OSError(113, "No route to host"), Unavailable),
    (TimeoutError(), StoreTimeout),
]


@pytest.mark.parametrize(("error", "expected"), CASES, ids=lambda c: type(c).__name__)
def test_each_driver_exception_maps_to_its_error(
    error: BaseException, expected: type[StoreError]
) -> None:
    assert classify(error) is expected
    translated = translate(error, "db.example:5432", secret="hunter2")
    assert type(translated) is expected


def test_the_message_text_decides_nothing() -> None:
    # The same class and code with another message maps the same way.
    assert classify(pymysql.err.OperationalError(2006, "")) is Unavailable
    assert classify(asyncpg.UniqueViolationError("")) is Conflict
    assert classify(sqlite3.OperationalError("database is locked")) is InternalError  # no code


def test_a_failure_that_lost_the_connection_is_unavailable() -> None:
    lost = asyncpg.InterfaceError("cannot perform operation: connection is closed")
    assert classify(lost) is InternalError
    assert classify(lost, connection_lost=True) is Unavailable
    # What the code says stays: a conflict on a connection that then died is a conflict.
    assert classify(asyncpg.UniqueViolationError(""), connection_lost=True) is Conflict


def _driver_exception_classes() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in (asyncpg.exceptions, pymysql.err, sqlite3):
        for name in dir(module):
            value = getattr(module, name)
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and not issubclass(value, Warning)  # warnings are logged, never raised at us
            ):
                found.add(value)
    for value in list(found):  # asyncpg's server errors include classes it does not export
        stack = [value]
        while stack:
            cls = stack.pop()
            for sub in cls.__subclasses__():
                if sub not in found and not issubclass(sub, Warning):
                    found.add(sub)
                    stack.append(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


DRIVER_ROOTS = {c for c in CLASSES if c.__module__.split(".")[0] in {"asyncpg", "pymysql"}}
DRIVER_ROOTS |= {c for c in CLASSES if c.__module__ == "sqlite3"}


@pytest.mark.parametrize("cls", _driver_exception_classes(), ids=lambda c: c.__qualname__)
def test_every_driver_exception_class_is_mapped(cls: type[BaseException]) -> None:
    """Each exception class asyncpg, pymysql (aiomysql's) and sqlite3 can raise has an entry in
    the class table (itself or a base of its driver), so none reaches callers unmapped."""
    assert class_kind(cls) is not None, f"{cls.__module__}.{cls.__qualname__} is not mapped"
    assert any(issubclass(cls, root) for root in DRIVER_ROOTS), cls
    try:
        instance = cls("boom")
    except TypeError:
        instance = cls.__new__(cls)
    translated = translate(instance, "db.example:5432", secret="hunter2")
    assert isinstance(translated, StoreError)
    assert "hunter2" not in str(translated)


def test_a_password_in_a_driver_message_is_masked() -> None:
    error = pymysql.err.OperationalError(1045, "Access denied for 'u' using password hunter2")
    message = str(translate(error, "db.example:3306", secret="hunter2"))
    assert "hunter2" not in message
    assert "db.example:3306" in message


async def test_an_unreachable_server_names_host_and_port_not_the_password() -> None:
    for url in ("postgresql://app:hunter2@127.0.0.1:9/db", "mysql://app:hunter2@127.0.0.1:9/db"):
        database = Database(url, timeout=2.0)
        with pytest.raises(DatabaseConnectionError) as caught:
            await database.connect()
        assert "127.0.0.1:9" in str(caught.value)
        assert "hunter2" not in str(caught.value)
        assert "hunter2" not in database.safe_url
        assert not database.connected


async def test_an_sqlite_file_that_cannot_be_opened_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "dir" / "store.db"
    with pytest.raises(DatabaseConnectionError, match=str(path)):
        await Database(f"sqlite:///{path}").connect()


@pytest.mark.postgresql
async def test_a_real_statement_timeout_is_a_timeout() -> None:
    database = await reachable(POSTGRESQL_URL)
    try:
        with pytest.raises(StoreTimeout) as caught:
            async with database.connection() as conn:
                await conn.execute("SET statement_timeout = 50")
                await conn.execute("SELECT pg_sleep(5)")
        assert isinstance(caught.value.__cause__, asyncpg.QueryCanceledError)
    finally:
        await database.disconnect()


async def test_a_real_unique_violation_is_a_conflict(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'u.db'}")
    await database.connect()
    try:
        await database.execute("CREATE TABLE u (k TEXT PRIMARY KEY)")
        await database.execute("INSERT INTO u VALUES (?)", "a")
        with pytest.raises(Conflict) as caught:
            await database.execute("INSERT INTO u VALUES (?)", "a")
        assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
    finally:
        await database.disconnect()
