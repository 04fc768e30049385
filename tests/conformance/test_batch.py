"""batch: all operations apply, or none does (SPEC section 3)."""

from __future__ import annotations

import pytest

from autocoder.components.store import Store

pytestmark = pytest.mark.anyio


async def test_a_batch_applies_every_operation_in_order(store: Store) -> None:
    await store.process_item({"action": "create", "id": "a", "data": {"n": 1}})
    reply = await store.process_item(
        {
            "action": "batch",
            "operations": [
                {"action": "create", "id": "b", "data": {"n": 2}},
                {"action": "update", "id": "a", "data": {"m": 1}},
                {"action": "get", "id": "b"},
                {"action": "delete", "id": "a"},
                {"action": "list"},
            ],
        }
    )
    assert reply["status"] == "success", reply
    results = reply["results"]
    assert [r["status"] for r in results] == ["success"] * 5
    assert results[0]["id"] == "b"
    assert results[1]["data"] == {"id": "a", "n": 1, "m": 1}
    assert results[2]["data"] == {"id": "b", "n": 2}
    assert [r["id"] for r in results[4]["data"]] == ["b"]
    listed = await store.process_item({"action": "list"})
    assert [r["id"] for r in listed["data"]] == ["b"]


async def test_a_failing_operation_applies_nothing_and_names_its_index(store: Store) -> None:
    await store.process_item({"action": "create", "id": "a", "data": {"n": 1}})
    reply = await store.process_item(
        {
            "action": "batch",
            "operations": [
                {"action": "create", "id": "b", "data": {"n": 2}},
                {"action": "update", "id": "a", "data": {"n": 5}},
                {"action": "delete", "id": "a"},
                {"action": "create", "id": "b", "data": {"n": 3}},
            ],
        }
    )
    assert reply["status"] == "error"
    assert reply["error_type"] == "conflict"
    assert reply["index"] == 3
    listed = await store.process_item({"action": "list"})
    assert listed["data"] == [{"id": "a", "n": 1}]
    got = await store.process_item({"action": "get", "id": "a"})
    assert got["version"] == 1


async def test_not_found_inside_a_batch_rolls_back(store: Store) -> None:
    reply = await store.process_item(
        {
            "action": "batch",
            "operations": [
                {"action": "create", "id": "x", "data": {}},
                {"action": "delete", "id": "nope"},
            ],
        }
    )
    assert reply == {"status": "not_found", "action": "delete", "id": "nope", "index": 1}
    assert (await store.process_item({"action": "list"}))["count"] == 0


async def test_an_invalid_operation_is_reported_before_anything_runs(store: Store) -> None:
    reply = await store.process_item(
        {
            "action": "batch",
            "operations": [
                {"action": "create", "data": {"n": 1}},
                {"action": "update", "id": "1"},
            ],
        }
    )
    assert reply["error_type"] == "validation_error"
    assert reply["index"] == 1
    assert (await store.process_item({"action": "list"}))["count"] == 0


@pytest.mark.parametrize(
    "operations",
    [[], [{"action": "batch", "operations": [{"action": "list"}]}], [{"action": "describe"}], "x"],
)
async def test_bad_batches_are_validation_errors(store: Store, operations: object) -> None:
    reply = await store.process_item({"action": "batch", "operations": operations})
    assert reply["status"] == "error"
    assert reply["error_type"] == "validation_error"


async def test_a_large_batch_of_creates(store: Store) -> None:
    operations = [{"action": "create", "data": {"i": i}} for i in range(500)]
    reply = await store.process_item({"action": "batch", "operations": operations})
    assert reply["status"] == "success"
    ids = [r["id"] for r in reply["results"]]
    assert len(set(ids)) == 500
    page = await store.process_item({"action": "list", "limit": 1000})
    assert [r["i"] for r in page["data"]] == list(range(500))


async def test_a_batch_of_creates_with_a_taken_id_names_it_and_applies_nothing(
    store: Store,
) -> None:
    await store.process_item({"action": "create", "id": "taken", "data": {}})
    operations = [
        {"action": "create", "data": {"i": 0}},
        {"action": "create", "id": "fresh", "data": {"i": 1}},
        {"action": "create", "id": "taken", "data": {"i": 2}},
        {"action": "create", "data": {"i": 3}},
    ]
    reply = await store.process_item({"action": "batch", "operations": operations})
    assert reply["error_type"] == "conflict"
    assert reply["index"] == 2
    listed = await store.process_item({"action": "list"})
    assert [r["id"] for r in listed["data"]] == ["taken"]


async def test_a_batch_creating_one_id_twice_fails_at_the_second(store: Store) -> None:
    operations = [
        {"action": "create", "id": "twin", "data": {"n": 1}},
        {"action": "create", "id": "other", "data": {}},
        {"action": "create", "id": "twin", "data": {"n": 2}},
    ]
    reply = await store.process_item({"action": "batch", "operations": operations})
    assert reply["error_type"] == "conflict"
    assert reply["index"] == 2
    assert (await store.process_item({"action": "list"}))["count"] == 0
