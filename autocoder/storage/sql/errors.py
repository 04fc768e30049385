"""Driver exceptions become ``autocoder.errors`` classes here, and nowhere else.

Every call into a driver runs in ``autocoder.storage.sql.database`` (the one execution path),
and an exception it raises leaves through ``translate()``: a lookup in the tables below, by the
code the driver gives where it gives one, else by exception class. No message text is read.

==========================  ===============================================  =================
driver                      looked up by                                     tables
==========================  ===============================================  =================
asyncpg (PostgreSQL)        SQLSTATE (the exact code, then its class, the    ``PG_SQLSTATE``
                            first two characters), else the class
aiomysql / pymysql (MySQL,  the MySQL error number, else the class           ``MYSQL_ERRNO``
MariaDB)
sqlite3 (SQLite)            ``sqlite_errorcode`` (the extended code, then    ``SQLITE_CODE``
                            the primary one), else the class
every driver                the class, nearest in its MRO first              ``CLASSES``
==========================  ===============================================  =================

What the classes mean to a caller: ``Conflict`` (a key is taken), ``ValidationFailed`` (a value
the column cannot hold), ``StoreTimeout`` (a statement ran past its bound), ``Unavailable``
(the database is down, unreachable, restarting, out of connections), ``RolledBack`` (an
``Unavailable``: the transaction lost a race, a deadlock or a serialization failure, and was
rolled back whole, so it may run again), ``InternalError`` (anything else: a bug or an
unexpected state).

One fact is not in the exception: whether the connection died with it. asyncpg reports
"connection is closed" and "another operation is in progress" as the same ``InterfaceError``,
and aiomysql raises whatever its stream raised; so the caller passes ``connection_lost``
(asked of the driver's connection, never of the message) and a failure that would otherwise be
``InternalError`` is then ``Unavailable``.

Each error is raised ``from`` the driver's exception, and its message never contains the
password (``secret`` is masked wherever it appears). ``autocoder.errors`` classes pass through.
"""

from __future__ import annotations

import sqlite3

import asyncpg
import pymysql  # type: ignore[import-untyped]

from autocoder.errors import (
    AutocoderError,
    Conflict,
    InternalError,
    RolledBack,
    StoreError,
    StoreTimeout,
    Unavailable,
    ValidationFailed,
)

Kind = type[StoreError]

#: PostgreSQL SQLSTATE → error; five characters for one code, two for a whole class.
PG_SQLSTATE: dict[str, Kind] = {
    "23505": Conflict,  # unique_violation
    "57014": StoreTimeout,  # query_canceled: statement_timeout, or asyncpg's command_timeout
    "55P03": StoreTimeout,  # lock_not_available: lock_timeout
    "40001": RolledBack,  # serialization_failure
    "40P01": RolledBack,  # deadlock_detected
    "57P01": Unavailable,  # admin_shutdown: server stop, pg_terminate_backend
    "57P02": Unavailable,  # crash_shutdown
    "57P03": Unavailable,  # cannot_connect_now: starting up / shutting down
    "08": Unavailable,  # connection exceptions
    "53": Unavailable,  # insufficient resources: too many connections, disk full
    "40": Unavailable,  # transaction rollback, of other kinds (completion unknown: 40003)
    "22": ValidationFailed,  # data exceptions: a value the column cannot hold
}

#: MySQL / MariaDB error number → error.
MYSQL_ERRNO: dict[int, Kind] = {
    1062: Conflict,  # ER_DUP_ENTRY
    1586: Conflict,  # ER_DUP_ENTRY_WITH_KEY_NAME
    1366: ValidationFailed,  # ER_TRUNCATED_WRONG_VALUE_FOR_FIELD (bad value, strict mode)
    1406: ValidationFailed,  # ER_DATA_TOO_LONG
    3140: ValidationFailed,  # ER_INVALID_JSON_TEXT
    1028: StoreTimeout,  # ER_FILSORT_ABORT
    1205: StoreTimeout,  # ER_LOCK_WAIT_TIMEOUT
    1317: StoreTimeout,  # ER_QUERY_INTERRUPTED (KILL QUERY)
    1969: StoreTimeout,  # ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
    3024: StoreTimeout,  # ER_QUERY_TIMEOUT (MySQL max_execution_time)
    1040: Unavailable,  # ER_CON_COUNT_ERROR: too many connections
    1053: Unavailable,  # ER_SERVER_SHUTDOWN
    1152: Unavailable,  # ER_ABORTING_CONNECTION
    1158: Unavailable,  # ER_NET_READ_ERROR
    1159: Unavailable,  # ER_NET_READ_INTERRUPTED
    1160: Unavailable,  # ER_NET_ERROR_ON_WRITE
    1161: Unavailable,  # ER_NET_WRITE_INTERRUPTED
    1213: RolledBack,  # ER_LOCK_DEADLOCK: InnoDB rolled the whole transaction back
    1927: Unavailable,  # ER_CONNECTION_KILLED (MariaDB)
    4031: Unavailable,  # ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
    2002: Unavailable,  # CR_CONNECTION_ERROR
    2003: Unavailable,  # CR_CONN_HOST_ERROR
    2005: Unavailable,  # CR_UNKNOWN_HOST
    2006: Unavailable,  # CR_SERVER_GONE_ERROR
    2013: Unavailable,  # CR_SERVER_LOST
    2014: Unavailable,  # CR_COMMANDS_OUT_OF_SYNC (a connection cut mid-statement)
    2055: Unavailable,  # CR_SERVER_LOST_EXTENDED
}

