"""Concurrent creates, and records surviving a close and reopen (database backends)."""

from __future__ import annotations

import anyio
import pytest

from autocoder.components.store import Store
from tests.conformance.conftest import StoreFactory

pytestmark = pytest.mark.anyio


async def test_200_concurrent_creates_give_200_distinct_ids(store: Store) -> None:
    ids: list[str] = []

    async def create(i: int) -> None:
        reply = await store.process_item({"action": "create", "data": {"i": i}})
        assert reply["status"] == "success", reply
        ids.append(reply["id"])

    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(create, i)
    assert len(set(ids)) == 200
    listed = await store.process_item({"action": "list", "limit": 1000})
    assert listed["count"] == 200


async def test_records_survive_closing_and_reopening(store_factory: StoreFactory) -> None:
    if not store_factory.durable:
        pytest.skip("memory storage is not durable by design")
    first = await store_factory.open()
    created = await first.process_item({"action": "create", "data": {"keep": "me"}})
    await first.process_item({"action": "update", "id": created["id"], "data": {"v": 2}})
    await store_factory.close(first)

    second = await store_factory.open()
    got = await second.process_item({"action": "get", "id": created["id"]})
    assert got["data"] == {"id": created["id"], "keep": "me", "v": 2}
    assert got["version"] == 2
    fresh = await second.process_item({"action": "create", "data": {}})
    assert fresh["id"] != created["id"]


async def test_two_stores_on_one_database_never_share_generated_ids(
    store_factory: StoreFactory,
) -> None:
    if not store_factory.durable:
        pytest.skip("memory stores share nothing")
    one = await store_factory.open("one")
    two = await store_factory.open("two")
    ids = []
    for _ in range(10):
        for store in (one, two):
            ids.append((await store.process_item({"action": "create", "data": {}}))["id"])
    assert len(set(ids)) == 20
