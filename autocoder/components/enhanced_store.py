"""V5EnhancedStore: a Store over database tables with migrations, schema checks and monitoring.

Configured as docs/v5-enhanced-store.md describes::

    config:
      database:
        type: postgresql
        connection_string: postgresql://app:secret@db:5432/app
        connection_pool: {min_size: 5, max_size: 20, timeout: 30}
        schema:
          tables: [tasks, users]
          migrations:
            - {version: "001", description: Initial schema, sql: "CREATE TABLE …"}
      testing_mode: false

At setup the store connects, applies pending migrations under the migration lock, checks that
every table of ``schema.tables`` exists and reflects their columns; each table is then a
collection of the action protocol (see ``autocoder.storage.tables.backend``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import Field, model_validator

from autocoder.observability.perf import PerformanceMonitor
from autocoder.runtime.component import ComponentConfig
from autocoder.runtime.messages import Reply
from autocoder.storage.backend import StorageBackend
from autocoder.storage.settings import DatabaseSettings
from autocoder.storage.sql.dialects import Dialect, dialect_of
from autocoder.storage.tables.backend import TableBackend
from autocoder.storage.tables.migrations import Migration, MigrationStatus, check_versions
from autocoder.store.messages import IDENTIFIER, parse_message

from .store import (
    Store,
    changes_retention_field,
    in_memory_sqlite,
    max_batch_size_field,
)

#: The SQLite database of ``testing_mode`` when ``connection_string`` is not an sqlite:/// URL.
IN_MEMORY_URL = "sqlite:///:memory:"


class ConnectionPoolConfig(ComponentConfig):
    """``database.connection_pool``: the real pool's bounds and the wait for a connection."""

    min_size: int = Field(default=5, ge=0, le=1000, description="Connections kept open.")
    max_size: int = Field(default=20, ge=1, le=1000, description="Connections at most.")
    timeout: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds to wait for a connection."
    )

    @model_validator(mode="after")
    def _bounds(self) -> ConnectionPoolConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is larger than max_size {self.max_size}")
        return self


class SchemaConfig(ComponentConfig):
    """``database.schema``: the tables served, and the migrations that make them."""

    tables: list[str] = Field(
        min_length=1, description="The tables served as collections; the first is the default."
    )
    migrations: list[Migration] = Field(
        default_factory=list, description="Applied in version order at start-up, once each."
    )

    @model_validator(mode="after")
    def _checks(self) -> SchemaConfig:
        for name in self.tables:
            if re.fullmatch(IDENTIFIER, name) is None:
                raise ValueError(
                    f"table name {name!r} is not an identifier (letters, digits and _,"
                    " starting with a letter or _, at most 63 characters)"
                )
        duplicates = sorted({name for name in self.tables if self.tables.count(name) > 1})
        if duplicates:
            raise ValueError(f"tables listed twice: {', '.join(duplicates)}")
        check_versions(self.migrations)
        return self


class DatabaseConfig(ComponentConfig):
    """``database``: which database, its pool, and its schema."""

    type: Literal["postgresql", "mysql", "sqlite"] | None = Field(
        default=None, description="May be left out: implied by connection_string."
    )
    connection_string: str | None = Field(
        default=None, description="The database URL; required unless testing_mode is true."
    )
    connection_pool: ConnectionPoolConfig = Field(
        default_factory=ConnectionPoolConfig, description="The connection pool's bounds."
    )
    schema_: SchemaConfig = Field(alias="schema", description="The tables and their migrations.")


