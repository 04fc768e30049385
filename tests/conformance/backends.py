"""The database backends the conformance suite runs on besides memory.

Each ``pytest.param`` holds ``make(tmp_path)``, an async context manager yielding a Store config
on fresh storage: SQLite in a new file under ``tmp_path``; PostgreSQL and MariaDB/MySQL on a
uniquely named table of the servers named by ``AUTOCODER_TEST_POSTGRESQL_URL`` and
``AUTOCODER_TEST_MYSQL_URL`` (defaults: this machine's servers), dropped afterwards.

An unreachable server skips its tests with a loud reason, except under ``CI=true``, where it
fails them: CI must never pass by skipping the databases.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autocoder.errors import DatabaseConnectionError
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import quote

POSTGRESQL_URL = os.environ.get(
    "AUTOCODER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("AUTOCODER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


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


async def drop_table(url: str, table: str) -> None:
    """Drop a table the tests made (and its MySQL id counter row)."""
    database = Database(url, min_size=1, max_size=1)
    await database.connect()
    try:
        await database.execute(f"DROP TABLE IF EXISTS {quote(table, database.dialect)}")
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


def backend_params() -> list[Any]:
    """SQLite, PostgreSQL and MariaDB, as ``pytest.param``s of ``make(tmp_path)``."""
    return [
        pytest.param(sqlite_file, id="sqlite"),
        pytest.param(postgresql, id="postgresql", marks=pytest.mark.postgresql),
        pytest.param(mysql, id="mysql", marks=pytest.mark.mysql),
    ]
