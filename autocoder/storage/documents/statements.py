"""The SQL of a document table, written once per dialect when the backend starts.

A document table holds one record per row::

    tenant      VARCHAR(255)  part of the key (binary collation on MySQL: "A" is not "a")
    id          VARCHAR(255)  part of the key
    data        JSONB (PostgreSQL) / JSON (MySQL, MariaDB) / TEXT (SQLite): the fields
    version     BIGINT        1 on create, one more on every change
    seq         BIGINT        creation order (BIGSERIAL / AUTO_INCREMENT / AUTOINCREMENT rowid)
    created_at, updated_at    timestamps

The key is (tenant, id); on SQLite ``seq`` is the rowid and (tenant, id) is UNIQUE. Every
statement here is a fixed string in the driver's placeholder style; only ``list`` statements
vary with the query's shape, and they are cached by shape. Field names travel as bound JSON
path parameters, never as SQL text.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import orjson

from autocoder.storage.backend import ListQuery
from autocoder.storage.changes.history import COUNTERS, HISTORY
from autocoder.storage.sql.dialects import Dialect, placeholders, quote

#: Columns every document table must have: name → accepted type names (lower case).
LAYOUT: dict[Dialect, dict[str, tuple[str, ...]]] = {
    "postgresql": {
        "tenant": ("character varying", "text"),
        "id": ("character varying", "text"),
        "data": ("jsonb",),
        "version": ("bigint", "integer"),
        "seq": ("bigint",),
        "created_at": ("timestamp with time zone",),
        "updated_at": ("timestamp with time zone",),
    },
    "mysql": {
        "tenant": ("varchar",),
        "id": ("varchar",),
        "data": ("json", "longtext"),
        "version": ("bigint", "int"),
        "seq": ("bigint",),
        "created_at": ("datetime", "timestamp"),
        "updated_at": ("datetime", "timestamp"),
    },
    "sqlite": {
        "tenant": ("text",),
        "id": ("text",),
        "data": ("text",),
        "version": ("integer",),
        "seq": ("integer",),
        "created_at": ("text",),
        "updated_at": ("text",),
    },
}

#: The key each dialect's table is created with (and checked against).
KEY: dict[Dialect, tuple[str, ...]] = {
    "postgresql": ("tenant", "id"),
    "mysql": ("tenant", "id"),
    "sqlite": ("seq",),
}

MYSQL_COUNTERS = "autocoder_id_counters"
_SQLITE_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def create_table(dialect: Dialect, table: str) -> list[str]:
    """The statements creating ``table`` (and what it needs) when missing."""
    t = quote(table, dialect)
    if dialect == "postgresql":
        return [
            f"CREATE TABLE IF NOT EXISTS {t} (tenant VARCHAR(255) NOT NULL, "
            "id VARCHAR(255) NOT NULL, data JSONB NOT NULL, version BIGINT NOT NULL, "
            "seq BIGSERIAL NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
            "updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (tenant, id))",
            f"CREATE INDEX IF NOT EXISTS {quote((table + '_seq_idx')[:63], dialect)} "
            f"ON {t} (tenant, seq)",
        ]
    if dialect == "mysql":
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            "tenant VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
            "id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
            "data JSON NOT NULL, version BIGINT NOT NULL, "
            "seq BIGINT NOT NULL AUTO_INCREMENT, "
            "created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL, "
            "PRIMARY KEY (tenant, id), UNIQUE KEY seq (seq), KEY tenant_seq (tenant, seq)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        ]
    return [
        f"CREATE TABLE IF NOT EXISTS {t} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
        "tenant TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL, "
        "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (tenant, id))",
    ]


def create_counters() -> str:
    """MySQL's table of generated-id counters, one row per document table."""
    return (
        f"CREATE TABLE IF NOT EXISTS {MYSQL_COUNTERS} (table_name VARCHAR(64) "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, "
        "next_id BIGINT NOT NULL) ENGINE=InnoDB"
    )


