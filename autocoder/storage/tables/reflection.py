"""Reading V5 tables' columns from the database: which tables exist, and their layout.

PostgreSQL and MySQL/MariaDB answer from ``information_schema``; SQLite from
``pragma_table_info``. Column types are mapped to the kinds ``autocoder.storage.tables.schema``
validates against; MariaDB's JSON (a LONGTEXT with a ``json_valid`` check) is recognised by
its check constraint.
"""

from __future__ import annotations

import re

from autocoder.errors import DatabaseSchemaValidationError
from autocoder.storage.sql.dialects import Dialect
from autocoder.storage.tables.ddl import RawSession
from autocoder.storage.tables.schema import TENANT_COLUMN, Column, Kind, TableSchema

_KINDS: dict[str, Kind] = {
    **dict.fromkeys(
        ["int", "integer", "bigint", "smallint", "mediumint", "int2", "int4", "int8", "serial"],
        "integer",
    ),
    **dict.fromkeys(
        ["numeric", "decimal", "real", "double", "double precision", "float", "float4", "float8"],
        "number",
    ),
    **dict.fromkeys(["boolean", "bool"], "boolean"),
    **dict.fromkeys(
        [
            "char",
            "varchar",
            "character",
            "character varying",
            "text",
            "tinytext",
            "mediumtext",
            "longtext",
            "uuid",
            "citext",
            "enum",
            "clob",
            "nvarchar",
            "bpchar",
            "name",
            "set",
        ],
        "string",
    ),
    **dict.fromkeys(["json", "jsonb"], "json"),
    **dict.fromkeys(
        [
            "timestamp",
            "timestamptz",
            "datetime",
            "timestamp without time zone",
            "timestamp with time zone",
        ],
        "datetime",
    ),
    "date": "date",
    **dict.fromkeys(["time", "time without time zone", "timetz"], "time"),
}


async def existing_tables(session: RawSession, names: list[str]) -> set[str]:
    """Which of ``names`` exist as tables (or views) in the connected database."""
    if session.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
    elif session.dialect == "postgresql":
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
    present = {str(row[0]) for row in await session.fetch(sql)}
    return {name for name in names if name in present}


async def reflect_table(session: RawSession, table: str) -> TableSchema:
    """The columns of ``table``; ``DatabaseSchemaValidationError`` when it cannot be served."""
    if session.dialect == "sqlite":
        columns = await _reflect_sqlite(session, table)
    elif session.dialect == "postgresql":
        columns = await _reflect_postgresql(session, table)
    else:
        columns = await _reflect_mysql(session, table)
    if not columns:
        raise DatabaseSchemaValidationError(f"table {table} does not exist")
    keys = [c for c in columns if c.primary_key]
    if len(keys) == 2 and TENANT_COLUMN in (keys[0].name, keys[1].name):
        keys = [c for c in keys if c.name != TENANT_COLUMN]  # (tenant_id, id): ids per tenant
    if len(keys) != 1:
        what = "has no primary key" if not keys else "has a primary key of several columns"
        raise DatabaseSchemaValidationError(
            f"table {table} {what}: a V5 table needs a primary key of one column (the record"
            f" id), or of {TENANT_COLUMN} and one column"
        )
    rowid = session.dialect == "sqlite" and await _sqlite_has_rowid(session, table)
    return TableSchema(table, tuple(columns), keys[0], rowid=rowid)


def kind_of(type_name: str, dialect: Dialect) -> Kind:
    """The kind of a column from its declared or reported type name."""
    name = type_name.strip().lower()
    base = name.split("(", 1)[0].strip()
    if dialect == "mysql" and name.startswith("tinyint(1)"):
        return "boolean"
    if base in _KINDS:
        return _KINDS[base]
    if dialect == "sqlite":  # SQLite type affinity rules, roughly
        if "int" in base:
            return "integer"
        if any(word in base for word in ("char", "clob", "text")):
            return "string"
        if any(word in base for word in ("real", "floa", "doub")):
            return "number"
    if base.startswith("tinyint"):
        return "integer"
    return "any"


def _max_length(type_name: str) -> int | None:
    name = type_name.lower()
    if "char" in name and "(" in name:
        inside = name.split("(", 1)[1].split(")", 1)[0]
        if inside.strip().isdigit():
            return int(inside)
    return None


