from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from autocoder.errors import (
    ConfigurationError,
    Conflict,
    DatabaseSchemaValidationError,
)
from autocoder.storage.backend import (
    CollectionInfo,
    ListQuery,
    Record,
    StorageBackend,
)
from autocoder.storage.changes import history
from autocoder.storage.changes.change import Change
from autocoder.storage.changes.journal import Journal
from autocoder.storage.documents.batched import (
    mysql_together,
    pg_together,
    sqlite_together,
    write_batch,
)
from autocoder.storage.documents.operations import (
    DocumentOps,
    DocumentTable,
    MySqlOps,
    PostgresOps,
    SqliteOps,
    dumps,
)
from autocoder.storage.documents.reads import ReadsTogether
from autocoder.storage.documents.statements import (
    KEY,
    LAYOUT,
    MYSQL_COUNTERS,
    DocumentSql,
    create_counters,
    create_table,
)
from autocoder.storage.group_commit import (
    DEFAULT_MAX_BATCH_SIZE,
    GroupCommit,
    Write,
    batches_at_once,
    commit_together,
    writers,
)
from autocoder.storage.sql.database import Connection, Database
from autocoder.storage.sql.dialects import check_identifier, quote
from autocoder.storage.sql.snapshot import snapshot

_OPS: dict[str, type[DocumentOps]] = {
    "postgresql": PostgresOps,
    "mysql": MySqlOps,
    "sqlite": SqliteOps,
}