def json_path(name: str) -> str:
    """The JSON path of a top-level field (MySQL and SQLite)."""
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class DocumentSql:
    """The fixed statements of one document table, in the driver's placeholder style."""

    dialect: Dialect
    table: str
    mariadb: bool = True
    pg_sequence: str = ""
    t: str = field(init=False)

    def __post_init__(self) -> None:
        self.t = quote(self.table, self.dialect)

    def _native(self, sql: str) -> str:
        return placeholders(sql, self.dialect)

    @property
    def get(self) -> str:
        return self._native(f"SELECT data, version FROM {self.t} WHERE tenant = ? AND id = ?")

    @property
    def version(self) -> str:
        return self._native(f"SELECT version FROM {self.t} WHERE tenant = ? AND id = ?")

    @property
    def count(self) -> str:
        return f"SELECT COUNT(*) FROM {self.t}"

    def statements(self) -> Statements:
        """Every fixed statement, built once."""
        t, d = self.t, self.dialect
        if d == "postgresql":
            seq = self.pg_sequence.replace("'", "''")
            return Statements(
                get=self.get,
                version=self.version,
                count=self.count,
                insert=f"INSERT INTO {t} (tenant, id, data, version) "
                "VALUES ($1, $2, $3::jsonb, 1) ON CONFLICT (tenant, id) DO NOTHING",
                insert_generated=f"INSERT INTO {t} (tenant, id, data, version, seq) "
                f"SELECT $1, s.n::text, $2::jsonb, 1, s.n FROM (SELECT nextval('{seq}') AS n) "
                "AS s ON CONFLICT (tenant, id) DO NOTHING RETURNING id",
                merge=f"UPDATE {t} SET data = data || $3::jsonb, version = version + 1, "
                "updated_at = now() WHERE tenant = $1 AND id = $2 "
                "AND ($4::bigint IS NULL OR version = $4) RETURNING data, version",
                replace=f"UPDATE {t} SET data = $3::jsonb, version = version + 1, "
                "updated_at = now() WHERE tenant = $1 AND id = $2 "
                "AND ($4::bigint IS NULL OR version = $4) RETURNING version",
                delete=f"DELETE FROM {t} WHERE tenant = $1 AND id = $2 "
                "AND ($3::bigint IS NULL OR version = $3) RETURNING data, version",
                bulk="",  # binary COPY (asyncpg copy_records_to_table), no statement
                reserve=f"SELECT nextval('{seq}') FROM generate_series(1, $1)",
                insert_many="WITH v AS (SELECT u.ord, u.tenant, u.id, u.data, "
                f"nextval('{seq}') AS n FROM unnest($1::text[], $2::text[], $3::text[]) "
                "WITH ORDINALITY AS u(tenant, id, data, ord)), "
                f"ins AS (INSERT INTO {t} (tenant, id, data, version, seq) "
                "SELECT v.tenant, COALESCE(v.id, v.n::text), v.data::jsonb, 1, v.n FROM v "
                "ON CONFLICT (tenant, id) DO NOTHING RETURNING seq) "
                "SELECT v.n, EXISTS (SELECT 1 FROM ins WHERE ins.seq = v.n) FROM v "
                "ORDER BY v.ord",
                write_many=f"UPDATE {t} AS t SET data = CASE WHEN v.merge "
                "THEN t.data || v.data::jsonb ELSE v.data::jsonb END, "
                "version = t.version + 1, updated_at = now() FROM unnest($1::text[], "
                "$2::text[], $3::text[], $4::bigint[], $5::bool[]) "
                "AS v(tenant, id, data, expected, merge) WHERE t.tenant = v.tenant "
                "AND t.id = v.id AND (v.expected IS NULL OR t.version = v.expected) "
                "RETURNING t.tenant, t.id, t.data, t.version",
                delete_many=f"DELETE FROM {t} AS t USING unnest($1::text[], $2::text[], "
                "$3::bigint[]) AS v(tenant, id, expected) WHERE t.tenant = v.tenant "
                "AND t.id = v.id AND (v.expected IS NULL OR t.version = v.expected) "
                "RETURNING t.tenant, t.id, t.data, t.version",
                insert_numbered=_pg_insert_numbered(t, seq),
                write_numbered=_pg_write_numbered(t),
            )
        if d == "mysql":
            return Statements(
                get=self.get,
                version=self.version,
                count=self.count,
                insert=f"INSERT INTO {t} (tenant, id, data, version, created_at, updated_at) "
                "VALUES (%s, %s, %s, 1, NOW(6), NOW(6))",
                insert_generated="",
                merge=f"UPDATE {t} SET data = %s, version = version + 1, updated_at = NOW(6) "
                "WHERE tenant = %s AND id = %s AND version = %s",
                replace=f"UPDATE {t} SET data = %s, version = version + 1, updated_at = NOW(6) "
                "WHERE tenant = %s AND id = %s AND version = %s",
                delete=f"DELETE FROM {t} WHERE tenant = %s AND id = %s AND version = %s",
                bulk=f"INSERT INTO {t} (tenant, id, data, version, created_at, updated_at) "
                "VALUES (%s, %s, %s, 1, NOW(6), NOW(6))",
                reserve=f"UPDATE {MYSQL_COUNTERS} SET next_id = LAST_INSERT_ID(next_id + %s) "
                "WHERE table_name = %s",
                get_for_update=f"SELECT data, version FROM {t} "
                "WHERE tenant = %s AND id = %s FOR UPDATE",
                counter_row=f"INSERT INTO {MYSQL_COUNTERS} (table_name, next_id) VALUES (%s, 0) "
                "ON DUPLICATE KEY UPDATE next_id = next_id",
            )
        now = _SQLITE_NOW
        name = self.table.replace("'", "''")
        return Statements(
            get=self.get,
            version=self.version,
            count=self.count,
            insert=f"INSERT INTO {t} (tenant, id, data, version, created_at, updated_at) "
            f"VALUES (?, ?, ?, 1, {now}, {now}) ON CONFLICT DO NOTHING RETURNING seq",
            insert_generated=f"INSERT INTO {t} "
            "(seq, tenant, id, data, version, created_at, updated_at) "
            f"SELECT n, ?, CAST(n AS TEXT), ?, 1, {now}, {now} FROM (SELECT COALESCE("
            f"(SELECT seq FROM sqlite_sequence WHERE name = '{name}'), 0) + ? AS n) WHERE true "
            "ON CONFLICT DO NOTHING RETURNING id",
            merge=f"UPDATE {t} SET data = ?, version = version + 1, updated_at = {now} "
            "WHERE tenant = ? AND id = ? AND version = ? RETURNING version",
            replace=f"UPDATE {t} SET data = ?1, version = version + 1, updated_at = {now} "
            "WHERE tenant = ?2 AND id = ?3 AND (?4 IS NULL OR version = ?4) RETURNING version",
            delete=f"DELETE FROM {t} WHERE tenant = ?1 AND id = ?2 "
            "AND (?3 IS NULL OR version = ?3) RETURNING data, version",
            bulk=f"INSERT INTO {t} (seq, tenant, id, data, version, created_at, updated_at) "
            f"VALUES (?, ?, ?, ?, 1, {now}, {now})",
            reserve=f"SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{name}'), 0)",
            rows_in=f"SELECT id, data, version FROM {t} WHERE tenant = ? AND id IN ",
            write_row=f"UPDATE {t} SET data = ?, version = ?, updated_at = {now} "
            "WHERE tenant = ? AND id = ?",
            delete_row=f"DELETE FROM {t} WHERE tenant = ? AND id = ?",
        )