async def _reflect_sqlite(session: RawSession, table: str) -> list[Column]:
    rows = await session.fetch(
        'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', table
    )
    keys = [row for row in rows if row[4]]
    columns = []
    for name, type_name, notnull, default, pk in rows:
        kind = kind_of(str(type_name or ""), "sqlite")
        rowid_alias = bool(pk) and len(keys) == 1 and str(type_name).upper() == "INTEGER"
        columns.append(
            Column(
                name=str(name),
                kind=kind,
                nullable=not notnull and not pk,
                has_default=default is not None,
                primary_key=bool(pk),
                generated=rowid_alias,
                max_length=_max_length(str(type_name or "")),
                default_sql=str(default) if default is not None else None,
            )
        )
    return columns


async def _sqlite_has_rowid(session: RawSession, table: str) -> bool:
    """Whether a SQLite table keeps a rowid: every table but ``WITHOUT ROWID`` ones (a view has
    none either)."""
    rows = await session.fetch(
        "SELECT type, sql FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')", table
    )
    if not rows or rows[0][0] != "table":
        return False
    text = str(rows[0][1] or "").upper()
    options = text[text.rfind(")") + 1 :]  # after the column list: STRICT, WITHOUT ROWID
    return re.search(r"\bWITHOUT\s+ROWID\b", options) is None


async def _reflect_postgresql(session: RawSession, table: str) -> list[Column]:
    rows = await session.fetch(
        "SELECT c.column_name, c.data_type, c.udt_name, c.is_nullable, c.column_default,"
        " c.character_maximum_length, c.is_identity,"
        " EXISTS (SELECT 1 FROM information_schema.table_constraints tc"
        "   JOIN information_schema.key_column_usage k"
        "     ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema"
        "    AND k.table_name = tc.table_name"
        "  WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema"
        "    AND tc.table_name = c.table_name AND k.column_name = c.column_name)"
        " FROM information_schema.columns c"
        " WHERE c.table_schema = current_schema() AND c.table_name = ?"
        " ORDER BY c.ordinal_position",
        table,
    )
    columns = []
    for name, data_type, udt, nullable, default, max_length, identity, pk in rows:
        generated = identity == "YES" or str(default or "").startswith("nextval(")
        columns.append(
            Column(
                name=str(name),
                kind=kind_of(str(udt if data_type == "USER-DEFINED" else data_type), "postgresql"),
                nullable=nullable == "YES",
                has_default=default is not None or identity == "YES",
                primary_key=bool(pk),
                generated=generated,
                max_length=int(max_length) if max_length is not None else None,
                timezone="with time zone" in str(data_type),
            )
        )
    return columns


async def _reflect_mysql(session: RawSession, table: str) -> list[Column]:
    rows = await session.fetch(
        "SELECT column_name, column_type, is_nullable, column_default,"
        " character_maximum_length, extra, column_key"
        " FROM information_schema.columns"
        " WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
        table,
    )
    json_columns = await _mariadb_json_columns(session, table)
    columns = []
    for name, column_type, nullable, default, max_length, extra, key in rows:
        kind = "json" if str(name).lower() in json_columns else kind_of(str(column_type), "mysql")
        no_default = default is None or (nullable == "YES" and str(default).upper() == "NULL")
        columns.append(
            Column(
                name=str(name),
                kind=kind,
                nullable=nullable == "YES",
                has_default=not no_default,
                primary_key=key == "PRI",
                generated="auto_increment" in str(extra).lower(),
                max_length=int(max_length) if max_length is not None and kind == "string" else None,
            )
        )
    return columns


async def _mariadb_json_columns(session: RawSession, table: str) -> set[str]:
    """MariaDB stores JSON as LONGTEXT with a ``json_valid(col)`` check: find those columns."""
    try:
        rows = await session.fetch(
            "SELECT check_clause FROM information_schema.check_constraints"
            " WHERE constraint_schema = DATABASE() AND table_name = ?",
            table,
        )
    except Exception:  # MySQL before 8.0.16 has no such view; its JSON type reports itself
        return set()
    names = set()
    for (clause,) in rows:
        text = str(clause).replace("`", "").replace(" ", "").lower()
        if text.startswith("json_valid(") and text.endswith(")"):
            names.add(text[len("json_valid(") : -1])
    return names
