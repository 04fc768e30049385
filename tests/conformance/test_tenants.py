"""Tenants partition records: no message of one tenant sees another's (SPEC section 3)."""

from __future__ import annotations

import pytest

from autocoder.components.store import Store

pytestmark = pytest.mark.anyio


async def test_tenants_never_see_each_other(store: Store) -> None:
    a = await store.process_item({"action": "create", "tenant": "a", "id": "1", "data": {"t": "a"}})
    b = await store.process_item({"action": "create", "tenant": "b", "id": "1", "data": {"t": "b"}})
    assert a["status"] == b["status"] == "success"
    got_a = await store.process_item({"action": "get", "tenant": "a", "id": "1"})
    assert got_a["data"] == {"id": "1", "t": "a"}
    assert (await store.process_item({"action": "get", "id": "1"}))["status"] == "not_found"
    listed = await store.process_item({"action": "list", "tenant": "b"})
    assert listed["data"] == [{"id": "1", "t": "b"}]
    assert (await store.process_item({"action": "list", "where": {"t": "a"}}))["count"] == 0


async def test_one_tenant_cannot_change_or_delete_anothers_records(store: Store) -> None:
    await store.process_item({"action": "create", "tenant": "a", "id": "r", "data": {"v": 1}})
    for message in (
        {"action": "update", "id": "r", "data": {"v": 2}},
        {"action": "replace", "id": "r", "data": {"v": 2}},
        {"action": "delete", "id": "r"},
    ):
        reply = await store.process_item({**message, "tenant": "b"})
        assert reply["status"] == "not_found"
    got = await store.process_item({"action": "get", "tenant": "a", "id": "r"})
    assert got["data"] == {"id": "r", "v": 1} and got["version"] == 1


async def test_a_batch_stays_in_its_tenant(store: Store) -> None:
    reply = await store.process_item(
        {
            "action": "batch",
            "tenant": "t1",
            "operations": [{"action": "create", "id": "x", "data": {}}],
        }
    )
    assert reply["status"] == "success"
    assert (await store.process_item({"action": "get", "tenant": "t1", "id": "x"}))[
        "status"
    ] == "success"
    assert (await store.process_item({"action": "get", "tenant": "t2", "id": "x"}))[
        "status"
    ] == "not_found"