#: The numbering of a statement's changes, the end of ``insert_numbered`` and
#: ``write_numbered``: ``w`` holds the rows changed (``ord``, their place in the batch, ``k``
#: their rank among the changed, ``tenant``, ``event``) and ``$COLLECTION`` is the collection.
#: The counter row is bumped by their number and locked until the statement commits, as
#: ``history.record_changes`` does; the history rows are numbered from it. The last column,
#: ``1 / count(c)``, fails the statement (division by zero), committing nothing, when the
#: counter row is missing.
_PG_NUMBERED = (
    f"c AS (UPDATE {COUNTERS} SET value = value + (SELECT count(*) FROM w) "
    "WHERE collection = $COLLECTION RETURNING value), "
    f"h AS (INSERT INTO {HISTORY} (collection, seq, tenant, event) "
    "SELECT $COLLECTION, c.value - (SELECT count(*) FROM w) + w.k, w.tenant, w.event "
    "FROM w, c) "
)
_PG_SEQ = "(SELECT value FROM c) - (SELECT count(*) FROM w) + w.k"
_PG_GUARD = "1 / (SELECT count(*) FROM c)::int"


def _pg_insert_numbered(t: str, seq: str) -> str:
    """PostgreSQL: a batch's creates and the numbering of their changes in one statement,
    run outside a transaction (it commits by itself). $1 tenants, $2 ids (NULL: generated
    from the sequence), $3 data, $4 each event's text up to its id, $5 from there to the
    document's id, $6 the collection. Gives per create, in order: its sequence number,
    whether it went in (else its id was taken), and its seq."""
    numbered = _PG_NUMBERED.replace("$COLLECTION", "$6")
    return (
        "WITH v AS (SELECT u.ord, u.tenant, u.id, u.data, u.head, u.mid, "
        f"nextval('{seq}') AS n FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
        "$5::text[]) WITH ORDINALITY AS u(tenant, id, data, head, mid, ord)), "
        f"ins AS (INSERT INTO {t} (tenant, id, data, version, seq) "
        "SELECT v.tenant, COALESCE(v.id, v.n::text), v.data::jsonb, 1, v.n FROM v "
        "ON CONFLICT (tenant, id) DO NOTHING RETURNING seq, id), "
        "w AS (SELECT v.ord, v.tenant, row_number() OVER (ORDER BY v.ord) AS k, "
        "v.head || to_json(ins.id)::text || v.mid || to_json(ins.id)::text || '}}' AS event "
        "FROM v JOIN ins ON ins.seq = v.n), "
        f"{numbered}"
        f"SELECT v.n, w.k IS NOT NULL, {_PG_SEQ}, {_PG_GUARD} "
        "FROM v LEFT JOIN w ON w.ord = v.ord ORDER BY v.ord"
    )


