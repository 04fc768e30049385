"""The database backends the conformance suite runs on besides memory.

Each ``pytest.param`` holds ``make(tmp_path)``, an async context manager yielding a Store config
on fresh storage: SQLite in a new file under ``tmp_path``; PostgreSQL and MariaDB/MySQL on a
uniquely named table of the servers named by ``AUTOCODER_TEST_POSTGRESQL_URL`` and
``AUTOCODER_TEST_MYSQL_URL`` (defaults: this machine's servers), dropped afterwards.

The same three databases also serve the suite through a V5EnhancedStore (ids ``v5-sqlite``,
``v5-postgresql``, ``v5-mysql``): each test gets a fresh table made by a migration of the
store's own blueprint config (a version unique to the table, removed from
``migration_history`` afterwards). The suite writes arbitrary fields whose JSON type varies from
record to record (``done`` is ``true``, ``1`` and ``"true"`` in one test), nested arrays and
objects, and expects a record to hold exactly the fields written, so the table is a document
table: the key ``id``, ``tenant_id`` (the primary key is ``(tenant_id, id)``, so two tenants
may use one id), an integer ``version``, a database-generated ``seq`` giving creation order
(SQLite's rowid serves there), and the whole record in a JSON ``data`` column. Tables with one
column per field are tested in ``tests/v5``.

Every one of them runs twice: on the stores' defaults, where concurrent writes are committed
together (group commit, ``max_batch_size`` 100), and with ``max_batch_size: 1``, every write
in a transaction of its own (ids ending ``-unbatched``).

An unreachable server skips its tests with a loud reason, except under ``CI=true``, where it
fails them: CI must never pass by skipping the databases.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from autocoder.components.enhanced_store import V5EnhancedStore
from autocoder.components.store import Store
from autocoder.errors import DatabaseConnectionError
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import quote

POSTGRESQL_URL = os.environ.get(
    "AUTOCODER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("AUTOCODER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


MakeConfig = Callable[[Path], contextlib.AbstractAsyncContextManager[dict[str, Any]]]


def unique_table(prefix: str = "t") -> str:
    """A table name no other test (or engineer) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


async def reachable(url: str) -> Database:
    """A connected ``Database`` at ``url``; skips the test (fails it under CI=true) when down."""
    database = Database(url, min_size=1, max_size=2, timeout=5.0)
    try:
        await database.connect()
    except DatabaseConnectionError as exc:
        message = f"DATABASE SERVER UNREACHABLE, test not run: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: a missing server is a failure)")
        pytest.skip(message)
    return database


async def forget_changes(database: Database, collection: str) -> None:
    """Remove a test collection's seq counter and change history rows."""
    with contextlib.suppress(Exception):  # the change tables may not exist yet
        await database.execute("DELETE FROM autocoder_changes WHERE collection = ?", collection)
        await database.execute("DELETE FROM autocoder_changes_seq WHERE collection = ?", collection)


async def drop_table(url: str, table: str) -> None:
    """Drop a table the tests made (and its MySQL id counter row, seq and change history)."""
    database = Database(url, min_size=1, max_size=1)
    await database.connect()
    try:
        await database.execute(f"DROP TABLE IF EXISTS {quote(table, database.dialect)}")
        await forget_changes(database, table)
        if database.dialect == "mysql":
            with contextlib.suppress(Exception):  # the counters table may not exist yet
                await database.execute(
                    "DELETE FROM autocoder_id_counters WHERE table_name = ?", table
                )
    finally:
        await database.disconnect()


@contextlib.asynccontextmanager
async def server_table(url: str) -> AsyncIterator[dict[str, Any]]:
    """A Store config on a fresh table of the server at ``url``, dropped afterwards."""
    probe = await reachable(url)
    await probe.disconnect()
    table = unique_table()
    try:
        yield {"storage_type": "database", "database_url": url, "table_name": table}
    finally:
        await drop_table(url, table)


