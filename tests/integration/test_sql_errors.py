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
    StoreError,
    StoreTimeout,
    Unavailable,
    ValidationFailed,
)
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.errors import MAPPED, classify, translate
from tests.conformance.backends import POSTGRESQL_URL, reachable

pytestmark = pytest.mark.anyio

#: Every driver exception we map, an instance of it, and what it must become.
CASES: list[tuple[BaseException, type[StoreError]]] = [
    (asyncpg.UniqueViolationError("duplicate key"), Conflict),
    (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), StoreTimeout),
    (asyncpg.PostgresConnectionError("connection failure"), Unavailable),
    (asyncpg.ConnectionDoesNotExistError("connection was closed"), Unavailable),
    (asyncpg.CannotConnectNowError("the database system is starting up"), Unavailable),
    (asyncpg.AdminShutdownError("terminating connection"), Unavailable),
    (asyncpg.CrashShutdownError("crash"), Unavailable),
    (asyncpg.TooManyConnectionsError("too many clients"), Unavailable),
    (asyncpg.DeadlockDetectedError("deadlock"), Unavailable),
    (asyncpg.SerializationError("could not serialize"), Unavailable),
    (asyncpg.InternalClientError("cannot switch to state 12; another operation"), Unavailable),
    (asyncpg.InterfaceError("connection is closed"), Unavailable),
    (asyncpg.InterfaceError("cannot perform operation: another operation"), InternalError),
    (asyncpg.UndefinedTableError("relation does not exist"), InternalError),
    (asyncpg.UntranslatableCharacterError("unsupported Unicode escape"), ValidationFailed),
    (asyncpg.StringDataRightTruncationError("value too long"), ValidationFailed),
    (asyncpg.CharacterNotInRepertoireError("invalid byte sequence"), ValidationFailed),
    (pymysql.err.IntegrityError(1062, "Duplicate entry 'x' for key 'PRIMARY'"), Conflict),
    (pymysql.err.IntegrityError(1048, "Column cannot be null"), InternalError),
    (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), Unavailable),
    (pymysql.err.OperationalError(2006, "MySQL server has gone away"), Unavailable),
    (pymysql.err.OperationalError(2013, "Lost connection to MySQL server"), Unavailable),
    (pymysql.err.OperationalError(1040, "Too many connections"), Unavailable),
    (pymysql.err.OperationalError(1969, "Query execution was interrupted"), StoreTimeout),
    (pymysql.err.OperationalError(3024, "maximum statement execution time exceeded"), StoreTimeout),
    (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), StoreTimeout),
    (pymysql.err.InterfaceError(0, ""), Unavailable),
    (pymysql.err.DataError(1406, "Data too long for column 'tenant'"), ValidationFailed),
    (pymysql.err.DataError(1264, "Out of range value"), InternalError),
    (pymysql.err.ProgrammingError(1064, "syntax error"), InternalError),
    (sqlite3.IntegrityError("UNIQUE constraint failed: tasks.tenant, tasks.id"), Conflict),
    (sqlite3.IntegrityError("NOT NULL constraint failed: tasks.data"), InternalError),
    (sqlite3.OperationalError("database is locked"), Unavailable),
    (sqlite3.OperationalError("unable to open database file"), Unavailable),
    (sqlite3.OperationalError("no such table: tasks"), InternalError),
    (sqlite3.ProgrammingError("Cannot operate on a closed database."), Unavailable),
    (ConnectionRefusedError(111, "Connection refused"), Unavailable),
    (ConnectionResetError(104, "Connection reset by peer"), Unavailable),
    (OSError(113, "No route to host"), Unavailable),
    (TimeoutError(), StoreTimeout),
    (ValueError("no active connection"), Unavailable),
    (ValueError("Connection closed"), Unavailable),
]


@pytest.mark.parametrize(("error", "expected"), CASES, ids=lambda c: type(c).__name__)
def test_each_driver_exception_maps_to_its_error(
    error: BaseException, expected: type[StoreError]
) -> None:
    assert classify(error) is expected
    translated = translate(error, "db.example:5432", secret="hunter2")
    assert type(translated) is expected


def test_every_mapped_class_has_a_case() -> None:
    covered = {type(error) for error, _ in CASES}
    missing = [cls.__name__ for cls in MAPPED if not any(issubclass(c, cls) for c in covered)]
    assert missing == []


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
            async with database.connection() as raw:
                await raw.execute("SET statement_timeout = 50")
                await raw.execute("SELECT pg_sleep(5)")
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
