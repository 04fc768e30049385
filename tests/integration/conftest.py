"""Fixtures for the database integration tests: a backend on fresh storage of each dialect.

``sql_backend`` is parametrised over SQLite (a file in ``tmp_path``), PostgreSQL and MariaDB
(a uniquely named table, dropped afterwards). Unreachable servers skip loudly, or fail under
``CI=true`` (see ``tests.conformance.backends``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from autocoder.storage.documents.backend import SqlDocumentBackend
from tests.conformance.backends import (
    MYSQL_URL,
    POSTGRESQL_URL,
    drop_table,
    reachable,
    unique_table,
)

Opener = Callable[..., SqlDocumentBackend]


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    ]
)
async def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of each dialect (servers checked reachable)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = POSTGRESQL_URL if request.param == "postgresql" else MYSQL_URL
    probe = await reachable(url)
    await probe.disconnect()
    yield url


@pytest.fixture
async def open_backend(backend_url: str) -> AsyncIterator[Opener]:
    """Opens backends on one fresh table; all are closed and the table dropped at the end."""
    table = unique_table()
    opened: list[SqlDocumentBackend] = []

    def make(**options: Any) -> SqlDocumentBackend:
        backend = SqlDocumentBackend(backend_url, table_name=table, **options)
        opened.append(backend)
        return backend

    try:
        yield make
    finally:
        for backend in opened:
            await backend.close()
        if not backend_url.startswith("sqlite"):
            await drop_table(backend_url, table)


@pytest.fixture
async def backend(open_backend: Opener) -> SqlDocumentBackend:
    backend = open_backend()
    await backend.connect()
    return backend