class V5EnhancedStoreConfig(ComponentConfig):
    """Configuration of a V5EnhancedStore; ``testing_mode`` runs the same schema on SQLite."""

    database: DatabaseConfig = Field(description="Which database, its pool and its schema.")
    testing_mode: bool = Field(
        default=False,
        description="Run on SQLite: connection_string's sqlite:/// file, else in memory.",
    )
    changes_retention: int = changes_retention_field()
    max_batch_size: int = max_batch_size_field()

    @model_validator(mode="after")
    def _database(self) -> V5EnhancedStoreConfig:
        dialect = self.dialect  # raises ValueError for a URL that does not fit the type
        for migration in self.database.schema_.migrations:
            if isinstance(migration.sql, dict) and dialect not in migration.sql:
                given = ", ".join(sorted(migration.sql))
                raise ValueError(
                    f"migration {migration.version} has no sql for {dialect}, the database this"
                    f" store uses (it has: {given})"
                )
        return self

    @property
    def url(self) -> str:
        """The database URL used; testing mode uses SQLite (a sqlite:/// file, or memory)."""
        url = self.database.connection_string
        if self.testing_mode:
            if url is not None and url.lower().startswith("sqlite:"):
                return url
            return IN_MEMORY_URL
        if url is None:
            raise ValueError("database.connection_string is required unless testing_mode is true")
        return url

    @property
    def dialect(self) -> Dialect:
        """The database spoken: SQLite in testing mode, else the type (or the URL's scheme)."""
        if self.testing_mode:
            return "sqlite"
        return dialect_of(self.url, self.database.type)  # a ValueError when they disagree

    def database_settings(self) -> DatabaseSettings:
        """The database and pool of ``database``, in the model a ``Store`` uses too: the pool's
        ``timeout`` is the wait for a connection; statements have the Store's default bound."""
        pool = self.database.connection_pool
        return DatabaseSettings(
            self.url,
            self.dialect,
            min_size=pool.min_size,
            max_size=pool.max_size,
            pool_timeout=pool.timeout,
        )


class V5EnhancedStore(Store):
    """A Store over database tables: migrations, schema validation, pooling, monitoring."""

    Config = V5EnhancedStoreConfig  # type: ignore[assignment]
    description = (
        "Database tables as collections, with migrations, schema and data validation, a "
        "connection pool and performance monitoring."
    )

    performance_monitor: PerformanceMonitor

    def create_monitor(self) -> PerformanceMonitor:
        return PerformanceMonitor()

    @classmethod
    def unshared_state(cls, config: Any) -> str | None:
        return in_memory_sqlite(config.url)

    def create_backend(self) -> StorageBackend:
        config: V5EnhancedStoreConfig = self.config
        schema = config.database.schema_
        return TableBackend(
            config.database_settings(),
            tables=schema.tables,
            migrations=schema.migrations,
            progress=self._migration_progress,
            max_batch_size=config.max_batch_size,
        )

    @property
    def tables(self) -> TableBackend:
        """The backend, typed."""
        backend = self.backend
        assert isinstance(backend, TableBackend)
        return backend

    def _migration_progress(self, line: str) -> None:
        self.log.info("migration", detail=line)

    # -- the V5 methods of docs/v5-enhanced-store.md ---------------------------------------

    async def apply_schema_migrations(self) -> list[str]:
        """Apply pending migrations (setup does this); returns the versions applied."""
        applied = await self.tables.apply_schema_migrations()
        if applied:
            await self.tables.reflect()
        return applied

    async def migration_status(self) -> list[MigrationStatus]:
        """Each migration as applied, pending or changed."""
        return await self.tables.migration_status()

    async def validate_schema_integrity(self) -> dict[str, Any]:
        """Check every table of ``schema.tables`` exists (``DatabaseSchemaValidationError``
        lists the missing ones); returns ``{"valid": True, "tables": [...]}``."""
        return await self.tables.validate_schema_integrity()

    async def store_data_with_validation(
        self, data: dict[str, Any], *, collection: str | None = None, tenant: str = ""
    ) -> Reply:
        """Validate ``data`` against the table's columns and store it.

        Raises ``DataValidationError`` listing every bad field; returns the create reply.
        """
        message: dict[str, Any] = {"action": "create", "data": data, "tenant": tenant}
        if collection is not None:
            message["collection"] = collection
        started = time.perf_counter()
        try:
            reply, changes = await self.actions.execute(parse_message(message))
        except BaseException:
            self.record("create", time.perf_counter() - started, {"status": "error"})
            raise
        await self._publish(changes)
        self.record("create", time.perf_counter() - started, reply)
        return reply

    # -- serving ---------------------------------------------------------------------------

    def get_health_status(self) -> dict[str, Any]:
        health = super().get_health_status()
        health["database_type"] = self.tables.dialect
        summary = self.performance_monitor.get_performance_summary()
        health["performance"] = {k: v for k, v in summary.items() if k != "by_action"}
        return health
