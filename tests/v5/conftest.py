"""Fixtures of the V5EnhancedStore tests: fresh databases on SQLite, PostgreSQL and MariaDB.

Each database test gets a database of its own: a new SQLite file, or a uniquely named
database made with CREATE DATABASE on the servers and dropped afterwards (on PostgreSQL,
emptied and reused by a later test of the run instead: ``tests/spare_databases.py``). When a
server is unreachable its tests are skipped with a loud reason, except under ``CI=true`` where
they fail.
Server addresses can be changed with ``AUTOCODER_TEST_POSTGRES`` / ``AUTOCODER_TEST_MYSQL``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomysql
import asyncpg
import pytest

from tests.spare_databases import empty_for_reuse, take_spare

PG_ADMIN = os.environ.get(
    "AUTOCODER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_ADMIN = os.environ.get("AUTOCODER_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")


def unreachable(kind: str, exc: BaseException) -> None:
    """Skip loudly (or fail under CI=true): the server the test needs is down."""
    message = f"{kind} server unreachable ({type(exc).__name__}: {exc}); V5 {kind} test NOT RUN"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


@dataclass
class Fresh:
    """A fresh database: its URL, dialect, name, and an admin connection to the server."""

    url: str
    dialect: str
    name: str

    async def admin_fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL on an admin connection to the server (outside the store's pool)."""
        if self.dialect == "postgresql":
            conn = await asyncpg.connect(PG_ADMIN)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()
        if self.dialect == "mysql":
            parts = urlsplit(MYSQL_ADMIN)
            conn = await aiomysql.connect(
                host=parts.hostname,
                port=parts.port or 3306,
                user=parts.username or "root",
                password=parts.password or "",
                autocommit=True,
            )
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(sql)
                    return [tuple(r) for r in await cursor.fetchall()]
            finally:
                conn.close()
        raise NotImplementedError(self.dialect)

    async def admin_fetch_in_database(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL on a connection of its own to this (PostgreSQL) database."""
        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()


@asynccontextmanager
async def fresh_database(dialect: str, tmp_path: Path) -> AsyncIterator[Fresh]:
    """A new empty database of ``dialect``, removed afterwards.

    On PostgreSQL, an earlier test's database emptied for reuse serves when there is one, and
    this one is emptied and kept in turn (``tests/spare_databases.py``): CREATE DATABASE costs
    about 0.3 s there, against a few milliseconds on MariaDB.
    """
    name = f"v5_{uuid.uuid4().hex[:12]}"
    if dialect == "sqlite":
        # Relative to the working directory, which the ``cwd`` fixture sets to tmp_path.
        yield Fresh(f"sqlite:///{name}.db", "sqlite", name)
        return
    admin_url = PG_ADMIN if dialect == "postgresql" else MYSQL_ADMIN
    spare = take_spare(admin_url) if dialect == "postgresql" else None
    if spare is not None:
        name = spare
    fresh = Fresh(_with_database(admin_url, name), dialect, name)
    if spare is None:
        try:
            await fresh.admin_fetch(f"CREATE DATABASE {name}")
        except (OSError, asyncpg.PostgresError, aiomysql.Error) as exc:
            unreachable(dialect, exc)
    try:
        yield fresh
    finally:
        if dialect == "postgresql":
            await empty_for_reuse(admin_url, fresh.url, name)
        else:
            await fresh.admin_fetch(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in tmp_path, where relative sqlite:/// files are made."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


DIALECT_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
]
SERVER_PARAMS = DIALECT_PARAMS[1:]


@pytest.fixture(params=DIALECT_PARAMS)
async def fresh(request: pytest.FixtureRequest, cwd: Path) -> AsyncIterator[Fresh]:
    """A fresh database on each of SQLite, PostgreSQL and MariaDB."""
    async with fresh_database(request.param, cwd) as database:
        yield database


@pytest.fixture(params=SERVER_PARAMS)
async def fresh_server(request: pytest.FixtureRequest, cwd: Path) -> AsyncIterator[Fresh]:
    """A fresh database on each of PostgreSQL and MariaDB (pool and outage tests)."""
    async with fresh_database(request.param, cwd) as database:
        yield database


def v5_config(
    fresh: Fresh,
    tables: list[str],
    migrations: list[dict[str, Any]],
    *,
    pool: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A V5EnhancedStore config on ``fresh``."""
    return {
        "database": {
            "type": fresh.dialect,
            "connection_string": fresh.url,
            "connection_pool": pool or {"min_size": 1, "max_size": 4, "timeout": 5},
            "schema": {"tables": tables, "migrations": migrations},
        }
    }