def _pg_write_numbered(t: str) -> str:
    """PostgreSQL: a batch's updates and replaces (one per record) and the numbering of
    their changes in one statement, run outside a transaction. $1 tenants, $2 ids, $3 data,
    $4 expected versions, $5 merge (update) or not (replace), $6 the collection. Gives per
    write that changed its row (the others found no row, or another version), in order: its
    place in the batch, the record's data and version after it, and its seq. The event is
    made here from the row written, keys in the order ``Change.event_without_seq`` gives."""
    numbered = _PG_NUMBERED.replace("$COLLECTION", "$6")
    event = (
        "'{\"event\":' || CASE WHEN u.merge THEN '\"updated\"' ELSE '\"replaced\"' END "
        "|| ',\"collection\":' || to_json($6::text)::text "
        "|| ',\"tenant\":' || to_json(u.tenant)::text || ',\"id\":' || to_json(u.id)::text "
        "|| ',\"version\":' || u.version || ',\"data\":' "
        "|| CASE WHEN u.text = '{}' THEN '{' ELSE left(u.text, -1) || ',' END "
        "|| '\"id\":' || to_json(u.id)::text || '}}'"
    )
    return (
        f"WITH u AS (UPDATE {t} AS t SET data = CASE WHEN v.merge "
        "THEN t.data || v.data::jsonb ELSE v.data::jsonb END, "
        "version = t.version + 1, updated_at = now() FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::bigint[], $5::bool[]) WITH ORDINALITY "
        "AS v(tenant, id, data, expected, merge, ord) WHERE t.tenant = v.tenant "
        "AND t.id = v.id AND (v.expected IS NULL OR t.version = v.expected) "
        "RETURNING v.ord, v.merge, t.tenant, t.id, t.data::text AS text, t.version), "
        f"w AS (SELECT u.ord, u.tenant, u.text, u.version, {event} AS event, "
        "row_number() OVER (ORDER BY u.ord) AS k FROM u), "
        f"{numbered}"
        f"SELECT w.ord, w.text, w.version, {_PG_SEQ}, {_PG_GUARD} FROM w ORDER BY w.ord"
    )


