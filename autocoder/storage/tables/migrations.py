"""Schema migrations of a V5EnhancedStore: ordering, checksums, locking, applying, status.

Applied migrations are recorded in ``migration_history`` (version, description, checksum,
applied_at, execution_ms). A run holds a database lock so that several processes starting at
once apply each migration exactly once:

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) for the whole run; each
  migration runs in its own transaction with its history row.
- MySQL/MariaDB: ``GET_LOCK`` for the whole run. DDL commits implicitly there, so a migration
  that fails part-way is reported as such and not recorded; what it already did stays done.
- SQLite: each migration runs in its own ``BEGIN IMMEDIATE`` transaction, which takes the
  database's write lock; inside it the history is read again, so a migration another process
  has just applied is skipped.

A recorded migration whose checksum differs from the blueprint's stops start-up with
``DatabaseSchemaValidationError`` naming the version.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator

from autocoder.errors import DatabaseSchemaValidationError
from autocoder.storage.tables.ddl import DIALECTS, Dialect, RawSession, translate

HISTORY_TABLE = "migration_history"
LOCK_NAME = "autocoder_migrations"
#: The PostgreSQL advisory lock key: the first 63 bits of sha-256("autocoder_migrations").
ADVISORY_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big") >> 1
#: How long a process waits for another one's migrations before giving up.
LOCK_TIMEOUT_SECONDS = 300.0

MigrationState = Literal["applied", "pending", "changed"]
Progress = Callable[[str], None]


class Migration(BaseModel):
    """One migration of ``schema.migrations``: ``sql`` is a string or a mapping by dialect."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(
        min_length=1, max_length=255, description='Its order: "2" runs before "10".'
    )
    description: str = Field(default="", max_length=1000, description="What it does.")
    sql: str | dict[Dialect, str] = Field(
        description="The SQL, or a mapping of postgresql, mysql, sqlite to SQL."
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("sql")
    @classmethod
    def _sql_not_empty(cls, value: str | dict[Dialect, str]) -> str | dict[Dialect, str]:
        texts = value.values() if isinstance(value, dict) else [value]
        if not value or any(not text.strip() for text in texts):
            raise ValueError("migration sql must not be empty")
        return value

    def sql_for(self, dialect: Dialect) -> str:
        """The SQL run on ``dialect``: its mapping entry, or the string translated."""
        if isinstance(self.sql, dict):
            try:
                return self.sql[dialect]
            except KeyError:
                given = ", ".join(sorted(self.sql))
                raise DatabaseSchemaValidationError(
                    f"migration {self.version} has no sql for {dialect} (it has: {given})"
                ) from None
        return translate(self.sql, dialect)

    def checksum(self, dialect: Dialect) -> str:
        """sha-256 hex of the SQL as written (of the dialect's entry for a mapping)."""
        text = self.sql_for(dialect) if isinstance(self.sql, dict) else self.sql
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order: digit runs compare as numbers (``"2"`` < ``"10"``, ``"1.2"`` < ``"1.10"``)."""
    parts = re.findall(r"\d+|\D+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def check_versions(migrations: Sequence[Migration]) -> list[Migration]:
    """The migrations in natural version order; two versions that order equally are an error."""
    ordered = sorted(migrations, key=lambda m: version_key(m.version))
    for before, after in itertools.pairwise(ordered):
        if version_key(before.version) == version_key(after.version):
            raise ValueError(
                f"migration versions {before.version!r} and {after.version!r} are the same version"
            )
    return ordered


@dataclass(frozen=True)
class MigrationStatus:
    """Where one migration of the blueprint stands in a database."""

    version: str
    description: str
    state: MigrationState
    applied_at: str | None = None


@dataclass(frozen=True)
class _Recorded:
    checksum: str
    applied_at: str


def _history_ddl(dialect: Dialect) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ("
        " version VARCHAR(255) NOT NULL PRIMARY KEY,"
        " description VARCHAR(1000) NOT NULL,"
        " checksum CHAR(64) NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " execution_ms DOUBLE PRECISION NOT NULL)"
    )


class MigrationRunner:
    """Applies and reports the migrations of one store on one raw connection."""

    def __init__(
        self,
        session: RawSession,
        migrations: Sequence[Migration],
        *,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.session = session
        self.dialect: Dialect = session.dialect
        self.migrations = check_versions(migrations)
        self.lock_timeout = lock_timeout

    async def status(self) -> list[MigrationStatus]:
        """Each migration as applied, pending or changed (nothing is written)."""
        recorded = await self._recorded() if await self._history_exists() else {}
        return [self._status(migration, recorded) for migration in self.migrations]

    async def apply(self, progress: Progress | None = None) -> list[str]:
        """Apply every pending migration under the lock; returns the versions applied."""
        say = progress or (lambda _line: None)
        applied: list[str] = []
        async with self._lock():
            if self.dialect == "sqlite":
                await self._sqlite_create_history()
            elif not await self._history_exists():  # MySQL warns on IF NOT EXISTS
                await self.session.execute(_history_ddl(self.dialect))
            recorded = await self._recorded()
            self._refuse_changed(recorded)
            for migration in self.migrations:
                if migration.version in recorded:
                    continue
                if await self._apply_one(migration, say):
                    applied.append(migration.version)
        return applied

    # -- one migration ---------------------------------------------------------------------

    async def _apply_one(self, migration: Migration, say: Progress) -> bool:
        session = self.session
        sql = migration.sql_for(self.dialect)
        transactional = self.dialect != "mysql"
        if transactional:
            await session.begin(immediate=True)
        try:
            if self.dialect == "sqlite":
                # Another process may have applied it while we waited for the write lock.
                recorded = await self._recorded()
                self._refuse_changed(recorded)
                if migration.version in recorded:
                    await session.commit()
                    return False
            say(f"applying migration {migration.version}: {migration.description}".rstrip(": "))
            started = time.perf_counter()
            try:
                await session.run_script(sql)
            except Exception as exc:
                detail = _one_line(exc)
                if self.dialect == "mysql":
                    detail += (
                        " (MySQL commits DDL as it runs: statements before the failing one stay"
                        " applied; the migration was not recorded)"
                    )
                raise DatabaseSchemaValidationError(
                    f"migration {migration.version} failed: {detail}"
                ) from exc
            elapsed_ms = (time.perf_counter() - started) * 1000
            await session.execute(
                f"INSERT INTO {HISTORY_TABLE} (version, description, checksum, execution_ms)"
                " VALUES (?, ?, ?, ?)",
                migration.version,
                migration.description,
                migration.checksum(self.dialect),
                elapsed_ms,
            )
            if transactional:
                await session.commit()
        except BaseException:
            if transactional:
                with anyio.CancelScope(shield=True):
                    await _quietly(session.rollback())
            raise
        say(f"applied migration {migration.version} in {elapsed_ms:.1f} ms")
        return True

    # -- history ---------------------------------------------------------------------------

    async def _sqlite_create_history(self) -> None:
        await self.session.begin(immediate=True)
        try:
            await self.session.execute(_history_ddl(self.dialect))
            await self.session.commit()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await _quietly(self.session.rollback())
            raise

    async def _history_exists(self) -> bool:
        if self.dialect == "sqlite":
            rows = await self.session.fetch(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", HISTORY_TABLE
            )
        elif self.dialect == "postgresql":
            rows = await self.session.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name = ?",
                HISTORY_TABLE,
            )
        else:
            rows = await self.session.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = DATABASE() AND table_name = ?",
                HISTORY_TABLE,
            )
        return bool(rows)

    async def _recorded(self) -> dict[str, _Recorded]:
        rows = await self.session.fetch(
            f"SELECT version, checksum, applied_at FROM {HISTORY_TABLE}"
        )
        return {
            str(version): _Recorded(str(checksum).strip(), str(applied_at))
            for version, checksum, applied_at in rows
        }

    def _status(self, migration: Migration, recorded: dict[str, _Recorded]) -> MigrationStatus:
        entry = recorded.get(migration.version)
        if entry is None:
            state: MigrationState = "pending"
        elif entry.checksum != migration.checksum(self.dialect):
            state = "changed"
        else:
            state = "applied"
        return MigrationStatus(
            migration.version,
            migration.description,
            state,
            entry.applied_at if entry is not None else None,
        )

    def _refuse_changed(self, recorded: dict[str, _Recorded]) -> None:
        changed = [
            m.version
            for m in self.migrations
            if m.version in recorded and recorded[m.version].checksum != m.checksum(self.dialect)
        ]
        if changed:
            listing = ", ".join(changed)
            noun = "migration" if len(changed) == 1 else "migrations"
            raise DatabaseSchemaValidationError(
                f"{noun} {listing} changed after being applied (the sql's checksum differs from"
                f" the one recorded in {HISTORY_TABLE}); restore the applied sql and add a new"
                " migration instead"
            )

    # -- the lock --------------------------------------------------------------------------

    @asynccontextmanager
    async def _lock(self) -> AsyncIterator[None]:
        if self.dialect == "sqlite":
            yield  # each migration takes SQLite's write lock itself
            return
        key: int | str
        if self.dialect == "postgresql":
            take, give, key = (
                "SELECT pg_try_advisory_lock(?)",
                "SELECT pg_advisory_unlock(?)",
                ADVISORY_KEY,
            )
        else:
            rows = await self.session.fetch("SELECT DATABASE()")
            key_text = f"{LOCK_NAME}:{rows[0][0]}"[:64]
            take, give, key = "SELECT GET_LOCK(?, 0)", "SELECT RELEASE_LOCK(?)", key_text
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        while True:
            rows = await self.session.fetch(take, key)
            if rows and rows[0][0] in (True, 1):
                break
            if time.monotonic() > deadline:
                raise DatabaseSchemaValidationError(
                    f"timed out after {self.lock_timeout:g}s waiting for the migration lock"
                    " held by another process"
                )
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await _quietly(self.session.fetch(give, key))


async def _quietly(awaitable: Any) -> None:
    with suppress(Exception):
        await awaitable


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


__all__ = [
    "DIALECTS",
    "HISTORY_TABLE",
    "Migration",
    "MigrationRunner",
    "MigrationStatus",
    "check_versions",
    "version_key",
]