class SqlDocumentBackend(StorageBackend):
    """Records as rows of one table, in PostgreSQL, MySQL/MariaDB or SQLite."""

    storage_type = "database"
    commits: GroupCommit

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
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    ) -> None:
        super().__init__()
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
        batches = batches_at_once(self.dialect, self.db.max_size)
        self.commits = GroupCommit(
            run_one=self._write_alone,
            run_batch=self._write_together,
            max_batch_size=max_batch_size,
            batches=batches,
        )
        #: Gets that would wait for a connection share a statement; SQLite's one
        #: connection takes one read at a time, and the others wait for the next batch.
        self.reads = ReadsTogether(
            run_one=self._get_one, run_many=self._get_many, limit=self.db.max_size
        )
        #: How many operations the Store may run at once: one per pooled connection, and
        #: the writes group commit gathers.
        self.concurrency = writers(pool_max_size, max_batch_size, batches)
        self.mariadb = False
        self._sql = DocumentSql(self.dialect, self.table_name)
        self.statements = self._sql.statements()
        self.table = DocumentTable(self.table_name, self.dialect, self.statements)
        self._collections = [CollectionInfo(self.table_name)]  # the one, asked on every write
        self._ops_class = _OPS[self.dialect]

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.db.connect()
        try:
            if self.dialect == "postgresql":
                # Stores starting at once on a new table: one creates it, the others wait.
                async with self.db.transaction() as conn:
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1))",
                        ("autocoder:" + self.table_name,),
                    )
                    await self._prepare(conn)
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1))", ("autocoder:changes",)
                    )
                    await history.prepare(conn, [self.table_name])
            else:
                async with self.db.connection() as conn:
                    await self._prepare(conn)
        except BaseException:
            await self.db.disconnect()
            raise

    async def _prepare(self, conn: Connection) -> None:
        if self.dialect == "mysql":
            version = await self._fetch(conn, "SELECT VERSION()")
            self.mariadb = "mariadb" in str(version[0][0]).lower()
            # "already exists" notes (another process created it first) are not warnings here.
            await self._fetch(conn, "SET SESSION sql_notes = 0")
        if not await self._columns(conn):
            for statement in create_table(self.dialect, self.table_name):
                await self._fetch(conn, statement)
        self._check_layout(await self._columns(conn), await self._key(conn))
        if self.dialect == "postgresql":
            rows = await conn.fetch(
                "SELECT pg_get_serial_sequence($1, 'seq')", (quote(self.table_name, "postgresql"),)
            )
            self._sql.pg_sequence = rows[0][0]
        elif self.dialect == "mysql":
            if not await self._fetch(conn, "SHOW TABLES LIKE %s", MYSQL_COUNTERS):
                await self._fetch(conn, create_counters())
            await self._fetch(conn, self.statements.counter_row, self.table_name)
        if self.dialect != "postgresql":  # PostgreSQL: under its own lock, in connect()
            await history.prepare(conn, [self.table_name])
        if self.dialect == "mysql":
            await self._fetch(conn, "SET SESSION sql_notes = 1")
        self._sql.mariadb = self.mariadb
        self.statements = self._sql.statements()
        self.table = DocumentTable(self.table_name, self.dialect, self.statements, self.mariadb)

    async def _fetch(self, conn: Connection, sql: str, *args: Any) -> list[Any]:
        """One set-up statement written with ``%s`` (at most one), in the driver's style."""
        if self.dialect == "postgresql":
            sql = sql.replace("%s", "$1")
        elif self.dialect == "sqlite":
            sql = sql.replace("%s", "?")
        return list(await conn.fetch(sql, args))

    async def _columns(self, conn: Connection) -> dict[str, str]:
        if self.dialect == "sqlite":
            rows = await self._fetch(conn, f"PRAGMA table_info({quote(self.table_name, 'sqlite')})")
            return {row[1]: str(row[2]).lower() for row in rows}
        schema = "current_schema()" if self.dialect == "postgresql" else "DATABASE()"
        rows = await self._fetch(
            conn,
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = {schema} AND table_name = %s",
            self.table_name,
        )
        return {str(row[0]): str(row[1]).lower() for row in rows}

    async def _key(self, conn: Connection) -> tuple[str, ...]:
        if self.dialect == "sqlite":
            rows = await self._fetch(conn, f"PRAGMA table_info({quote(self.table_name, 'sqlite')})")
            return tuple(row[1] for row in sorted(rows, key=lambda r: r[5]) if row[5])
        if self.dialect == "postgresql":
            rows = await conn.fetch(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey, a.attnum)",
                (quote(self.table_name, "postgresql"),),
            )
            return tuple(row[0] for row in rows)
        rows = await self._fetch(
            conn,
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
        await self.db.disconnect()

    # -- facts -----------------------------------------------------------------------------

    def collections(self) -> list[CollectionInfo]:
        return self._collections

    @property
    def connected(self) -> bool:
        return self.db.connected

    def health(self) -> dict[str, Any]:
        # After an outage the database layer probes in the background until it is back.
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
        async with self.db.connection(reset=False) as conn:
            rows = await conn.fetch(self.statements.count)
        return int(rows[0][0])

    # -- operations ------------------------------------------------------------------------

    def transaction(self) -> AbstractAsyncContextManager[Journal]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Journal]:
        async with self.db.transaction() as conn:
            journal = Journal(self._ops_class(self.table, conn), self._seq_reader(conn))
            yield journal
            await history.record_changes(conn, journal.changes)  # just before COMMIT
        self.committed(journal.changes)

    @staticmethod
    def _seq_reader(conn: Connection) -> Any:
        async def seq_of(collection: str) -> int:
            return await history.latest(conn, collection)

        return seq_of

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        # Single statements outside a transaction (on SQLite they share its one connection);
        # they leave no session state, so the connection goes back without a reset.
        db = self.db
        conn = await db.acquire(shared=True)
        try:
            return await getattr(self._ops_class(self.table, conn), method)(*args, **kwargs)
        finally:
            await db.release(conn)

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        return await self.reads.get(collection, tenant, record_id)

    async def _get_one(self, collection: str, tenant: str, record_id: str) -> Record | None:
        record: Record | None = await self._run("get", collection, tenant, record_id)
        return record

    async def _get_many(
        self, collection: str, tenant: str, record_ids: Sequence[str]
    ) -> dict[str, Record]:
        records: dict[str, Record] = await self._run("get_many", collection, tenant, record_ids)
        return records

    async def commit_write(self, write: Write) -> Change:
        return await self.commits.submit(write)

    async def _write_alone(self, write: Write) -> Change:
        # One write, none other waiting. With group commit on it takes a batch's path, a
        # batch of one: on PostgreSQL one statement that commits by itself, on SQLite one
        # call into its thread, on MySQL two round trips; a transaction of its own takes four
        # or five round trips or hops (as every write with max_batch_size 1).
        if self.commits.max_batch_size > 1:
            await self._write_together([write])
            return write.result()
        return await super().commit_write(write)

    async def _write_together(self, writes: builtins.list[Write]) -> None:
        changes = None
        if self.dialect == "sqlite":  # the whole transaction in one call into its thread
            changes = await sqlite_together(self.db, self.table, writes)
        elif self.dialect == "postgresql":  # one statement, when the batch is of one kind
            changes = await pg_together(self.db, self.table, writes, self._ops_on)
        else:  # one transaction in as few round trips as its rounds allow
            changes = await mysql_together(self.db, self.table, writes)
        if changes is None:  # else, and when that rolled back: in a transaction
            changes = await commit_together(
                self.db,
                self._ops_on,
                writes,
                fast=write_batch if self.dialect == "postgresql" else None,
                before_commit=history.record_changes,
            )
        self.committed(changes)

    def _ops_on(self, conn: Connection) -> DocumentOps:
        return self._ops_class(self.table, conn)

    async def list(self, collection: str, tenant: str, query: ListQuery) -> list[Record]:
        records: list[Record] = await self._run("list", collection, tenant, query)
        return records

    # -- change feeds ----------------------------------------------------------------------

    async def list_page(
        self, collection: str, tenant: str, query: ListQuery
    ) -> tuple[builtins.list[Record], int]:
        self.table.check(collection)
        async with snapshot(self.db) as conn:
            seq = await history.latest(conn, collection)
            records = await self._ops_class(self.table, conn).list(collection, tenant, query)
        return records, seq

    async def latest_seq(self, collection: str) -> int:
        async with self.db.connection(reset=False) as conn:
            return await history.latest(conn, collection)

    async def oldest_seq(self, collection: str) -> int | None:
        async with self.db.connection(reset=False) as conn:
            return await history.oldest(conn, collection)

    async def changes_after(
        self, collection: str, after: int, up_to: int, limit: int
    ) -> builtins.list[dict[str, Any]]:
        async with self.db.connection(reset=False) as conn:
            return await history.changes_after(conn, collection, after, up_to, limit)

    async def trim_changes(self, collection: str, below_or_at: int) -> None:
        async with self.db.connection(reset=False) as conn:
            await history.trim(conn, collection, below_or_at)

    # -- bulk ------------------------------------------------------------------------------

    async def create_many_changes(
        self, collection: str, tenant: str, items: builtins.list[tuple[str | None, dict[str, Any]]]
    ) -> builtins.list[Change]:
        """Create every item (id or None, data) in one transaction through the driver's bulk path.

        All or nothing: a taken id raises ``Conflict`` naming it and nothing is created.
        """
        self.table.check(collection)
        if not items:
            return []
        try:
            async with self.db.transaction() as conn:
                records = await self._bulk(conn, tenant, items)
                changes = [Change("created", collection, tenant, r) for r in records]
                await history.record_changes(conn, changes)  # just before COMMIT
        except Conflict:
            pass  # a taken id, and nothing was created: redo it row by row to name the id
        else:
            self.committed(changes)
            return changes
        return await super().create_many_changes(collection, tenant, items)

    async def _bulk(
        self, conn: Connection, tenant: str, items: builtins.list[tuple[str | None, dict[str, Any]]]
    ) -> builtins.list[Record]:
        texts = [dumps(data) for _, data in items]
        generated = sum(record_id is None for record_id, _ in items)
        ids: builtins.list[str] = []
        if self.dialect == "postgresql":
            # One sequence value per row (its creation order, and the id when generated),
            # then binary COPY: the fastest way into PostgreSQL.
            numbers = [row[0] for row in await conn.fetch(self.statements.reserve, (len(items),))]
            rows = []
            for (record_id, _), text, n in zip(items, texts, numbers, strict=True):
                ids.append(str(n) if record_id is None else record_id)
                rows.append((tenant, ids[-1], text, 1, n))
            await conn.copy_records(
                self.table_name, ["tenant", "id", "data", "version", "seq"], rows
            )
        elif self.dialect == "mysql":
            last = await MySqlOps(self.table, conn).reserve(generated) if generated else 0
            counter = iter(range(last - generated + 1, last + 1))
            ids = [record_id or str(next(counter)) for record_id, _ in items]
            await conn.execute_many(
                self.statements.bulk, [(tenant, i, t) for i, t in zip(ids, texts, strict=True)]
            )
        else:
            rows = await conn.fetch(self.statements.reserve)
            start = int(rows[0][0])
            rows_in: builtins.list[tuple[int, str, str, str]] = []
            for offset, ((record_id, _), text) in enumerate(
                zip(items, texts, strict=True), start=1
            ):
                ids.append(record_id or str(start + offset))
                rows_in.append((start + offset, tenant, ids[-1], text))
            await conn.execute_many(self.statements.bulk, rows_in)
        return [Record(i, dict(data), 1) for i, (_, data) in zip(ids, items, strict=True)]