@dataclass(frozen=True)
class Statements:
    """The fixed statements of a document table (see ``DocumentSql.statements``)."""

    get: str
    version: str
    count: str
    insert: str
    insert_generated: str
    merge: str
    replace: str
    delete: str
    bulk: str
    reserve: str
    get_for_update: str = ""  # MySQL: the compare-and-set read
    counter_row: str = ""  # MySQL: this table's row of autocoder_id_counters
    insert_many: str = ""  # PostgreSQL: the creates of a group-commit batch, in one statement
    write_many: str = ""  # PostgreSQL: its updates and replaces
    delete_many: str = ""  # PostgreSQL: its deletes
    rows_in: str = ""  # SQLite: a round's rows, ``(?, …)`` of their ids to follow
    write_row: str = ""  # SQLite: a row of a round written, its data and version given
    delete_row: str = ""  # SQLite: a row of a round deleted
    insert_numbered: str = ""  # PostgreSQL: a batch of creates numbered, in one statement
    write_numbered: str = ""  # PostgreSQL: a batch of updates and replaces numbered


def json_kind(value: Any) -> str:
    """The JSON type of a Python value, as the list builder distinguishes them."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# -- list --------------------------------------------------------------------------------------
# The order matches autocoder.storage.ordering: by JSON type (null, string, number, boolean,
# array, object, then missing), then by value within a type, ties in creation order.

_TYPE_NAMES: dict[Dialect, dict[str, str]] = {
    "postgresql": {
        "null": "'null'",
        "string": "'string'",
        "boolean": "'boolean'",
        "array": "'array'",
        "object": "'object'",
    },
    "mysql": {
        "null": "'NULL'",
        "string": "'STRING'",
        "boolean": "'BOOLEAN'",
        "array": "'ARRAY'",
        "object": "'OBJECT'",
    },
    "sqlite": {
        "null": "'null'",
        "string": "'text'",
        "boolean": "'true', 'false'",
        "array": "'array'",
        "object": "'object'",
    },
}


def _order_keys(dialect: Dialect) -> list[str]:
    names = _TYPE_NAMES[dialect]
    rank = (
        f"CASE WHEN k IS NULL THEN 6 WHEN k IN ({names['null']}) THEN 0 "
        f"WHEN k IN ({names['string']}) THEN 1 WHEN k IN ({names['boolean']}) THEN 3 "
        f"WHEN k IN ({names['array']}) THEN 4 WHEN k IN ({names['object']}) THEN 5 ELSE 2 END"
    )
    if dialect == "postgresql":
        return [
            rank,
            "(CASE WHEN k = 'string' THEN v #>> '{}' END) COLLATE \"C\"",
            "CASE WHEN k = 'number' THEN (v #>> '{}')::numeric END",
            "CASE WHEN k = 'boolean' THEN (v #>> '{}')::boolean END",
            "CASE WHEN k = 'array' THEN jsonb_array_length(v) "
            "WHEN k = 'object' THEN (SELECT count(*) FROM jsonb_object_keys(v)) END",
        ]
    if dialect == "mysql":
        return [
            rank,
            "CAST(CASE WHEN k = 'STRING' THEN JSON_UNQUOTE(v) END AS CHAR CHARACTER SET utf8mb4)"
            " COLLATE utf8mb4_bin",
            "CASE WHEN k NOT IN ('NULL', 'STRING', 'BOOLEAN', 'ARRAY', 'OBJECT') "
            "THEN CAST(JSON_UNQUOTE(v) AS DOUBLE) END",
            "CASE WHEN k = 'BOOLEAN' THEN JSON_UNQUOTE(v) = 'true' END",
            "CASE WHEN k IN ('ARRAY', 'OBJECT') THEN JSON_LENGTH(v) END",
        ]
    return [
        rank,
        "CASE WHEN k = 'text' THEN v END",
        "CASE WHEN k IN ('integer', 'real') THEN v END",
        "CASE WHEN k IN ('true', 'false') THEN v END",
        "CASE WHEN k = 'array' THEN json_array_length(v) "
        "WHEN k = 'object' THEN (SELECT count(*) FROM json_each(v)) END",
    ]


def _where(dialect: Dialect, mariadb: bool, name: str, value: Any, args: list[Any]) -> str:
    if name == "id":
        if not isinstance(value, str):
            return "1 = 0"
        args.append(value)
        return "id = ?"
    text = orjson.dumps(value).decode()
    if dialect == "postgresql":
        args += [name, text]
        return "data -> ?::text = ?::jsonb"
    path = json_path(name)
    if dialect == "mysql":
        args += [path, text]
        if mariadb:
            # "= 1": MariaDB 10.11 lets JSON_EQUALS(NULL, …) pass a bare WHERE.
            return "JSON_EQUALS(JSON_EXTRACT(data, ?), ?) = 1"
        return "JSON_EXTRACT(data, ?) = CAST(? AS JSON)"
    kind = json_kind(value)
    if kind == "null":
        args.append(path)
        return "json_type(data, ?) = 'null'"
    if kind == "boolean":
        args += [path, "true" if value else "false"]
        return "json_type(data, ?) = ?"
    if kind == "number":
        args += [path, path, value]
        return "json_type(data, ?) IN ('integer', 'real') AND json_extract(data, ?) = ?"
    if kind == "string":
        args += [path, path, value]
        return "json_type(data, ?) = 'text' AND json_extract(data, ?) = ?"
    args += [path, kind, path, text]
    return "json_type(data, ?) = ? AND json_extract(data, ?) = json(?)"


def list_query(
    dialect: Dialect, table: str, mariadb: bool, tenant: str, query: ListQuery
) -> tuple[str, list[Any]]:
    """The SQL (driver placeholders) and arguments of one ``list``."""
    t = quote(table, dialect)
    args: list[Any] = []
    columns = "id, data, version, seq"
    order = query.order_by
    if order is not None and order != "id":
        if dialect == "postgresql":
            columns += ", data -> ?::text AS v, jsonb_typeof(data -> ?::text) AS k"
            args += [order, order]
        elif dialect == "mysql":
            columns += ", JSON_EXTRACT(data, ?) AS v, JSON_TYPE(JSON_EXTRACT(data, ?)) AS k"
            args += [json_path(order)] * 2
        else:
            columns += ", json_extract(data, ?) AS v, json_type(data, ?) AS k"
            args += [json_path(order)] * 2
    conditions = ["tenant = ?"]
    args.append(tenant)
    for name, value in query.where.items():
        conditions.append(_where(dialect, mariadb, name, value, args))
    direction = " DESC" if query.descending else ""
    if order is None:
        keys = ["seq"]
    elif order == "id":
        keys = ['id COLLATE "C"' if dialect == "postgresql" else "id"]
        keys = [keys[0] + direction, "seq"]
    else:
        keys = [key + direction for key in _order_keys(dialect)] + ["seq"]
    sql = (
        f"SELECT id, data, version FROM (SELECT {columns} FROM {t} "
        f"WHERE {' AND '.join(conditions)}) AS q ORDER BY {', '.join(keys)} LIMIT ? OFFSET ?"
    )
    args += [query.limit, query.offset]
    return placeholders(sql, dialect), args


@functools.lru_cache(maxsize=512)
def get_many_statement(dialect: Dialect, table: str, count: int) -> str:
    """``SELECT id, data, version`` of up to ``count`` ids of one tenant, in one statement:
    the tenant first, then the ids (PostgreSQL: one array; elsewhere ``count`` of them)."""
    t = quote(table, dialect)
    if dialect == "postgresql":
        return f"SELECT id, data, version FROM {t} WHERE tenant = $1 AND id = ANY($2::text[])"
    ids = ", ".join("?" * count)
    return placeholders(
        f"SELECT id, data, version FROM {t} WHERE tenant = ? AND id IN ({ids})", dialect
    )
