"""DatabaseSettings: how a store reaches its database, whichever blueprint format named it.

A ``Store`` is configured with ``database_url``, ``pool_max_size``, ``pool_timeout`` and
``command_timeout``; a ``V5EnhancedStore`` with ``database.connection_string`` and
``database.connection_pool.{min_size, max_size, timeout}``. Both configurations become one
``DatabaseSettings`` and both backends open their database from it, so a pool bound or a
timeout means the same thing in both stores:

- ``min_size`` / ``max_size``: the pool's real bounds (SQLite keeps one connection);
- ``pool_timeout``: seconds an operation waits for a connection before it fails as
  ``unavailable`` ("connection pool exhausted"); also the connect timeout of a new connection;
- ``command_timeout``: seconds one statement may run before it fails as ``timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass

from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import Dialect, dialect_of

#: A statement's time bound when the configuration names none (both stores).
DEFAULT_COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """The database, pool bounds and time bounds of one store."""

    url: str
    dialect: Dialect
    min_size: int = 1
    max_size: int = 4
    pool_timeout: float = 5.0
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT

    def __post_init__(self) -> None:
        if self.min_size < 0 or self.max_size < 1 or self.min_size > self.max_size:
            raise ValueError(
                f"invalid pool bounds min_size={self.min_size} max_size={self.max_size}"
            )
        if self.pool_timeout <= 0 or self.command_timeout <= 0:
            raise ValueError("pool_timeout and command_timeout must be positive")
        dialect_of(self.url, self.dialect)  # a ConfigurationError when they disagree

    def database(self) -> Database:
        """A ``Database`` (not yet connected) with these bounds."""
        return Database(
            self.url,
            database_type=self.dialect,
            min_size=self.min_size,
            max_size=self.max_size,
            timeout=self.pool_timeout,
            command_timeout=self.command_timeout,
        )
