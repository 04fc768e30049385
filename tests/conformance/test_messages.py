"""Bad messages get clear error replies, and the store serves the next one (SPEC section 3)."""

from __future__ import annotations

from typing import Any

import pytest

from autocoder.components.store import Store

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("message", "error_type"),
    [
        ({"action": "frobnicate"}, "unknown_action"),
        ({"action": 5}, "unknown_action"),
        ({}, "validation_error"),
        ("not a message", "validation_error"),
        (["create"], "validation_error"),
        ({"action": "create"}, "validation_error"),
        ({"action": "create", "data": "text"}, "validation_error"),
        ({"action": "create", "data": {}, "colour": "red"}, "validation_error"),
        ({"action": "get"}, "validation_error"),
        ({"action": "get", "id": ""}, "validation_error"),
        ({"action": "get", "id": None}, "validation_error"),
        ({"action": "get", "id": "1", "collection": "nope"}, "validation_error"),
        ({"action": "get", "id": "1", "collection": "x; drop"}, "validation_error"),
        ({"action": "get", "id": "1", "tenant": 5}, "validation_error"),
        ({"action": "update", "id": "1", "data": [1]}, "validation_error"),
        ({"action": "create", "data": {"id": ""}}, "validation_error"),
    ],
)
async def test_bad_messages_get_error_replies(store: Store, message: Any, error_type: str) -> None:
    reply = await store.process_item(message)
    assert reply["status"] == "error"
    assert reply["error_type"] == error_type
    assert isinstance(reply["message"], str) and reply["message"]
    follow_up = await store.process_item({"action": "create", "data": {"ok": True}})
    assert follow_up["status"] == "success"


async def test_integer_ids_are_read_as_strings(store: Store) -> None:
    created = await store.process_item({"action": "create", "id": 42, "data": {}})
    assert created["id"] == "42"
    assert (await store.process_item({"action": "get", "id": 42}))["status"] == "success"


async def test_describe_names_the_collections(store: Store) -> None:
    reply = await store.process_item({"action": "describe"})
    assert reply["status"] == "success"
    names = [c["name"] for c in reply["collections"]]
    assert names and all(isinstance(n, str) for n in names)
    first = names[0]
    created = await store.process_item({"action": "create", "collection": first, "data": {}})
    assert created["status"] == "success"


async def test_stored_data_is_a_copy(store: Store) -> None:
    data: dict[str, Any] = {"tags": ["a"]}
    created = await store.process_item({"action": "create", "data": data})
    data["tags"].append("b")
    created["data"]["tags"].append("c")
    got = await store.process_item({"action": "get", "id": created["id"]})
    assert got["data"]["tags"] == ["a"]


async def test_health_counts_messages_and_records(store: Store) -> None:
    await store.process_item({"action": "create", "data": {}})
    created = await store.process_item({"action": "create", "data": {}})
    await store.process_item({"action": "delete", "id": created["id"]})
    await store.process_item({"action": "nope"})
    health = store.get_health_status()
    assert health["status"] == "healthy"
    assert health["store_connected"] is True
    assert health["items_count"] == 4
    assert health["task_count"] == 1
    assert health["storage_type"] in {"memory", "database"}
