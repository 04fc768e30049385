"""Database storage for the basic ``Store``: one document table on PostgreSQL, MySQL or SQLite.

``SqlDocumentBackend(url, database_type=None, table_name="tasks")`` keeps each record as one
row (see ``document_sql`` for the layout). At ``connect()`` the table is created when missing;
an existing table with another layout stops start-up with ``DatabaseSchemaValidationError``
naming what differs. Every operation runs pre-written SQL on a pooled driver connection
(``document_ops``); ``transaction()`` runs a batch on one connection inside BEGIN … COMMIT;
``create_many`` is the bulk path for a batch made only of creates.

Generated ids are decimal strings that are never reused, across restarts and across processes
sharing the database: PostgreSQL takes them from the table's ``seq`` sequence, SQLite from its
AUTOINCREMENT counter (``sqlite_sequence``), MySQL from a row of ``autocoder_id_counters``
updated atomically. A generated id already chosen by a client in the tenant is skipped.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from autocoder.errors import (
    BulkConflict,
    ConfigurationError,
    Conflict,
    DatabaseSchemaValidationError,
)
from autocoder.storage.backend import (
    CollectionInfo,
    ListQuery,
    Operations,
    Record,
    StorageBackend,
)
from autocoder.storage.documents.operations import (
    DocumentOps,
    MySqlOps,
    PostgresOps,
    SqliteOps,
    dumps,
)
from autocoder.storage.documents.statements import (
    KEY,
    LAYOUT,
    MYSQL_COUNTERS,
    DocumentSql,
    create_counters,
    create_table,
)
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import check_identifier, quote
from autocoder.storage.sql.errors import is_driver_error
from autocoder.storage.sql.watchdog import Watchdog

_OPS: dict[str, type[DocumentOps]] = {
    "postgresql": PostgresOps,
    "mysql": MySqlOps,
    "sqlite": SqliteOps,
}


class SqlDocumentBackend(StorageBackend):
    """Records as rows of one table, in PostgreSQL, MySQL/MariaDB or SQLite."""

    storage_type = "database"

    def __init__(
        self,
        url: str,
        *,
        database_type: str | None = None,
        table_name: str = "tasks",
        pool_min_size: int = 1,
        pool_max_size: int = 4,
        pool_timeout: float = 5.0,
        command_timeout: float | None = 30.0,
    ) -> None:
        try:
            self.table_name = check_identifier(table_name, "table_name")
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        self.db = Database(
            url,
            database_type=database_type,
            min_size=pool_min_size,
            max_size=pool_max_size,
            timeout=pool_timeout,
            command_timeout=command_timeout,
        )
        self.dialect = self.db.dialect
        #: How many operations the Store may run at once: one per pooled connection.
        self.concurrency = pool_max_size
        self.mariadb = False
        self._sql = DocumentSql(self.dialect, self.table_name)
        self.statements = self._sql.statements()
        self._ops_class = _OPS[self.dialect]
        self._shared = self.dialect == "sqlite"
        # asyncpg enforces command_timeout itself; aiomysql has no read timeout, so the
        # backend bounds each MySQL operation (SQLite is local: no network to wait on).
        self._watchdog = (
            Watchdog(command_timeout) if self.dialect == "mysql" and command_timeout else None
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.db.connect()
        try:
            if self.dialect == "postgresql":
                # Stores starting at once on a new table: one creates it, the others wait.
                async with self.db.transaction() as raw:
                    await raw.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1))", "autocoder:" + self.table_name
                    )
                    await self._prepare(raw)
            else:
                async with self.db.connection() as raw:
                    await self._prepare(raw)
        except BaseException:
            await self.db.disconnect()
            raise

    async def _prepare(self, raw: Any) -> None:
        if self.dialect == "mysql":
            version = await self._fetch(raw, "SELECT VERSION()")
            self.mariadb = "mariadb" in str(version[0][0]).lower()
            # "already exists" notes (another process created it first) are not warnings here.
            await self._fetch(raw, "SET SESSION sql_notes = 0")
        if not await self._columns(raw):
            for statement in create_table(self.dialect, self.table_name):
                await self._fetch(raw, statement)
        self._check_layout(await self._columns(raw), await self._key(raw))
        if self.dialect == "postgresql":
            rows = await raw.fetch(
                "SELECT pg_get_serial_sequence($1, 'seq')", quote(self.table_name, "postgresql")
            )
            self._sql.pg_sequence = rows[0][0]
        elif self.dialect == "mysql":
            if not await self._fetch(raw, "SHOW TABLES LIKE %s", MYSQL_COUNTERS):
                await self._fetch(raw, create_counters())
            await self._fetch(raw, self.statements.counter_row, self.table_name)
            await self._fetch(raw, "SET SESSION sql_notes = 1")
        self._sql.mariadb = self.mariadb
        self.statements = self._sql.statements()

    async def _fetch(self, raw: Any, sql: str, *args: Any) -> list[Any]:
        if self.dialect == "postgresql":
            return list(await raw.fetch(sql.replace("%s", "$1"), *args))
        if self.dialect == "mysql":
            async with raw.cursor() as cursor:
                await cursor.execute(sql, args or None)
                return list(await cursor.fetchall())
        return list(await raw.execute_fetchall(sql.replace("%s", "?"), args))

    async def _columns(self, raw: Any) -> dict[str, str]:
        if self.dialect == "sqlite":
            rows = await self._fetch(raw, f"PRAGMA table_info({quote(self.table_name, 'sqlite')})")
            return {row[1]: str(row[2]).lower() for row in rows}
        schema = "current_schema()" if self.dialect == "postgresql" else "DATABASE()"
        rows = await self._fetch(
            raw,
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = {schema} AND table_name = %s",
            self.table_name,
        )
        return {str(row[0]): str(row[1]).lower() for row in rows}

    async def _key(self, raw: Any) -> tuple[str, ...]:
        if self.dialect == "sqlite":
            rows = await self._fetch(raw, f"PRAGMA table_info({quote(self.table_name, 'sqlite')})")
            return tuple(row[1] for row in sorted(rows, key=lambda r: r[5]) if row[5])
        if self.dialect == "postgresql":
            rows = await raw.fetch(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey, a.attnum)",
                quote(self.table_name, "postgresql"),
            )
            return tuple(row[0] for row in rows)
        rows = await self._fetch(
            raw,
            "SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = "
            "DATABASE() AND table_name = %s AND constraint_name = 'PRIMARY' "
            "ORDER BY ordinal_position",
            self.table_name,
        )
        return tuple(str(row[0]) for row in rows)

    def _check_layout(self, columns: dict[str, str], key: tuple[str, ...]) -> None:
        expected = LAYOUT[self.dialect]
        problems: list[str] = []
        missing = [name for name in expected if name not in columns]
        if missing:
            problems.append(
                "missing column" + ("s " if len(missing) > 1 else " ") + ", ".join(missing)
            )
        for name, types in expected.items():
            actual = columns.get(name)
            if actual is not None and actual not in types:
                problems.append(f"column {name} is {actual}, expected {types[0]}")
        if key != KEY[self.dialect]:
            problems.append(
                f"primary key is ({', '.join(key)}), expected ({', '.join(KEY[self.dialect])})"
            )
        if problems:
            raise DatabaseSchemaValidationError(
                f"table {self.table_name!r} in {self.db.host_port} exists with another layout: "
                + "; ".join(problems)
            )

    async def close(self) -> None:
        if self._watchdog is not None:
            await self._watchdog.close()
        await self.db.disconnect()

    # -- facts -----------------------------------------------------------------------------

    def collections(self) -> list[CollectionInfo]:
        return [CollectionInfo(self.table_name)]

    @property
    def connected(self) -> bool:
        return self.db.connected

    def health(self) -> dict[str, Any]:
        if not self.db.connected:  # no traffic may come until health is good: look again
            self.db.probe_soon()
        return {
            "store_connected": self.db.connected,
            "database_type": self.dialect,
            "table_name": self.table_name,
        }

    def pool_stats(self) -> dict[str, int]:
        """Pooled connections by state, for ``autocoder_db_pool_connections{state}``."""
        stats = self.db.pool_stats()
        return {"in_use": stats.in_use, "idle": stats.idle}

    async def count(self, collection: str) -> int:
        async with self.db.connection() as raw:
            rows = await self._fetch(raw, self.statements.count)
        return int(rows[0][0])

    # -- operations ------------------------------------------------------------------------

    def transaction(self) -> AbstractAsyncContextManager[Operations]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Operations]:
        async with self.db.transaction() as raw:
            yield self._ops_class(self, raw)

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        db = self.db
        shared = self._shared  # SQLite: single statements share its one connection
        raw = await (db.acquire_shared() if shared else db.acquire())
        try:
            operation = getattr(self._ops_class(self, raw), method)
            if self._watchdog is None:
                result = await operation(*args, **kwargs)
            else:
                result = await self._bounded(raw, operation(*args, **kwargs))
            db.mark_clean(raw)  # single statements, no session state: skip asyncpg's reset
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            raise db.error(exc) from exc
        finally:
            await (db.release_shared(raw) if shared else db.release(raw))
        db.connected = True
        return result

    async def _bounded(self, raw: Any, operation: Awaitable[Any]) -> Any:
        """``operation`` on MySQL connection ``raw``, stopped after ``command_timeout``."""
        assert self._watchdog is not None
        ticket = self._watchdog.begin()
        try:
            result = await operation
        except asyncio.CancelledError:
            if not self._watchdog.end(ticket):
                raise
            raw.close()  # stopped mid-statement: the connection cannot be reused
            raise TimeoutError() from None
        self._watchdog.end(ticket)
        return result

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        record: Record = await self._run("create", collection, tenant, record_id, data)
        return record

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        record: Record | None = await self._run("get", collection, tenant, record_id)
        return record

    async def write(
        self,
        collection: str,
        tenant: str,
        record_id: str,
        data: dict[str, Any],
        *,
        merge: bool,
        expected_version: int | None,
    ) -> Record:
        record: Record = await self._run(
            "write",
            collection,
            tenant,
            record_id,
            data,
            merge=merge,
            expected_version=expected_version,
        )
        return record

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        record: Record = await self._run("delete", collection, tenant, record_id, expected_version)
        return record

    async def list(self, collection: str, tenant: str, query: ListQuery) -> list[Record]:
        records: list[Record] = await self._run("list", collection, tenant, query)
        return records

    # -- bulk ------------------------------------------------------------------------------

    async def create_many(
        self, collection: str, tenant: str, items: builtins.list[tuple[str | None, dict[str, Any]]]
    ) -> builtins.list[Record]:
        """Create every item (id or None, data) in one transaction through the driver's bulk path.

        All or nothing: a taken id raises ``Conflict`` naming it and nothing is created.
        """
        self._ops_class(self, None)._check(collection)
        if not items:
            return []
        try:
            async with self.db.transaction() as raw:
                return await self._bulk(raw, tenant, items)
        except BulkConflict:
            pass
        async with self.transaction() as ops:  # slow path: find the id at fault
            return [await ops.create(collection, tenant, i, data) for i, data in items]

    async def _bulk(
        self, raw: Any, tenant: str, items: builtins.list[tuple[str | None, dict[str, Any]]]
    ) -> builtins.list[Record]:
        texts = [dumps(data) for _, data in items]
        generated = sum(record_id is None for record_id, _ in items)
        ids: builtins.list[str] = []
        if self.dialect == "postgresql":
            # One sequence value per row (its creation order, and the id when generated),
            # then binary COPY: the fastest way into PostgreSQL.
            numbers = [row[0] for row in await raw.fetch(self.statements.reserve, len(items))]
            rows = []
            for (record_id, _), text, n in zip(items, texts, numbers, strict=True):
                ids.append(str(n) if record_id is None else record_id)
                rows.append((tenant, ids[-1], text, 1, n))
            try:
                await raw.copy_records_to_table(
                    self.table_name,
                    records=rows,
                    columns=["tenant", "id", "data", "version", "seq"],
                )
            except Exception as exc:
                if isinstance(self.db.error(exc), Conflict):
                    raise BulkConflict() from exc
                raise
        elif self.dialect == "mysql":
            last = await MySqlOps(self, raw).reserve(generated) if generated else 0
            counter = iter(range(last - generated + 1, last + 1))
            ids = [record_id or str(next(counter)) for record_id, _ in items]
            try:
                async with raw.cursor() as cursor:
                    await cursor.executemany(
                        self.statements.bulk,
                        [(tenant, i, t) for i, t in zip(ids, texts, strict=True)],
                    )
            except Exception as exc:
                if isinstance(self.db.error(exc), Conflict):
                    raise BulkConflict() from exc
                raise
        else:
            rows = await raw.execute_fetchall(self.statements.reserve)
            start = int(rows[0][0])
            rows_in: builtins.list[tuple[int, str, str, str]] = []
            for offset, ((record_id, _), text) in enumerate(
                zip(items, texts, strict=True), start=1
            ):
                ids.append(record_id or str(start + offset))
                rows_in.append((start + offset, tenant, ids[-1], text))
            try:
                await raw.executemany(self.statements.bulk, rows_in)
            except Exception as exc:
                if isinstance(self.db.error(exc), Conflict):
                    raise BulkConflict() from exc
                raise
        return [Record(i, dict(data), 1) for i, (_, data) in zip(ids, items, strict=True)]
