"""Migrations on SQLite, PostgreSQL and MariaDB: apply once, in natural order, refuse changes."""

from __future__ import annotations

import hashlib

import pytest

from autocoder.errors import DatabaseSchemaValidationError
from tests.v5.conftest import Fresh
from tests.v5.helpers import ALL, NOTES, TASKS, USERS, history, opened

pytestmark = pytest.mark.anyio


async def test_setup_applies_every_migration_once_and_a_rerun_is_a_no_op(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        assert store.tables.applied_versions == ["001", "002", "003"]
        first = await history(store)
    async with opened(fresh) as store:
        assert store.tables.applied_versions == []
        again = await history(store)
        reply = await store.process_item({"action": "create", "data": {"title": "still here"}})
        assert reply["status"] == "success"
    assert [row[0] for row in again] == ["001", "002", "003"]
    assert again == first


async def test_history_records_checksum_of_the_sql_as_written(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        rows = {row[0]: row for row in await history(store)}
    _version, description, checksum, execution_ms = rows["001"]
    assert description == "tasks"
    assert checksum.strip() == hashlib.sha256(str(TASKS["sql"]).encode()).hexdigest()
    assert float(execution_ms) >= 0


async def test_versions_apply_in_natural_order(fresh: Fresh) -> None:
    # "10" needs the column "2" adds, which needs the table "1" creates.
    migrations = [
        {"version": "10", "sql": "CREATE TABLE t10 (id INTEGER PRIMARY KEY, note VARCHAR(10))"},
        {"version": "2", "sql": "ALTER TABLE t1 ADD COLUMN extra INTEGER"},
        {"version": "1", "sql": "CREATE TABLE t1 (id INTEGER PRIMARY KEY)"},
    ]
    async with opened(fresh, ["t1", "t10"], migrations) as store:
        assert store.tables.applied_versions == ["1", "2", "10"]
        fields = {f.name for f in store.tables.collections()[0].fields}
        assert fields == {"id", "extra"}


async def test_a_changed_applied_migration_stops_start_up_naming_it(fresh: Fresh) -> None:
    async with opened(fresh):
        pass
    changed = [TASKS, {**USERS, "sql": str(USERS["sql"]).replace("100", "200")}, NOTES]
    with pytest.raises(DatabaseSchemaValidationError, match=r"migration 002 changed"):
        async with opened(fresh, migrations=changed):
            pass


async def test_a_missing_table_is_refused_listing_every_missing_one(fresh: Fresh) -> None:
    with pytest.raises(DatabaseSchemaValidationError) as caught:
        async with opened(fresh, ["tasks", "audit_log", "users", "ghosts"], [TASKS, USERS]):
            pass
    message = str(caught.value)
    assert "missing" in message
    assert "audit_log, ghosts" in message


async def test_sql_per_database_type(fresh: Fresh) -> None:
    per_dialect = {
        "postgresql": "CREATE TABLE kv (k VARCHAR(50) PRIMARY KEY, v JSONB)",
        "mysql": "CREATE TABLE kv (k VARCHAR(50) PRIMARY KEY, v JSON)",
        "sqlite": "CREATE TABLE kv (k TEXT PRIMARY KEY, v JSON)",
    }
    migration = {"version": "1", "description": "kv", "sql": per_dialect}
    async with opened(fresh, ["kv"], [migration]) as store:
        rows = await history(store)
        reply = await store.process_item({"action": "create", "id": "a", "data": {"v": [1, 2]}})
        assert reply["data"] == {"id": "a", "v": [1, 2]}
    expected = hashlib.sha256(per_dialect[fresh.dialect].encode()).hexdigest()
    assert rows[0][2].strip() == expected


async def test_multi_statement_sql_with_semicolons_in_strings_and_comments(fresh: Fresh) -> None:
    sql = """
        -- two tables; and a row whose text has a semicolon
        CREATE TABLE a (id INTEGER PRIMARY KEY, note VARCHAR(50) DEFAULT 'x;y');
        /* a comment; with a semicolon */
        CREATE TABLE b (id INTEGER PRIMARY KEY);
        INSERT INTO a (id, note) VALUES (1, 'it''s; fine');
    """
    async with opened(fresh, ["a", "b"], [{"version": "1", "sql": sql}]) as store:
        reply = await store.process_item({"action": "get", "id": "1"})
        assert reply["data"] == {"id": "1", "note": "it's; fine"}


async def test_a_failing_migration_is_not_recorded_and_says_so(fresh: Fresh) -> None:
    bad = {
        "version": "002",
        "description": "half good",
        "sql": "CREATE TABLE half (id INTEGER PRIMARY KEY); INSERT INTO no_such_table VALUES (1);",
    }
    with pytest.raises(DatabaseSchemaValidationError, match=r"migration 002 failed") as caught:
        async with opened(fresh, ["tasks"], [TASKS, bad]):
            pass
    if fresh.dialect == "mysql":
        assert "not recorded" in str(caught.value)
    async with opened(fresh, ["tasks"], [TASKS]) as store:
        versions = [row[0] for row in await history(store)]
        assert versions == ["001"]
        async with store.tables.session() as session:
            from autocoder.storage.tables.reflection import existing_tables

            left = await existing_tables(session, ["half"])
    # Transactional DDL (PostgreSQL, SQLite) rolls the whole migration back.
    assert left == ({"half"} if fresh.dialect == "mysql" else set())


async def test_translated_postgresql_ddl_runs_everywhere(fresh: Fresh) -> None:
    async with opened(fresh, migrations=ALL) as store:
        described = {c.name: c for c in store.tables.collections()}
    key = {f.name: f for f in described["tasks"].fields}["id"]
    assert key.generated and key.type == "integer"
    assert described["notes"].fields == ()  # a document table
