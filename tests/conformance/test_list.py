"""list: where, order_by, limit, offset and next_offset (SPEC section 3)."""

from __future__ import annotations

import pytest

from autocoder.components.store import Store

pytestmark = pytest.mark.anyio


async def _fill(store: Store, items: list[dict[str, object]]) -> list[str]:
    ids = []
    for data in items:
        reply = await store.process_item({"action": "create", "data": data})
        ids.append(str(reply["id"]))
    return ids


async def test_list_in_creation_order(store: Store) -> None:
    ids = await _fill(store, [{"n": 3}, {"n": 1}, {"n": 2}])
    reply = await store.process_item({"action": "list"})
    assert [r["id"] for r in reply["data"]] == ids
    assert reply["count"] == 3
    assert reply["next_offset"] is None


async def test_where_is_type_strict_equality_on_all_fields(store: Store) -> None:
    ids = await _fill(
        store,
        [
            {"done": True, "n": 1},
            {"done": 1, "n": 1},
            {"done": "true", "n": 1},
            {"done": True, "n": 2},
            {"n": 1},
        ],
    )
    reply = await store.process_item({"action": "list", "where": {"done": True}})
    assert [r["id"] for r in reply["data"]] == [ids[0], ids[3]]
    both = await store.process_item({"action": "list", "where": {"done": True, "n": 1}})
    assert [r["id"] for r in both["data"]] == [ids[0]]
    as_number = await store.process_item({"action": "list", "where": {"done": 1}})
    assert [r["id"] for r in as_number["data"]] == [ids[1]]


async def test_where_on_strings_null_and_id(store: Store) -> None:
    ids = await _fill(store, [{"s": "a"}, {"s": None}, {"s": "b"}])
    assert [
        r["id"] for r in (await store.process_item({"action": "list", "where": {"s": "b"}}))["data"]
    ] == [ids[2]]
    nulls = await store.process_item({"action": "list", "where": {"s": None}})
    assert [r["id"] for r in nulls["data"]] == [ids[1]]
    by_id = await store.process_item({"action": "list", "where": {"id": ids[0]}})
    assert [r["id"] for r in by_id["data"]] == [ids[0]]


async def test_order_by_ascending_and_descending(store: Store) -> None:
    ids = await _fill(store, [{"n": 3}, {"n": 1}, {"n": 2}, {"n": 10}])
    up = await store.process_item({"action": "list", "order_by": "n"})
    assert [r["n"] for r in up["data"]] == [1, 2, 3, 10]
    down = await store.process_item({"action": "list", "order_by": "-n"})
    assert [r["n"] for r in down["data"]] == [10, 3, 2, 1]
    assert len(ids) == 4


async def test_order_by_strings_and_ties_keep_creation_order(store: Store) -> None:
    ids = await _fill(store, [{"s": "b", "k": 1}, {"s": "a", "k": 2}, {"s": "b", "k": 3}])
    reply = await store.process_item({"action": "list", "order_by": "s"})
    assert [r["id"] for r in reply["data"]] == [ids[1], ids[0], ids[2]]


async def test_records_missing_the_order_field_come_last_ascending(store: Store) -> None:
    ids = await _fill(store, [{"x": 1}, {"n": 2}, {"n": 1}])
    up = await store.process_item({"action": "list", "order_by": "n"})
    assert [r["id"] for r in up["data"]] == [ids[2], ids[1], ids[0]]
    down = await store.process_item({"action": "list", "order_by": "-n"})
    assert [r["id"] for r in down["data"]] == [ids[0], ids[1], ids[2]]


async def test_an_order_field_no_record_has_keeps_creation_order(store: Store) -> None:
    ids = await _fill(store, [{"n": 2}, {"n": 1}, {"n": 3}])
    for order_by in ("nonexistent", "-nonexistent"):
        reply = await store.process_item({"action": "list", "order_by": order_by})
        assert reply["status"] == "success"
        assert [r["id"] for r in reply["data"]] == ids, order_by


async def test_pages_with_limit_offset_and_next_offset(store: Store) -> None:
    ids = await _fill(store, [{"i": i} for i in range(7)])
    first = await store.process_item({"action": "list", "limit": 3})
    assert [r["id"] for r in first["data"]] == ids[:3]
    assert first["count"] == 3 and first["next_offset"] == 3
    second = await store.process_item({"action": "list", "limit": 3, "offset": 3})
    assert [r["id"] for r in second["data"]] == ids[3:6]
    assert second["next_offset"] == 6
    last = await store.process_item({"action": "list", "limit": 3, "offset": 6})
    assert [r["id"] for r in last["data"]] == ids[6:]
    assert last["count"] == 1 and last["next_offset"] is None
    beyond = await store.process_item({"action": "list", "offset": 100})
    assert beyond["data"] == [] and beyond["next_offset"] is None


async def test_default_limit_is_100(store: Store) -> None:
    await _fill(store, [{"i": i} for i in range(101)])
    reply = await store.process_item({"action": "list"})
    assert reply["count"] == 100
    assert reply["next_offset"] == 100


@pytest.mark.parametrize(
    "message",
    [
        {"action": "list", "limit": 1001},
        {"action": "list", "limit": -1},
        {"action": "list", "offset": -1},
        {"action": "list", "limit": "ten"},
        {"action": "list", "order_by": "n; DROP TABLE x"},
        {"action": "list", "where": {"a b": 1}},
        {"action": "list", "where": {"x') OR 1=1 --": 1}},
        {"action": "list", "where": "done"},
    ],
)
async def test_bad_list_messages_are_validation_errors(
    store: Store, message: dict[str, object]
) -> None:
    await _fill(store, [{"n": 1}])
    reply = await store.process_item(message)
    assert reply["status"] == "error"
    assert reply["error_type"] == "validation_error"
    assert (await store.process_item({"action": "list"}))["count"] == 1
