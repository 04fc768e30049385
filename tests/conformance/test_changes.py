"""Change feeds on every backend: seq in list replies and change events, and watching."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from autocoder.components.store import Store
from autocoder.errors import ChangesGone, ValidationFailed, WatcherLagged
from tests.conformance.conftest import StoreFactory

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def running(store: Store) -> AsyncIterator[Store]:
    """The store serving (its change feeds too) for the block."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.run)
        with anyio.fail_after(5):
            while not store.feeds.running:
                await anyio.sleep(0.001)
        yield store
        await store.stop_accepting()


async def take(events: AsyncIterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    with anyio.fail_after(10):
        async for event in events:
            got.append(event)
            if len(got) == count:
                break
    return got


async def ok(store: Store, message: dict[str, Any]) -> dict[str, Any]:
    reply = await store.process_item(message)
    assert reply["status"] == "success", reply
    return reply


async def test_list_carries_the_seq_of_the_last_committed_change(store: Store) -> None:
    assert (await ok(store, {"action": "list"}))["seq"] == 0
    made = await ok(store, {"action": "create", "data": {"n": 1}})
    await ok(store, {"action": "update", "id": made["id"], "data": {"n": 2}})
    await ok(store, {"action": "create", "tenant": "other", "data": {"n": 3}})
    assert (await ok(store, {"action": "list"}))["seq"] == 3
    assert (await ok(store, {"action": "list", "tenant": "other"}))["seq"] == 3
    failed = await store.process_item({"action": "delete", "id": "missing"})
    assert failed["status"] == "not_found"
    assert (await ok(store, {"action": "list", "where": {"n": 99}}))["seq"] == 3


async def test_a_watcher_gets_every_change_in_seq_order_with_its_seq(store: Store) -> None:
    async with running(store):
        base = (await ok(store, {"action": "list"}))["seq"]
        events = store.watch(since=base)
        made = await ok(store, {"action": "create", "data": {"title": "a"}})
        await ok(store, {"action": "update", "id": made["id"], "data": {"done": True}})
        await ok(store, {"action": "replace", "id": made["id"], "data": {"title": "b"}})
        await ok(store, {"action": "delete", "id": made["id"]})
        got = await take(events, 4)
        await events.aclose()
    assert [e["event"] for e in got] == ["created", "updated", "replaced", "deleted"]
    assert [e["seq"] for e in got] == [base + 1, base + 2, base + 3, base + 4]
    assert [e["version"] for e in got] == [1, 2, 3, 3]
    assert got[1]["data"] == {"id": made["id"], "title": "a", "done": True}
    assert got[3]["data"] == {"id": made["id"], "title": "b"}  # as it was


async def test_since_replays_from_the_history_then_goes_on_live(store: Store) -> None:
    async with running(store):
        for n in range(5):
            await ok(store, {"action": "create", "data": {"n": n}})
        events = store.watch(since=2)
        replayed = await take(events, 3)
        await ok(store, {"action": "create", "data": {"n": 5}})
        live = await take(events, 1)
        await events.aclose()
    assert [e["seq"] for e in replayed + live] == [3, 4, 5, 6]
    assert [e["data"]["n"] for e in replayed + live] == [2, 3, 4, 5]


async def test_watch_filters_by_tenant_and_fields(store: Store) -> None:
    async with running(store):
        events = store.watch(since=0, tenant="acme", where={"done": True})
        await ok(store, {"action": "create", "tenant": "zeta", "data": {"done": True}})
        await ok(store, {"action": "create", "tenant": "acme", "data": {"done": False}})
        made = await ok(store, {"action": "create", "tenant": "acme", "data": {"done": True}})
        await ok(store, {"action": "delete", "tenant": "acme", "id": made["id"]})
        got = await take(events, 2)
        await events.aclose()
    assert [(e["event"], e["seq"], e["tenant"]) for e in got] == [
        ("created", 3, "acme"),
        ("deleted", 4, "acme"),
    ]


async def test_watchers_sharing_a_round_each_get_their_own_tenant_and_filters(
    store: Store,
) -> None:
    # A round's events are picked once per cursor, tenant and filters: watchers alike share
    # them, the others (another tenant, other filters, another cursor) must get exactly theirs.
    async with running(store):
        opened = [
            ("acme", {"done": True}),
            ("acme", {"done": True}),
            ("acme", {}),
            ("zeta", {}),
            ("acme", {"done": False}),
        ]
        watches = [
            await store.open_watch(since=0, tenant=tenant, where=where) for tenant, where in opened
        ]
        writes = [("acme", True), ("zeta", True), ("acme", False), ("acme", True), ("zeta", False)]

        async def write(n: int) -> None:
            tenant, done = writes[n]
            await ok(store, {"action": "create", "tenant": tenant, "data": {"n": n, "done": done}})

        async with anyio.create_task_group() as tg:  # together: in one round of the feed
            for n in range(len(writes)):
                tg.start_soon(write, n)
        got = []
        for events, count in zip(watches, [2, 0, 3, 2, 1], strict=True):
            seen = await take(events, count) if count else []
            assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
            got.append(sorted(e["data"]["n"] for e in seen))
        # Another cursor, same tenant and filters: one watcher took the round above, the
        # other did not look; the next round must give the first its new change and the
        # second all three.
        await ok(store, {"action": "create", "tenant": "acme", "data": {"n": 5, "done": True}})
        got.append(sorted(e["data"]["n"] for e in await take(watches[0], 1)))
        got.append(sorted(e["data"]["n"] for e in await take(watches[1], 3)))
        for events in watches:
            await events.aclose()
    assert got == [[0, 3], [], [0, 2, 3], [1, 4], [2], [5], [0, 3, 5]]


async def test_since_past_the_latest_seq_or_older_than_the_history_is_refused(
    store_factory: StoreFactory,
) -> None:
    store_factory.config["changes_retention"] = 3
    store = await store_factory.open()
    async with running(store):
        for n in range(20):
            await ok(store, {"action": "create", "data": {"n": n}})
        await store.feeds.trim_now()
        with pytest.raises(ValidationFailed, match="since 21 is past the latest change"):
            await store.watch(since=21).__anext__()
        with pytest.raises(ChangesGone, match="no longer kept") as gone:
            await store.watch(since=1).__anext__()
        assert gone.value.to_reply()["error_type"] == "gone"
        kept = await take(store.watch(since=17), 3)
    assert [e["seq"] for e in kept] == [18, 19, 20]


async def test_a_watcher_that_falls_a_buffer_behind_is_cut_off_and_resumes_missing_nothing(
    store: Store,
) -> None:
    store.feeds.buffer = 4
    async with running(store):
        await ok(store, {"action": "create", "data": {"n": -1}})
        events = store.watch(since=0)
        seen = await take(events, 1)  # the watcher is live
        for n in range(30):
            await ok(store, {"action": "create", "data": {"n": n}})
        with pytest.raises(WatcherLagged) as lagged:
            with anyio.fail_after(10):
                async for event in events:
                    seen.append(event)
        resume_from = lagged.value.details["seq"]
        assert resume_from == seen[-1]["seq"]
        seen += await take(store.watch(since=resume_from), 31 - len(seen))
    assert [e["seq"] for e in seen] == list(range(1, 32))


async def test_32_concurrent_writers_never_make_a_watcher_skip_a_change(store: Store) -> None:
    writers, writes = 32, 6
    async with running(store):
        await ok(store, {"action": "create", "id": "seed", "data": {}})
        events = store.watch(since=0)
        replies: list[dict[str, Any]] = []

        async def writer(w: int) -> None:
            made = await ok(store, {"action": "create", "data": {"w": w}})
            replies.append(made)
            for n in range(writes - 1):
                replies.append(
                    await ok(store, {"action": "update", "id": made["id"], "data": {"n": n}})
                )

        async with anyio.create_task_group() as tg:
            for w in range(writers):
                tg.start_soon(writer, w)
            got = await take(events, 1 + writers * writes)
        await events.aclose()
    seqs = [e["seq"] for e in got]
    assert seqs == list(range(1, 2 + writers * writes))
    written = sorted((r["data"]["id"], r["version"]) for r in replies)
    watched = sorted((e["id"], e["version"]) for e in got if e["id"] != "seed")
    assert watched == written


async def test_changes_made_through_another_store_reach_a_watcher(
    store_factory: StoreFactory,
) -> None:
    if not store_factory.durable:
        pytest.skip("memory stores share nothing")
    writer = await store_factory.open("writer")
    watcher_store = await store_factory.open("watcher")
    async with running(watcher_store):
        since = (await ok(watcher_store, {"action": "list"}))["seq"]
        events = watcher_store.watch(since=since)
        first = await ok(writer, {"action": "create", "data": {"from": "elsewhere"}})
        with anyio.fail_after(2):
            got = await take(events, 1)
        await events.aclose()
    assert got[0]["id"] == first["id"] and got[0]["seq"] == since + 1
