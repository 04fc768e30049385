"""Tables served with real columns: validation, generated ids, conflicts, tenants, versions."""

from __future__ import annotations

from typing import Any

import pytest

from autocoder.errors import DataValidationError
from tests.v5.conftest import Fresh
from tests.v5.helpers import opened

pytestmark = pytest.mark.anyio


async def test_every_validation_error_names_its_field(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        cases: list[tuple[dict[str, Any], dict[str, str]]] = [
            ({"title": "x", "bogus": 1}, {"bogus": "unknown field"}),
            ({"title": 5}, {"title": "expected a string, got a number"}),
            ({"title": "x", "completed": "yes"}, {"completed": "expected a boolean"}),
            ({"title": "x", "score": True}, {"score": "expected a number, got a boolean"}),
            ({"title": "x", "due": "next week"}, {"due": "expected an ISO 8601 datetime"}),
            ({"title": "x" * 21}, {"title": "longer than 20 characters"}),
            ({"title": None}, {"title": "must not be null"}),
            ({"completed": True}, {"title": "is required (NOT NULL without a default)"}),
        ]
        for data, expected in cases:
            reply = await store.process_item({"action": "create", "data": data})
            assert reply["status"] == "error", data
            assert reply["error_type"] == "validation_error"
            assert set(reply["fields"]) == set(expected), data
            for name, words in expected.items():
                assert words in reply["fields"][name]
                assert name in reply["message"]
        listed = await store.process_item({"action": "list"})
        assert listed["data"] == []


async def test_store_data_with_validation_lists_every_bad_field_and_stores(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        with pytest.raises(DataValidationError) as caught:
            await store.store_data_with_validation({"title": 1, "nope": 2, "completed": "x"})
        assert set(caught.value.fields) == {"title", "nope", "completed"}
        reply = await store.store_data_with_validation(
            {"title": "Important Task", "due": "2025-08-03T10:00:00Z"}
        )
        assert reply["status"] == "success"
        stored = await store.process_item({"action": "get", "id": reply["id"]})
        assert stored["data"]["title"] == "Important Task"
        assert stored["data"]["due"].startswith("2025-08-03T10:00:00")


async def test_generated_keys_are_string_ids_and_defaults_are_filled(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        first = await store.process_item({"action": "create", "data": {"title": "a"}})
        second = await store.process_item({"action": "create", "data": {"title": "b"}})
        assert (first["id"], second["id"]) == ("1", "2")
        assert first["data"]["completed"] is False
        assert first["data"]["created_at"]
        given = await store.process_item({"action": "create", "id": "9", "data": {"title": "c"}})
        assert given["error_type"] == "validation_error"
        assert "generates its ids" in given["message"]
        missing = await store.process_item({"action": "get", "id": "not-a-number"})
        assert missing["status"] == "not_found"


async def test_a_unique_violation_is_a_conflict(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        message = {"action": "create", "collection": "users", "data": {"email": "a@example.com"}}
        assert (await store.process_item(message))["status"] == "success"
        reply = await store.process_item(message)
        assert reply["error_type"] == "conflict"


async def test_update_replace_delete_and_order(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        for title, score in [("b", 2.0), ("a", None), ("c", 1.0)]:
            await store.process_item({"action": "create", "data": {"title": title, "score": score}})
        updated = await store.process_item({"action": "update", "id": "1", "data": {"score": 5}})
        assert updated["data"]["score"] == 5 and updated["data"]["title"] == "b"
        replaced = await store.process_item(
            {"action": "replace", "id": "3", "data": {"title": "z"}}
        )
        assert replaced["data"]["score"] is None and replaced["data"]["title"] == "z"
        ordered = await store.process_item({"action": "list", "order_by": "-title"})
        assert [r["title"] for r in ordered["data"]] == ["z", "b", "a"]
        by_score = await store.process_item({"action": "list", "order_by": "score"})
        assert [r["id"] for r in by_score["data"]] == ["1", "2", "3"]
        where = await store.process_item({"action": "list", "where": {"completed": False}})
        assert where["count"] == 3
        bad = await store.process_item({"action": "list", "where": {"completed": 0}})
        assert bad["error_type"] == "validation_error"
        unknown = await store.process_item({"action": "list", "order_by": "nope"})
        assert unknown["error_type"] == "validation_error"
        assert (await store.process_item({"action": "delete", "id": "2"}))["status"] == "success"
        gone = await store.process_item({"action": "update", "id": "2", "data": {"title": "q"}})
        assert gone["status"] == "not_found"


async def test_versions_on_a_table_with_a_version_column(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        created = await store.process_item(
            {"action": "create", "collection": "users", "data": {"email": "v@example.com"}}
        )
        assert created["version"] == 1
        user = created["id"]
        changed = await store.process_item(
            {
                "action": "update",
                "collection": "users",
                "id": user,
                "data": {"name": "V"},
                "expected_version": 1,
            }
        )
        assert changed["version"] == 2
        stale = await store.process_item(
            {"action": "delete", "collection": "users", "id": user, "expected_version": 1}
        )
        assert stale["error_type"] == "version_conflict"
        assert "version" not in changed["data"]


async def test_expected_version_without_a_version_column_is_a_validation_error(
    fresh: Fresh,
) -> None:
    async with opened(fresh) as store:
        created = await store.process_item({"action": "create", "data": {"title": "a"}})
        assert created["version"] == 0
        reply = await store.process_item(
            {"action": "update", "id": "1", "data": {"title": "b"}, "expected_version": 0}
        )
        assert reply["error_type"] == "validation_error"
        assert "has no version column" in reply["message"]


async def test_tenants(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        for tenant, email in [("acme", "a@acme"), ("globex", "g@globex")]:
            reply = await store.process_item(
                {
                    "action": "create",
                    "collection": "users",
                    "tenant": tenant,
                    "data": {"email": email},
                }
            )
            assert reply["status"] == "success"
        acme = await store.process_item({"action": "list", "collection": "users", "tenant": "acme"})
        assert [u["email"] for u in acme["data"]] == ["a@acme"]
        assert "tenant_id" not in acme["data"][0]
        other = await store.process_item(
            {"action": "get", "collection": "users", "tenant": "acme", "id": "2"}
        )
        assert other["status"] == "not_found"
        no_tenant_column = await store.process_item(
            {"action": "list", "collection": "tasks", "tenant": "acme"}
        )
        assert no_tenant_column["error_type"] == "validation_error"
        assert "no tenant_id column" in no_tenant_column["message"]


async def test_a_document_table_stores_whole_documents(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        document = {"title": "n", "tags": ["x", "y"], "meta": {"n": 1}}
        created = await store.process_item(
            {"action": "create", "collection": "notes", "id": "n1", "data": document}
        )
        assert created["data"] == {"id": "n1", **document}
        await store.process_item(
            {"action": "create", "collection": "notes", "id": "n2", "data": {"title": "m"}}
        )
        merged = await store.process_item(
            {"action": "update", "collection": "notes", "id": "n1", "data": {"extra": True}}
        )
        assert merged["data"]["extra"] is True and merged["data"]["tags"] == ["x", "y"]
        found = await store.process_item(
            {"action": "list", "collection": "notes", "where": {"title": "m"}}
        )
        assert [d["id"] for d in found["data"]] == ["n2"]
        generated = await store.process_item(
            {"action": "create", "collection": "notes", "data": {"title": "auto"}}
        )
        assert len(generated["id"]) == 32


async def test_batch_is_one_transaction(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        reply = await store.process_item(
            {
                "action": "batch",
                "operations": [
                    {"action": "create", "data": {"title": "kept?"}},
                    {"action": "create", "collection": "users", "data": {"email": "b@x"}},
                    {"action": "create", "data": {"title": None}},
                ],
            }
        )
        assert reply["error_type"] == "validation_error"
        assert reply["index"] == 2
        assert (await store.process_item({"action": "list"}))["data"] == []
        users = await store.process_item({"action": "list", "collection": "users"})
        assert users["data"] == []
        done = await store.process_item(
            {
                "action": "batch",
                "operations": [
                    {"action": "create", "data": {"title": "one"}},
                    {"action": "create", "data": {"title": "two"}},
                ],
            }
        )
        assert done["status"] == "success"
        listed = await store.process_item({"action": "list"})
        assert [r["title"] for r in listed["data"]] == ["one", "two"]


async def test_describe_shows_reflected_columns(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        reply = await store.process_item({"action": "describe"})
    collections = {c["name"]: c for c in reply["collections"]}
    tasks = collections["tasks"]["fields"]
    assert tasks["id"]["generated"] is True
    assert tasks["title"] == {
        "type": "string",
        "nullable": False,
        "required": True,
        "max_length": 20,
    }
    assert tasks["completed"]["type"] == "boolean"
    assert tasks["due"]["type"] == "datetime"
    assert set(collections["users"]["fields"]) == {"id", "email", "name"}
    assert collections["notes"]["schemaless"] is True


async def test_performance_summary_counts_operations(fresh: Fresh) -> None:
    async with opened(fresh) as store:
        await store.process_item({"action": "create", "data": {"title": "a"}})
        await store.process_item({"action": "create", "data": {"title": 1}})
        await store.process_item({"action": "get", "id": "1"})
        summary = store.performance_monitor.get_performance_summary()
        health = store.get_health_status()
    assert summary["total_operations"] == 3
    assert summary["failed_operations"] == 1
    assert summary["success_rate"] == pytest.approx(2 / 3)
    assert summary["by_action"]["create"]["total_operations"] == 2
    assert 0 < summary["p50_duration"] <= summary["p95_duration"] <= summary["p99_duration"]
    assert health["store_connected"] is True
    assert health["database_type"] == fresh.dialect
