"""create, get, update, replace, delete: replies, versions and ids (SPEC section 3)."""

from __future__ import annotations

import pytest

from autocoder.components.store import Store

pytestmark = pytest.mark.anyio


async def test_create_generates_an_id_and_version_one(store: Store) -> None:
    reply = await store.process_item({"action": "create", "data": {"title": "New Task"}})
    assert reply["status"] == "success"
    record_id = reply["id"]
    assert isinstance(record_id, str) and record_id
    assert reply["data"] == {"id": record_id, "title": "New Task"}
    assert reply["version"] == 1


async def test_get_returns_what_create_stored(store: Store) -> None:
    data = {"title": "x", "n": 3, "ok": True, "tags": ["a", "b"], "meta": {"k": None}, "f": 1.5}
    created = await store.process_item({"action": "create", "data": data})
    reply = await store.process_item({"action": "get", "id": created["id"]})
    assert reply == {
        "status": "success",
        "data": {**data, "id": created["id"]},
        "version": 1,
    }


async def test_create_with_a_chosen_id(store: Store) -> None:
    reply = await store.process_item({"action": "create", "id": "task-7", "data": {"a": 1}})
    assert reply["id"] == "task-7"
    via_data = await store.process_item({"action": "create", "data": {"id": "task-8", "a": 2}})
    assert via_data["id"] == "task-8"
    assert via_data["data"] == {"id": "task-8", "a": 2}


async def test_create_of_an_existing_id_is_a_conflict_and_keeps_the_record(store: Store) -> None:
    await store.process_item({"action": "create", "id": "k", "data": {"v": 1}})
    reply = await store.process_item({"action": "create", "id": "k", "data": {"v": 2}})
    assert reply["status"] == "error"
    assert reply["error_type"] == "conflict"
    kept = await store.process_item({"action": "get", "id": "k"})
    assert kept["data"] == {"id": "k", "v": 1}


async def test_generated_ids_skip_chosen_ones_and_are_distinct(store: Store) -> None:
    ids = set()
    await store.process_item({"action": "create", "id": "1", "data": {}})
    await store.process_item({"action": "create", "id": "2", "data": {}})
    for _ in range(5):
        reply = await store.process_item({"action": "create", "data": {}})
        assert reply["status"] == "success", reply
        ids.add(reply["id"])
    assert len(ids) == 5
    assert not ids & {"1", "2"}


async def test_update_merges_and_counts_versions(store: Store) -> None:
    created = await store.process_item({"action": "create", "data": {"a": 1, "b": 2}})
    rid = created["id"]
    reply = await store.process_item({"action": "update", "id": rid, "data": {"b": 3, "c": 4}})
    assert reply == {"status": "success", "data": {"id": rid, "a": 1, "b": 3, "c": 4}, "version": 2}
    again = await store.process_item({"action": "update", "id": rid, "data": {"a": 0}})
    assert again["version"] == 3


async def test_replace_swaps_the_whole_record(store: Store) -> None:
    created = await store.process_item({"action": "create", "data": {"a": 1, "b": 2}})
    rid = created["id"]
    reply = await store.process_item({"action": "replace", "id": rid, "data": {"z": 9}})
    assert reply == {"status": "success", "data": {"id": rid, "z": 9}, "version": 2}
    got = await store.process_item({"action": "get", "id": rid})
    assert got["data"] == {"id": rid, "z": 9}


async def test_delete_removes_the_record(store: Store) -> None:
    created = await store.process_item({"action": "create", "data": {"a": 1}})
    rid = created["id"]
    assert await store.process_item({"action": "delete", "id": rid}) == {"status": "success"}
    assert await store.process_item({"action": "get", "id": rid}) == {
        "status": "not_found",
        "action": "get",
        "id": rid,
    }


@pytest.mark.parametrize(
    "message",
    [
        {"action": "get", "id": "missing"},
        {"action": "update", "id": "missing", "data": {"a": 1}},
        {"action": "replace", "id": "missing", "data": {"a": 1}},
        {"action": "delete", "id": "missing"},
    ],
)
async def test_missing_records_are_not_found(store: Store, message: dict[str, object]) -> None:
    reply = await store.process_item(message)
    assert reply == {"status": "not_found", "action": message["action"], "id": "missing"}
    listed = await store.process_item({"action": "list"})
    assert listed["data"] == []


async def test_the_id_cannot_be_changed_by_update(store: Store) -> None:
    created = await store.process_item({"action": "create", "data": {"a": 1}})
    reply = await store.process_item(
        {"action": "update", "id": created["id"], "data": {"id": "other"}}
    )
    assert reply["error_type"] == "validation_error"
    got = await store.process_item({"action": "get", "id": created["id"]})
    assert got["version"] == 1


async def test_ids_up_to_255_characters(store: Store) -> None:
    long_id = "x" * 255
    reply = await store.process_item({"action": "create", "id": long_id, "data": {}})
    assert reply["id"] == long_id
    too_long = await store.process_item({"action": "create", "id": "y" * 256, "data": {}})
    assert too_long["error_type"] == "validation_error"


async def test_injection_shaped_ids_are_just_ids(store: Store) -> None:
    nasty = "1'; DROP TABLE tasks; --"
    reply = await store.process_item({"action": "create", "id": nasty, "data": {"q": "'\""}})
    assert reply["id"] == nasty
    got = await store.process_item({"action": "get", "id": nasty})
    assert got["data"] == {"id": nasty, "q": "'\""}
    assert (await store.process_item({"action": "list"}))["count"] == 1


async def test_unicode_round_trips(store: Store) -> None:
    data = {"title": "Grüße 🌍 日本", "emoji": "\u2603"}
    created = await store.process_item({"action": "create", "id": "ü-1", "data": data})
    got = await store.process_item({"action": "get", "id": created["id"]})
    assert got["data"] == {**data, "id": "ü-1"}