@contextlib.asynccontextmanager
async def sqlite_file(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A Store config on a new SQLite file in ``tmp_path``."""
    path = tmp_path / f"{unique_table('store')}.db"
    yield {"storage_type": "database", "database_url": f"sqlite:///{path}", "table_name": "tasks"}


def postgresql(_tmp_path: Path) -> contextlib.AbstractAsyncContextManager[dict[str, Any]]:
    return server_table(POSTGRESQL_URL)


def mysql(_tmp_path: Path) -> contextlib.AbstractAsyncContextManager[dict[str, Any]]:
    return server_table(MYSQL_URL)


#: The conformance table of a V5EnhancedStore, per dialect (``{table}`` is its name).
V5_TABLE_SQL = {
    "postgresql": (
        "CREATE TABLE {table} (tenant_id VARCHAR(255) NOT NULL DEFAULT '',"
        " id VARCHAR(255) NOT NULL, version INTEGER NOT NULL DEFAULT 1,"
        " seq BIGSERIAL NOT NULL, data JSONB NOT NULL, PRIMARY KEY (tenant_id, id))"
    ),
    "mysql": (
        "CREATE TABLE {table} (tenant_id VARCHAR(255) NOT NULL DEFAULT '',"
        " id VARCHAR(255) NOT NULL, version INTEGER NOT NULL DEFAULT 1,"
        " seq BIGINT NOT NULL AUTO_INCREMENT UNIQUE, data JSON NOT NULL,"
        " PRIMARY KEY (tenant_id, id)) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ),
    "sqlite": (
        "CREATE TABLE {table} (tenant_id TEXT NOT NULL DEFAULT '', id TEXT NOT NULL,"
        " version INTEGER NOT NULL DEFAULT 1, data JSON NOT NULL, PRIMARY KEY (tenant_id, id))"
    ),
}


def v5_config(url: str, dialect: str, table: str) -> dict[str, Any]:
    """A V5EnhancedStore config whose one migration makes the conformance ``table``."""
    return {
        "database": {
            "type": dialect,
            "connection_string": url,
            "connection_pool": {"min_size": 1, "max_size": 4, "timeout": 5},
            "schema": {
                "tables": [table],
                "migrations": [
                    {
                        "version": f"conformance-{table}",
                        "description": "a conformance test's table",
                        "sql": {dialect: V5_TABLE_SQL[dialect].format(table=table)},
                    }
                ],
            },
        }
    }


async def forget_v5_table(url: str, table: str) -> None:
    """Drop a V5 conformance table and its row in ``migration_history``."""
    database = Database(url, min_size=1, max_size=1)
    await database.connect()
    try:
        await database.execute(f"DROP TABLE IF EXISTS {quote(table, database.dialect)}")
        await database.execute(
            "DELETE FROM migration_history WHERE version = ?", f"conformance-{table}"
        )
        await forget_changes(database, table)
    finally:
        await database.disconnect()


@contextlib.asynccontextmanager
async def v5_server_table(url: str, dialect: str) -> AsyncIterator[dict[str, Any]]:
    """A V5EnhancedStore config on a fresh table of the server at ``url``, removed afterwards."""
    probe = await reachable(url)
    await probe.disconnect()
    table = unique_table("v5")
    try:
        yield v5_config(url, dialect, table)
    finally:
        await forget_v5_table(url, table)


@contextlib.asynccontextmanager
async def v5_sqlite_file(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A V5EnhancedStore config on a new SQLite file in ``tmp_path``."""
    path = tmp_path / f"{unique_table('v5')}.db"
    yield v5_config(f"sqlite:///{path}", "sqlite", "records")


def v5_postgresql(_tmp_path: Path) -> contextlib.AbstractAsyncContextManager[dict[str, Any]]:
    return v5_server_table(POSTGRESQL_URL, "postgresql")


def v5_mysql(_tmp_path: Path) -> contextlib.AbstractAsyncContextManager[dict[str, Any]]:
    return v5_server_table(MYSQL_URL, "mysql")


for _make in (v5_sqlite_file, v5_postgresql, v5_mysql):
    _make.component = V5EnhancedStore  # type: ignore[attr-defined]


def unbatched(make: MakeConfig) -> MakeConfig:
    """``make`` with group commit turned off (``max_batch_size: 1``)."""

    @contextlib.asynccontextmanager
    async def made(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
        async with make(tmp_path) as config:
            yield {**config, "max_batch_size": 1}

    made.component = getattr(make, "component", None) or Store  # type: ignore[attr-defined]
    return made


def backend_params() -> list[Any]:
    """SQLite, PostgreSQL and MariaDB under a Store and under a V5EnhancedStore, each with
    group commit on (the default) and off, as ``pytest.param``s of ``make(tmp_path)``."""
    makers: list[tuple[MakeConfig, str, Any]] = [
        (sqlite_file, "sqlite", ()),
        (postgresql, "postgresql", pytest.mark.postgresql),
        (mysql, "mysql", pytest.mark.mysql),
        (v5_sqlite_file, "v5-sqlite", ()),
        (v5_postgresql, "v5-postgresql", pytest.mark.postgresql),
        (v5_mysql, "v5-mysql", pytest.mark.mysql),
    ]
    params = [pytest.param(make, id=name, marks=marks) for make, name, marks in makers]
    params += [
        pytest.param(unbatched(make), id=f"{name}-unbatched", marks=marks)
        for make, name, marks in makers
    ]
    return params
