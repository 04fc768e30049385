"""The record operations of a TableBackend on one driver connection, as SQL on real columns.

Statements are written with ``?`` placeholders and quoted identifiers (names come from the
database catalog and are checked); values are always bound parameters. Ids are strings
outside and converted to the key column's type here: an id that cannot be one (``"abc"`` for
an integer key) finds nothing. A driver error leaves each statement as an ``autocoder.errors``
class, so a batch learns which of its operations failed (a duplicate id is a ``Conflict`` of
that operation, not of the commit).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from autocoder.errors import DataValidationError, NotFound, ValidationFailed, VersionConflict
from autocoder.storage.backend import ListQuery, Record
from autocoder.storage.ordering import matches, sort_key
from autocoder.storage.sql.database import Connection
from autocoder.storage.sql.dialects import Dialect, native, quote
from autocoder.storage.tables.schema import (
    DOCUMENT_COLUMN,
    TENANT_COLUMN,
    VERSION_COLUMN,
    Column,
    TableSchema,
    to_column,
)

Records = list[Record]


class TableOps:
    """``Operations`` over the tables ``schemas`` (by name), on the connection ``conn``."""

    def __init__(
        self, schemas: Mapping[str, TableSchema], dialect: Dialect, conn: Connection
    ) -> None:
        self.schemas = schemas
        self.conn = conn
        self.dialect = dialect

    # -- helpers ---------------------------------------------------------------------------

    def _q(self, name: str) -> str:
        return quote(name, self.dialect)

    async def _fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        rows = await self.conn.fetch(native(sql, self.dialect, params), params)
        return [tuple(row) for row in rows]

    async def _execute(self, sql: str, *params: Any) -> int:
        done = await self.conn.execute(native(sql, self.dialect, params), params)
        return done.rowcount

    def _table(self, collection: str, tenant: str) -> TableSchema:
        table = self.schemas[collection]
        if tenant and not table.tenant_partitioned:
            raise ValidationFailed(
                f"table {table.name} has no {TENANT_COLUMN} column, so it cannot be used with a"
                f" tenant (got tenant {tenant!r})",
                tenant=tenant,
            )
        return table

    def _bind(self, column: Column, value: Any) -> Any:
        """A validated value as the driver takes it."""
        if value is None:
            return None
        if column.kind == "json":
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if self.dialect == "sqlite" and isinstance(value, dt.datetime | dt.date | dt.time):
            return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
        return value

    def _key_value(self, table: TableSchema, record_id: str) -> Any:
        """``record_id`` as the key column's value, or ``None`` when it cannot be one."""
        if table.key.kind == "integer":
            try:
                return int(record_id)
            except ValueError:
                return None
        return record_id

    def _scope(self, table: TableSchema, tenant: str) -> tuple[list[str], list[Any]]:
        if table.tenant_partitioned:
            return [f"{self._q(TENANT_COLUMN)} = ?"], [tenant]
        return [], []

    def _select_list(self, table: TableSchema) -> str:
        return ", ".join(self._q(c.name) for c in table.columns)

    def _record(self, table: TableSchema, row: tuple[Any, ...]) -> Record:
        values = {c.name: v for c, v in zip(table.columns, row, strict=True)}
        version = values.get(VERSION_COLUMN) if table.versioned else 0
        return Record(str(values[table.key.name]), table.to_document(values), int(version or 0))

    def _check_version(self, table: TableSchema, expected: int | None, record: Record) -> None:
        if expected is None:
            return
        if not table.versioned:
            raise ValidationFailed(
                f"table {table.name} has no {VERSION_COLUMN} column, so expected_version cannot"
                f" be checked (add a column {VERSION_COLUMN} INTEGER NOT NULL DEFAULT 1)"
            )
        if record.version != expected:
            raise VersionConflict(
                f"record {record.id} is at version {record.version}, not {expected}",
                id=record.id,
                current_version=record.version,
            )

    async def _row(
        self, table: TableSchema, tenant: str, record_id: str, *, lock: bool
    ) -> Record | None:
        key = self._key_value(table, record_id)
        if key is None:
            return None
        conditions, params = self._scope(table, tenant)
        conditions.insert(0, f"{self._q(table.key.name)} = ?")
        sql = (
            f"SELECT {self._select_list(table)} FROM {self._q(table.name)}"
            f" WHERE {' AND '.join(conditions)}"
        )
        if lock and self.dialect != "sqlite":
            sql += " FOR UPDATE"
        rows = await self._fetch(sql, key, *params)
        return self._record(table, rows[0]) if rows else None

    # -- Operations ------------------------------------------------------------------------

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        table = self._table(collection, tenant)
        return await self._row(table, tenant, record_id, lock=False)

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        table = self._table(collection, tenant)
        problems: dict[str, str] = {}
        try:
            values = table.validate(data, partial=False)
        except DataValidationError as exc:
            problems.update(exc.fields)
            values = {}
        key = table.key
        key_value, id_problem = self._new_key(table, record_id)
        if id_problem:
            problems["id"] = id_problem
        if problems:
            raise DataValidationError(problems, table=table.name)
        names: list[str] = []
        params: list[Any] = []
        columns = table.by_name
        for name, value in values.items():
            names.append(name)
            params.append(self._bind(columns[name], value))
        if key_value is not None:
            names.append(key.name)
            params.append(key_value)
        if table.tenant_partitioned:
            names.append(TENANT_COLUMN)
            params.append(tenant)
        if table.versioned:
            names.append(VERSION_COLUMN)
            params.append(1)
        return await self._insert(table, tenant, names, params)

    def _new_key(self, table: TableSchema, record_id: str | None) -> tuple[Any, str | None]:
        """The key value of a new row (None: the database makes it), or what is wrong."""
        key = table.key
        if record_id is not None:
            if key.generated:
                return None, f"is generated by the database ({table.name}.{key.name}): omit it"
            key_value = self._key_value(table, record_id)
            if key_value is None:
                return None, f"expected an integer, got {record_id!r}"
            return key_value, None
        if key.generated or (key.has_default and self.dialect == "postgresql"):
            return None, None  # the database makes it (RETURNING tells it on PostgreSQL)
        if key.kind == "string":
            return uuid.uuid4().hex, None
        return None, f"is required: {table.name}.{key.name} is not generated by the database"

    async def _insert(
        self, table: TableSchema, tenant: str, names: list[str], params: list[Any]
    ) -> Record:
        """Insert a row and return it as stored (defaults and generated key filled in)."""
        target = self._q(table.name)
        if names:
            listing = ", ".join(self._q(n) for n in names)
            marks = ", ".join("?" for _ in names)
            sql = f"INSERT INTO {target} ({listing}) VALUES ({marks})"
        elif self.dialect == "mysql":
            sql = f"INSERT INTO {target} () VALUES ()"
        else:
            sql = f"INSERT INTO {target} DEFAULT VALUES"
        if self.dialect == "postgresql":  # one round trip
            rows = await self._fetch(f"{sql} RETURNING {self._select_list(table)}", *params)
            return self._record(table, rows[0])
        await self._execute(sql, *params)
        if table.key.name in names:
            key_value = params[names.index(table.key.name)]
        else:
            last = "LAST_INSERT_ID()" if self.dialect == "mysql" else "last_insert_rowid()"
            key_value = (await self._fetch(f"SELECT {last}"))[0][0]
        record = await self._row(table, tenant, str(key_value), lock=False)
        assert record is not None, "a row just inserted is visible to its connection"
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
        table = self._table(collection, tenant)
        values = table.validate(data, partial=merge)
        current = await self._row(table, tenant, record_id, lock=True)
        if current is None:
            raise NotFound("update" if merge else "replace", record_id)
        self._check_version(table, expected_version, current)
        assignments: list[str] = []
        params: list[Any] = []
        columns = table.by_name
        if table.document:
            document = {**current.data, **data} if merge else data
            assignments.append(f"{self._q(DOCUMENT_COLUMN)} = ?")
            params.append(self._bind(columns[DOCUMENT_COLUMN], document))
        else:
            for name, value in values.items():
                assignments.append(f"{self._q(name)} = ?")
                params.append(self._bind(columns[name], value))
            if not merge:
                assignments.extend(self._reset(table, set(values)))
        if table.versioned:
            assignments.append(f"{self._q(VERSION_COLUMN)} = {self._q(VERSION_COLUMN)} + 1")
        if not assignments:
            return current
        conditions, scope = self._scope(table, tenant)
        conditions.insert(0, f"{self._q(table.key.name)} = ?")
        sql = (
            f"UPDATE {self._q(table.name)} SET {', '.join(assignments)}"
            f" WHERE {' AND '.join(conditions)}"
        )
        key = self._key_value(table, record_id)
        if self.dialect == "postgresql":  # the new state in the same round trip
            rows = await self._fetch(
                f"{sql} RETURNING {self._select_list(table)}", *params, key, *scope
            )
            return self._record(table, rows[0])
        await self._execute(sql, *params, key, *scope)
        record = await self._row(table, tenant, record_id, lock=False)
        assert record is not None, "the row is locked by this transaction"
        return record

    def _reset(self, table: TableSchema, given: set[str]) -> list[str]:
        """Assignments putting every column a replace does not give back to its default."""
        resets = []
        for column in table.fields:
            if column.name in given:
                continue
            if not column.has_default:
                resets.append(f"{self._q(column.name)} = NULL")
            elif self.dialect != "sqlite":
                resets.append(f"{self._q(column.name)} = DEFAULT")
            elif column.default_sql is not None:  # from the catalog, not from input
                resets.append(f"{self._q(column.name)} = ({column.default_sql})")
        return resets

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        table = self._table(collection, tenant)
        current = await self._row(table, tenant, record_id, lock=True)
        if current is None:
            raise NotFound("delete", record_id)
        self._check_version(table, expected_version, current)
        conditions, scope = self._scope(table, tenant)
        conditions.insert(0, f"{self._q(table.key.name)} = ?")
        await self._execute(
            f"DELETE FROM {self._q(table.name)} WHERE {' AND '.join(conditions)}",
            self._key_value(table, record_id),
            *scope,
        )
        return current

    async def list(self, collection: str, tenant: str, query: ListQuery) -> list[Record]:
        table = self._table(collection, tenant)
        if table.document and (query.order_by not in (None, "id") or set(query.where) - {"id"}):
            return await self._list_documents(table, tenant, query)
        conditions, params = self._scope(table, tenant)
        for name, value in query.where.items():
            column = self._filter_column(table, name)
            if value is None:
                conditions.append(f"{self._q(column.name)} IS NULL")
                continue
            if column is table.key:
                if not isinstance(value, str):
                    return []  # ids are strings: a number never equals one
                bound = self._key_value(table, value)
                if bound is None:
                    return []
            else:
                try:
                    bound = self._bind(column, to_column(column, value))
                except ValueError as exc:
                    raise ValidationFailed(f"where {name}: {exc}", field=name) from None
            conditions.append(f"{self._q(column.name)} = ?")
            params.append(bound)
        key = self._creation_order(table)
        order = [f"{key} ASC"]
        if query.order_by is not None:
            column = self._filter_column(table, query.order_by)
            name = self._q(column.name)
            if query.descending:
                order = [f"({name} IS NULL) DESC", f"{name} DESC", f"{key} ASC"]
            else:
                order = [f"({name} IS NULL) ASC", f"{name} ASC", f"{key} ASC"]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._fetch(
            f"SELECT {self._select_list(table)} FROM {self._q(table.name)}{where}"
            f" ORDER BY {', '.join(order)} LIMIT ? OFFSET ?",
            *params,
            query.limit,
            query.offset,
        )
        return [self._record(table, row) for row in rows]

    def _creation_order(self, table: TableSchema) -> str:
        order = table.creation_order
        return order if order == "rowid" and table.rowid else self._q(order)

    def _filter_column(self, table: TableSchema, name: str) -> Column:
        if name == "id":
            return table.key
        for column in table.fields:
            if column.name == name:
                if column.kind == "json":
                    raise ValidationFailed(f"cannot filter or order by JSON field {name}")
                return column
        known = ", ".join(["id", *(c.name for c in table.fields)])
        raise ValidationFailed(
            f"unknown field {name} (table {table.name} has: {known})", field=name
        )

    async def _list_documents(self, table: TableSchema, tenant: str, query: ListQuery) -> Records:
        """Where/order on fields inside document tables' JSON: filtered here, after reading."""
        conditions, params = self._scope(table, tenant)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._fetch(
            f"SELECT {self._select_list(table)} FROM {self._q(table.name)}{where}"
            f" ORDER BY {self._creation_order(table)} ASC",
            *params,
        )
        records = [self._record(table, row) for row in rows]
        records = [r for r in records if matches(r, query.where)]
        if query.order_by is not None:
            records.sort(key=sort_key(query.order_by), reverse=query.descending)
        return records[query.offset : query.offset + query.limit]

    async def count(self, collection: str) -> int:
        table = self.schemas[collection]
        rows = await self._fetch(f"SELECT COUNT(*) FROM {self._q(table.name)}")
        return int(rows[0][0])
