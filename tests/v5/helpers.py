"""Helpers of the V5 tests: opening stores, and the schemas they use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from autocoder.components.enhanced_store import V5EnhancedStore
from tests.v5.conftest import Fresh, v5_config

TASKS = {
    "version": "001",
    "description": "tasks",
    "sql": (
        "CREATE TABLE tasks (\n"
        "  id SERIAL PRIMARY KEY,\n"
        "  title VARCHAR(20) NOT NULL,\n"
        "  completed BOOLEAN DEFAULT FALSE,\n"
        "  score REAL,\n"
        "  due TIMESTAMP,\n"
        "  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP\n"
        ");"
    ),
}
USERS = {
    "version": "002",
    "description": "users, versioned and per tenant",
    "sql": (
        "CREATE TABLE users (\n"
        "  id SERIAL PRIMARY KEY,\n"
        "  tenant_id VARCHAR(255) NOT NULL DEFAULT '',\n"
        "  email VARCHAR(255) UNIQUE NOT NULL,\n"
        "  name VARCHAR(100),\n"
        "  version INTEGER NOT NULL DEFAULT 1\n"
        ");"
    ),
}
NOTES = {
    "version": "003",
    "description": "notes: whole documents",
    "sql": "CREATE TABLE notes (id VARCHAR(64) PRIMARY KEY, data JSONB);",
}
ALL = [TASKS, USERS, NOTES]


@asynccontextmanager
async def opened(
    fresh: Fresh,
    tables: list[str] | None = None,
    migrations: list[dict[str, Any]] | None = None,
    *,
    pool: dict[str, Any] | None = None,
    name: str = "store",
) -> AsyncIterator[V5EnhancedStore]:
    """A V5EnhancedStore set up on ``fresh`` (cleaned up afterwards)."""
    config = v5_config(
        fresh,
        tables if tables is not None else ["tasks", "users", "notes"],
        migrations if migrations is not None else ALL,
        pool=pool,
    )
    store = V5EnhancedStore(name, config)
    try:
        await store.setup()
        yield store
    finally:
        await store.cleanup()


async def history(store: V5EnhancedStore) -> list[tuple[Any, ...]]:
    """The rows of migration_history, by version."""
    async with store.tables.session() as session:
        return await session.fetch(
            "SELECT version, description, checksum, execution_ms FROM migration_history"
            " ORDER BY applied_at, version"
        )
