"""expected_version on update, replace and delete (SPEC section 3)."""

from __future__ import annotations

import anyio
import pytest

from autocoder.components.store import Store

pytestmark = pytest.mark.anyio


async def _created(store: Store) -> str:
    reply = await store.process_item({"action": "create", "data": {"n": 0}})
    return str(reply["id"])


@pytest.mark.parametrize("action", ["update", "replace"])
async def test_matching_expected_version_writes(store: Store, action: str) -> None:
    rid = await _created(store)
    reply = await store.process_item(
        {"action": action, "id": rid, "data": {"n": 1}, "expected_version": 1}
    )
    assert reply["status"] == "success"
    assert reply["version"] == 2


@pytest.mark.parametrize("action", ["update", "replace", "delete"])
async def test_stale_expected_version_is_refused_and_changes_nothing(
    store: Store, action: str
) -> None:
    rid = await _created(store)
    await store.process_item({"action": "update", "id": rid, "data": {"n": 1}})
    message = {"action": action, "id": rid, "expected_version": 1}
    if action != "delete":
        message["data"] = {"n": 99}
    reply = await store.process_item(message)
    assert reply["status"] == "error"
    assert reply["error_type"] == "version_conflict"
    got = await store.process_item({"action": "get", "id": rid})
    assert got["data"]["n"] == 1
    assert got["version"] == 2


async def test_delete_with_matching_version(store: Store) -> None:
    rid = await _created(store)
    reply = await store.process_item({"action": "delete", "id": rid, "expected_version": 1})
    assert reply == {"status": "success"}


async def test_two_concurrent_conditional_updates_exactly_one_wins(store: Store) -> None:
    rid = await _created(store)
    replies: list[dict[str, object]] = []

    async def update(value: int) -> None:
        replies.append(
            await store.process_item(
                {"action": "update", "id": rid, "data": {"n": value}, "expected_version": 1}
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(update, 1)
        tg.start_soon(update, 2)
    statuses = sorted(str(r.get("error_type", r["status"])) for r in replies)
    assert statuses == ["success", "version_conflict"]
    got = await store.process_item({"action": "get", "id": rid})
    assert got["version"] == 2
    winner = next(r for r in replies if r["status"] == "success")
    assert got["data"] == winner["data"]


async def test_expected_version_must_be_an_integer(store: Store) -> None:
    rid = await _created(store)
    reply = await store.process_item(
        {"action": "update", "id": rid, "data": {}, "expected_version": "1"}
    )
    assert reply["error_type"] == "validation_error"
