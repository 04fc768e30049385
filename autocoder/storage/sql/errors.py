"""Driver exceptions become ``autocoder.errors`` classes here, and nowhere else.

Every database call of the storage layer runs inside ``translate_errors(target, secret)``; an
exception of asyncpg, aiomysql/pymysql, sqlite3/aiosqlite or the socket layer leaves it as:

==========================================  =================  ================================
driver exception                            becomes            why
==========================================  =================  ================================
unique violation (asyncpg 23505, MySQL      ``Conflict``       the id / a unique key is taken
1062/1586, sqlite ``UNIQUE``/``PRIMARY
KEY`` constraint)
refused, reset or lost connections,         ``Unavailable``    the database is down or
``OSError``, asyncpg connection and                            unreachable; retrying later
shutdown errors, MySQL 2002/2003/2006/                         may work
2013/1040/1053, a closed driver
connection, deadlocks and serialization
failures, sqlite ``database is locked``
a pool that gives no connection in time     ``Unavailable``    "connection pool exhausted"
a value the column cannot hold (a string    ``ValidationFailed``  the data, not the database, is
too long, ``\u0000`` in PostgreSQL text,                        at fault: a ``validation_error``
MySQL 1406/1366/3140)
statement timeout (asyncpg 57014 /          ``StoreTimeout``   the statement ran too long
``command_timeout``, MySQL 3024/1969/
1205)
anything else                               ``InternalError``  a bug or an unexpected state
==========================================  =================  ================================

Each is raised ``from`` the driver's exception, and its message never contains the password
(``secret`` is masked wherever it appears). ``autocoder.errors`` classes pass through untouched.
``MAPPED`` lists every driver class handled, for tests and documentation.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pymysql  # type: ignore[import-untyped]

from autocoder.errors import (
    AutocoderError,
    Conflict,
    InternalError,
    StoreError,
    StoreTimeout,
    Unavailable,
    ValidationFailed,
)

_PG_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,  # 57P03: starting up / shutting down
    asyncpg.AdminShutdownError,  # 57P01: pg_terminate_backend, server stop
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    # "cannot switch to state N; another operation is in progress": asyncpg's protocol state
    # after the server killed the connection mid-operation (seen after pg_terminate_backend).
    asyncpg.InternalClientError,
)

#: MySQL/MariaDB error numbers of a connection that failed or went away, or a retryable clash.
MYSQL_UNAVAILABLE = frozenset({1040, 1053, 1213, 2002, 2003, 2005, 2006, 2013, 2014, 2055})
#: MySQL/MariaDB error numbers of a statement stopped by a time limit (1205: lock wait).
MYSQL_TIMEOUT = frozenset({1028, 1205, 1969, 3024})
#: MySQL/MariaDB error numbers of a duplicate key.
MYSQL_DUPLICATE = frozenset({1062, 1586})

_PG_BAD_VALUE: tuple[type[BaseException], ...] = (
    asyncpg.UntranslatableCharacterError,  # 22P05: \u0000 in jsonb/text
    asyncpg.StringDataRightTruncationError,  # 22001: longer than VARCHAR(n)
    asyncpg.CharacterNotInRepertoireError,  # 22021
)
#: MySQL/MariaDB error numbers of a value the column cannot hold.
MYSQL_BAD_VALUE = frozenset({1366, 1406, 3140})

#: Every driver exception class this module maps to something other than ``InternalError``.
MAPPED: dict[type[BaseException], type[StoreError]] = {
    asyncpg.UniqueViolationError: Conflict,
    asyncpg.QueryCanceledError: StoreTimeout,
    **dict.fromkeys(_PG_UNAVAILABLE, Unavailable),
    **dict.fromkeys(_PG_BAD_VALUE, ValidationFailed),
    asyncpg.InterfaceError: Unavailable,  # "connection is closed" (else InternalError)
    pymysql.err.IntegrityError: Conflict,  # errno 1062/1586 (else InternalError)
    pymysql.err.OperationalError: Unavailable,  # MYSQL_UNAVAILABLE (MYSQL_TIMEOUT: timeout)
    pymysql.err.InterfaceError: Unavailable,
    pymysql.err.DataError: ValidationFailed,  # MYSQL_BAD_VALUE (else InternalError)
    sqlite3.IntegrityError: Conflict,  # UNIQUE / PRIMARY KEY constraint (else InternalError)
    sqlite3.OperationalError: Unavailable,  # locked / busy / cannot open (else InternalError)
    sqlite3.ProgrammingError: Unavailable,  # "Cannot operate on a closed database"
    ConnectionError: Unavailable,
    OSError: Unavailable,
    asyncio.TimeoutError: StoreTimeout,
}


def mask(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (a password) replaced by ``***``."""
    if secret:
        text = text.replace(secret, "***")
    return text