#: SQLite result code → error; extended codes (above 255) before primary ones.
SQLITE_CODE: dict[int, Kind] = {
    1555: Conflict,  # SQLITE_CONSTRAINT_PRIMARYKEY
    2067: Conflict,  # SQLITE_CONSTRAINT_UNIQUE
    5: Unavailable,  # SQLITE_BUSY: another process holds the lock past busy_timeout
    6: Unavailable,  # SQLITE_LOCKED
    10: Unavailable,  # SQLITE_IOERR
    13: Unavailable,  # SQLITE_FULL
    14: Unavailable,  # SQLITE_CANTOPEN
    9: StoreTimeout,  # SQLITE_INTERRUPT: stopped by the statement time bound
    18: ValidationFailed,  # SQLITE_TOOBIG
    20: ValidationFailed,  # SQLITE_MISMATCH
}

#: Exception class → error, for exceptions without a code (or a code none of the above has).
#: Looked up along the exception's MRO, so the nearest class listed wins.
CLASSES: dict[type[BaseException], Kind] = {
    # asyncpg: server errors carry a SQLSTATE; these are the client side's own.
    asyncpg.PostgresError: InternalError,
    asyncpg.InterfaceError: InternalError,  # misuse; Unavailable when the connection is gone
    asyncpg.InternalClientError: Unavailable,  # protocol state after the server cut it off
    asyncpg.exceptions.OutdatedSchemaCacheError: InternalError,
    asyncpg.exceptions.TargetServerAttributeNotMatched: Unavailable,
    # pymysql (aiomysql raises its classes): numbers above, classes for the rest.
    pymysql.err.MySQLError: InternalError,
    pymysql.err.InterfaceError: Unavailable,  # a closed connection (number 0)
    # sqlite3: codes above, classes for the rest.
    sqlite3.Error: InternalError,
    sqlite3.Warning: InternalError,  # not a Python Warning: raised, on misuse
    # the socket layer under every driver, and the drivers' own time limits
    ConnectionError: Unavailable,
    OSError: Unavailable,  # refused, reset, no route, DNS failure
    TimeoutError: StoreTimeout,  # asyncpg command_timeout, connect timeouts
}


def _pg_kind(exc: asyncpg.PostgresError) -> Kind | None:
    code = getattr(exc, "sqlstate", None)
    if not isinstance(code, str):
        return None
    return PG_SQLSTATE.get(code) or PG_SQLSTATE.get(code[:2])


def _mysql_kind(exc: pymysql.err.MySQLError) -> Kind | None:
    args = exc.args
    if args and isinstance(args[0], int):
        return MYSQL_ERRNO.get(args[0])
    return None


def _sqlite_kind(exc: sqlite3.Error) -> Kind | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    return SQLITE_CODE.get(code) or SQLITE_CODE.get(code & 0xFF)


def class_kind(cls: type[BaseException]) -> Kind | None:
    """The error ``CLASSES`` gives exception class ``cls`` (nearest listed base), if any."""
    for base in cls.__mro__:
        kind = CLASSES.get(base)
        if kind is not None:
            return kind
    return None


def classify(exc: BaseException, *, connection_lost: bool = False) -> Kind:
    """The ``autocoder.errors`` class a driver exception stands for."""
    kind: Kind | None = None
    if isinstance(exc, asyncpg.PostgresError):
        kind = _pg_kind(exc)
    elif isinstance(exc, pymysql.err.MySQLError):
        kind = _mysql_kind(exc)
    elif isinstance(exc, sqlite3.Error):
        kind = _sqlite_kind(exc)
    if kind is None:
        kind = class_kind(type(exc)) or InternalError
    if kind is InternalError and connection_lost:
        return Unavailable
    return kind


def mask(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (a password) replaced by ``***``."""
    if secret:
        text = text.replace(secret, "***")
    return text


_WORDS: dict[Kind, str] = {
    Unavailable: "database unavailable",
    StoreTimeout: "statement timed out",
    InternalError: "database error",
}


def translate(
    exc: BaseException, target: str, secret: str | None = None, *, connection_lost: bool = False
) -> StoreError:
    """The ``autocoder.errors`` exception for ``exc``; ``target`` (host:port) names the database.

    An ``autocoder.errors`` exception is returned as it is.
    """
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, AutocoderError):  # not a store error: nothing a reply can carry
        return InternalError(mask(str(exc), secret))
    kind = classify(exc, connection_lost=connection_lost)
    detail = mask(str(exc) or type(exc).__name__, secret)
    if kind is Conflict:
        return Conflict(f"a record with this key exists ({detail})")
    if kind is ValidationFailed:
        return ValidationFailed(f"a value cannot be stored: {detail}")
    return kind(f"{_WORDS.get(kind, 'database error')} at {target}: {detail}")


def pool_exhausted(target: str, max_size: int, timeout: float) -> Unavailable:
    """The error of an operation that got no pooled connection within ``timeout`` seconds."""
    return Unavailable(
        f"connection pool exhausted: no connection to {target} within {timeout:g}s "
        f"(pool max_size {max_size})"
    )


def statement_timed_out(target: str, limit: float) -> StoreTimeout:
    """The error of a statement stopped by the time bound (MySQL, SQLite)."""
    return StoreTimeout(f"statement timed out at {target}: it ran past {limit:g}s")
