"""Record operations on one driver connection, one class per dialect.

Each class runs the pre-written statements of ``statements`` (in the driver's placeholder
style) on a ``Connection`` of the execution layer, which bounds each in time and translates
its errors: no query compilation, one round trip for most operations. ``expected_version`` is
always checked by the database in the same statement that changes the row (``WHERE … AND
version = ?``); when no row changed, a second look tells ``NotFound`` from ``VersionConflict``.

PostgreSQL merges with ``jsonb ||`` in one statement. MySQL and SQLite merge in Python and
write back with a compare-and-set on the version read (retried when another writer got there
first); MySQL reads ``FOR UPDATE`` so the loop also ends inside a transaction.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from autocoder.errors import (
    Conflict,
    InternalError,
    NotFound,
    StoreError,
    ValidationFailed,
    VersionConflict,
)
from autocoder.storage.backend import ListQuery, Record
from autocoder.storage.documents.statements import Statements, get_many_statement, list_query
from autocoder.storage.sql.database import Connection
from autocoder.storage.sql.dialects import Dialect

_CAS_ATTEMPTS = 100


def dumps(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


def conflict(record_id: str) -> Conflict:
    return Conflict(f"a record with id {record_id!r} exists", id=record_id)


def version_conflict(record_id: str, current: int, expected: int) -> VersionConflict:
    return VersionConflict(
        f"record {record_id!r} is at version {current}, not the expected {expected}",
        id=record_id,
        current_version=current,
    )


@dataclass(frozen=True)
class DocumentTable:
    """What the operations need to know of their table (the backend makes it at start-up)."""

    name: str
    dialect: Dialect
    statements: Statements
    mariadb: bool = False

    def check(self, collection: str) -> None:
        """``ValidationFailed`` unless ``collection`` is this table."""
        if collection != self.name:
            raise ValidationFailed(f"unknown collection {collection!r}")


class DocumentOps:
    """The operations of ``autocoder.storage.backend.Operations`` on one connection."""

    def __init__(self, table: DocumentTable, conn: Connection) -> None:
        self.table = table
        self.sql = table.statements
        self.conn = conn
        self._check = table.check

    async def missing_or_conflict(
        self, action: str, tenant: str, record_id: str, expected: int | None
    ) -> StoreError | NotFound:
        current = None if expected is None else await self._version(tenant, record_id)
        if current is None or expected is None:
            return NotFound(action, record_id)
        return version_conflict(record_id, current, expected)

    async def _version(self, tenant: str, record_id: str) -> int | None:
        raise NotImplementedError

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        raise NotImplementedError

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        raise NotImplementedError

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
        raise NotImplementedError

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        raise NotImplementedError

    async def get_many(
        self, collection: str, tenant: str, record_ids: Sequence[str]
    ) -> dict[str, Record]:
        """The records of ``record_ids`` (distinct) that exist, by id, in one statement."""
        self._check(collection)
        table = self.table
        sql = get_many_statement(table.dialect, table.name, len(record_ids))
        args: tuple[Any, ...] = (
            (tenant, list(record_ids)) if table.dialect == "postgresql" else (tenant, *record_ids)
        )
        rows = await self._rows(sql, args)
        return {row[0]: Record(row[0], orjson.loads(row[1]), int(row[2])) for row in rows}

    async def list(self, collection: str, tenant: str, query: ListQuery) -> list[Record]:
        self._check(collection)
        table = self.table
        sql, args = list_query(table.dialect, table.name, table.mariadb, tenant, query)
        rows = await self._rows(sql, args)
        return [Record(row[0], orjson.loads(row[1]), row[2]) for row in rows]

    async def _rows(
        self, sql: str, args: builtins.list[Any] | tuple[Any, ...]
    ) -> builtins.list[Any]:
        return await self.conn.fetch(sql, args)


class PostgresOps(DocumentOps):
    """asyncpg: one statement per operation, prepared and cached by the driver."""

    async def _version(self, tenant: str, record_id: str) -> int | None:
        value: int | None = await self.conn.fetch_val(self.sql.version, (tenant, record_id))
        return value

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        self._check(collection)
        row = await self.conn.fetch_one(self.sql.get, (tenant, record_id))
        return None if row is None else Record(record_id, orjson.loads(row[0]), row[1])

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        self._check(collection)
        text = dumps(data)
        if record_id is None:
            while True:  # a generated id taken by a chosen one: take the next
                new_id = await self.conn.fetch_val(self.sql.insert_generated, (tenant, text))
                if new_id is not None:
                    return Record(new_id, dict(data), 1)
        done = await self.conn.execute(self.sql.insert, (tenant, record_id, text))
        if not done.rowcount:
            raise conflict(record_id)
        return Record(record_id, dict(data), 1)

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
        self._check(collection)
        text = dumps(data)
        if merge:
            row = await self.conn.fetch_one(
                self.sql.merge, (tenant, record_id, text, expected_version)
            )
            if row is not None:
                return Record(record_id, orjson.loads(row[0]), row[1])
        else:
            version = await self.conn.fetch_val(
                self.sql.replace, (tenant, record_id, text, expected_version)
            )
            if version is not None:
                return Record(record_id, dict(data), version)
        action = "update" if merge else "replace"
        raise await self.missing_or_conflict(action, tenant, record_id, expected_version)

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        self._check(collection)
        row = await self.conn.fetch_one(self.sql.delete, (tenant, record_id, expected_version))
        if row is None:
            raise await self.missing_or_conflict("delete", tenant, record_id, expected_version)
        return Record(record_id, orjson.loads(row[0]), row[1])


class CompareAndSetOps(DocumentOps):
    """MySQL and SQLite: merges computed here and written back only over the version read."""

    async def _read(self, tenant: str, record_id: str) -> tuple[str, int] | None:
        raise NotImplementedError

    async def _swap(self, sql: str, args: tuple[Any, ...]) -> bool:
        """Run an UPDATE/DELETE guarded by ``version = ?``; whether it changed a row."""
        raise NotImplementedError

    async def _current(
        self, action: str, tenant: str, record_id: str, expected: int | None
    ) -> tuple[str, int]:
        row = await self._read(tenant, record_id)
        if row is None:
            raise NotFound(action, record_id)
        if expected is not None and row[1] != expected:
            raise version_conflict(record_id, row[1], expected)
        return row

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
        self._check(collection)
        action = "update" if merge else "replace"
        for _ in range(_CAS_ATTEMPTS):
            text, version = await self._current(action, tenant, record_id, expected_version)
            new_data = {**orjson.loads(text), **data} if merge else dict(data)
            if await self._swap(self.sql.merge, (dumps(new_data), tenant, record_id, version)):
                return Record(record_id, new_data, version + 1)
        raise Conflict(f"record {record_id!r} kept changing during {action}; retry")

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        self._check(collection)
        for _ in range(_CAS_ATTEMPTS):
            text, version = await self._current("delete", tenant, record_id, expected_version)
            if await self._swap(self.sql.delete, (tenant, record_id, version)):
                return Record(record_id, orjson.loads(text), version)
        raise Conflict(f"record {record_id!r} kept changing during delete; retry")


class MySqlOps(CompareAndSetOps):
    """aiomysql: generated ids from a counter row."""

    async def _version(self, tenant: str, record_id: str) -> int | None:
        rows = await self._rows(self.sql.version, [tenant, record_id])
        return int(rows[0][0]) if rows else None

    async def _read(self, tenant: str, record_id: str) -> tuple[str, int] | None:
        row = await self.conn.fetch_one(self.sql.get_for_update, (tenant, record_id))
        return None if row is None else (row[0], int(row[1]))

    async def _swap(self, sql: str, args: tuple[Any, ...]) -> bool:
        return bool((await self.conn.execute(sql, args)).rowcount)

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        self._check(collection)
        row = await self.conn.fetch_one(self.sql.get, (tenant, record_id))
        return None if row is None else Record(record_id, orjson.loads(row[0]), int(row[1]))

    async def reserve(self, count: int) -> int:
        """Take ``count`` generated ids; returns the last (they end at it)."""
        name = (count, self.table.name)
        done = await self.conn.execute(self.sql.reserve, name)
        if not done.rowcount:  # this table's counter row is missing: make it
            await self.conn.execute(self.sql.counter_row, (self.table.name,))
            done = await self.conn.execute(self.sql.reserve, name)
        return int(done.last_id)

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        self._check(collection)
        text = dumps(data)
        generated = record_id is None
        for _ in range(_CAS_ATTEMPTS):
            new_id = str(await self.reserve(1)) if record_id is None else record_id
            try:
                await self.conn.execute(self.sql.insert, (tenant, new_id, text))
            except Conflict as exc:
                if generated:  # a generated id a client chose before: take the next
                    continue
                raise conflict(new_id) from exc
            return Record(new_id, dict(data), 1)
        raise InternalError("no free id found for a generated create")


class SqliteOps(CompareAndSetOps):
    """sqlite3: every operation one call into the connection's thread (``RETURNING`` gives
    the result), batched with the calls of other operations (``sql.sqlite_thread``)."""

    async def _version(self, tenant: str, record_id: str) -> int | None:
        rows = await self._rows(self.sql.version, (tenant, record_id))
        return int(rows[0][0]) if rows else None

    async def _read(self, tenant: str, record_id: str) -> tuple[str, int] | None:
        rows = await self._rows(self.sql.get, (tenant, record_id))
        return (rows[0][0], int(rows[0][1])) if rows else None

    async def _swap(self, sql: str, args: tuple[Any, ...]) -> bool:
        return bool(await self._rows(sql, args))  # the statements end in RETURNING

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        self._check(collection)
        rows = await self._rows(self.sql.get, (tenant, record_id))
        return Record(record_id, orjson.loads(rows[0][0]), rows[0][1]) if rows else None

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        self._check(collection)
        text = dumps(data)
        if record_id is not None:
            if not await self._rows(self.sql.insert, (tenant, record_id, text)):
                raise conflict(record_id)
            return Record(record_id, dict(data), 1)
        step = 1
        while True:  # sqlite_sequence + step, skipping ids already chosen in this tenant
            rows = await self._rows(self.sql.insert_generated, (tenant, text, step))
            if rows:
                return Record(rows[0][0], dict(data), 1)
            step += 1

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
        self._check(collection)
        if merge:  # read, merge and write back in one call into the connection's thread
            result = await self.conn.in_thread(
                sqlite_merge, self.sql, tenant, record_id, data, expected_version
            )
            if isinstance(result, Record):
                return result
            if result is None:
                raise NotFound("update", record_id)
            if expected_version is not None and result != expected_version:
                raise version_conflict(record_id, result, expected_version)
            raise Conflict(f"record {record_id!r} kept changing during update; retry")
        rows = await self._rows(
            self.sql.replace, (dumps(data), tenant, record_id, expected_version)
        )
        if rows:
            return Record(record_id, dict(data), rows[0][0])
        raise await self.missing_or_conflict("replace", tenant, record_id, expected_version)

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        self._check(collection)
        rows = await self._rows(self.sql.delete, (tenant, record_id, expected_version))
        if rows:
            return Record(record_id, orjson.loads(rows[0][0]), rows[0][1])
        raise await self.missing_or_conflict("delete", tenant, record_id, expected_version)


def sqlite_merge(
    connection: sqlite3.Connection,
    sql: Statements,
    tenant: str,
    record_id: str,
    data: dict[str, Any],
    expected: int | None,
) -> Record | int | None:
    """SQLite's merge, run in the connection's thread: the new record, else None when the record is
    missing, else its version (not the expected one, or still changing after every attempt).

    Other processes may write between the read and the write: the write is a compare-and-set
    on the version read, retried when it lost.
    """
    version = 0
    for _ in range(_CAS_ATTEMPTS):
        rows = connection.execute(sql.get, (tenant, record_id)).fetchall()
        if not rows:
            return None
        text, version = rows[0][0], int(rows[0][1])
        if expected is not None and version != expected:
            return version
        new_data = {**orjson.loads(text), **data}
        args = (dumps(new_data), tenant, record_id, version)
        if connection.execute(sql.merge, args).fetchall():  # ends in RETURNING
            return Record(record_id, new_data, version + 1)
    return version