def _errno(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def classify(exc: BaseException) -> type[StoreError]:
    """The ``autocoder.errors`` class a driver exception stands for."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Conflict
    if isinstance(exc, asyncpg.QueryCanceledError):
        return StoreTimeout
    if isinstance(exc, _PG_UNAVAILABLE):
        return Unavailable
    if isinstance(exc, _PG_BAD_VALUE):
        return ValidationFailed
    if isinstance(exc, asyncpg.InterfaceError):
        closed = "closed" in str(exc) or "not connected" in str(exc)
        return Unavailable if closed else InternalError
    if isinstance(exc, pymysql.err.IntegrityError):
        return Conflict if _errno(exc) in MYSQL_DUPLICATE else InternalError
    if isinstance(exc, pymysql.err.InterfaceError):
        return Unavailable
    if isinstance(exc, pymysql.err.MySQLError):
        number = _errno(exc)
        if number in MYSQL_BAD_VALUE:
            return ValidationFailed
        if number in MYSQL_TIMEOUT:
            return StoreTimeout
        if number in MYSQL_UNAVAILABLE:
            return Unavailable
        return InternalError
    if isinstance(exc, sqlite3.IntegrityError):
        text = str(exc)
        return Conflict if "UNIQUE" in text or "PRIMARY KEY" in text else InternalError
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        gone = ("locked", "busy", "unable to open", "disk i/o")
        return Unavailable if any(word in text for word in gone) else InternalError
    if isinstance(exc, sqlite3.ProgrammingError):
        return Unavailable if "closed" in str(exc) else InternalError
    if isinstance(exc, TimeoutError):  # before OSError, its base class
        return StoreTimeout
    if isinstance(exc, OSError):  # ConnectionRefusedError, resets, DNS failures
        return Unavailable
    if type(exc) is ValueError and "connection" in str(exc).lower():
        return Unavailable
    return InternalError


_WORDS: dict[type[StoreError], str] = {
    Conflict: "conflict",
    Unavailable: "database unavailable",
    StoreTimeout: "statement timed out",
    InternalError: "database error",
}


def translate(exc: BaseException, target: str, secret: str | None = None) -> StoreError:
    """The ``autocoder.errors`` exception for ``exc``; ``target`` (host:port) names the database."""
    kind = classify(exc)
    detail = mask(str(exc) or type(exc).__name__, secret)
    if kind is Conflict:
        return Conflict(f"a record with this key exists ({detail})")
    if kind is ValidationFailed:
        return ValidationFailed(f"a value cannot be stored: {detail}")
    return kind(f"{_WORDS[kind]} at {target}: {detail}")


def pool_exhausted(target: str, max_size: int, timeout: float) -> Unavailable:
    """The error of an operation that got no pooled connection within ``timeout`` seconds."""
    return Unavailable(
        f"connection pool exhausted: no connection to {target} within {timeout:g}s "
        f"(pool max_size {max_size})"
    )


_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    pymysql.err.MySQLError,
    sqlite3.Error,
    OSError,
    TimeoutError,
)


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from a database driver or the connection under it."""
    if isinstance(exc, AutocoderError):
        return False
    if isinstance(exc, _DRIVER_ERRORS):
        return True
    # aiosqlite raises ValueError("no active connection" / "Connection closed") when closed.
    return type(exc) is ValueError and "connection" in str(exc).lower()


@contextmanager
def translate_errors(target: str, secret: str | None = None) -> Iterator[None]:
    """Run a block, re-raising driver exceptions as ``autocoder.errors`` classes."""
    try:
        yield
    except Exception as exc:
        if not is_driver_error(exc):
            raise
        raise translate(exc, target, secret) from exc
