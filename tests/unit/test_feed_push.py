"""Push mode of the change feed (``Subscription.pushed``): the feed's own task hands each round
to the watchers' sinks, a slice at a time, pausing for the event loop between slices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from autocoder.components.store import Store
from autocoder.store import feed as feed_module
from autocoder.store.feed import (
    BATCH_WINDOW,
    MAX_BATCH_WINDOW,
    PUSH_SHARE,
    STRETCH_BYTES,
    Event,
    Subscription,
    round_window,
)

pytestmark = pytest.mark.anyio

WATCHERS = 12
WRITES = 40


def _seq_text(event: Event) -> bytes:
    return b"%d," % event["seq"]


def _seqs(received: list[bytes]) -> list[int]:
    return [int(seq) for seq in b"".join(received).split(b",") if seq]


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    store = Store("pushed", {"storage_type": "memory", "table_name": "items"})
    await store.setup()
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(store.run)
            while not store.feeds.running:
                await anyio.sleep(0.001)
            yield store
            await store.stop_accepting()
            tasks.cancel_scope.cancel()
    finally:
        await store.cleanup()


async def _follow(
    subscription: Subscription,
    received: list[bytes],
    pushed: list[int],
    sink_says: Any = None,
) -> None:
    """What ``EventStream`` does: pushed while caught up, its own reads otherwise; counts in
    ``pushed`` the rounds with events that came through its sink."""

    def sink(text: bytes) -> bool:
        received.append(text)
        pushed[0] += bool(text)
        return True if sink_says is None else bool(sink_says(text))

    while True:
        if subscription.can_push():
            await subscription.pushed(sink, _seq_text)
            continue
        text = await subscription.next_encoded(_seq_text)
        if text is None:
            return
        received.append(text)


async def test_every_pushed_watcher_gets_every_change_once_while_others_close_mid_round(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pause for the event loop after every watcher: each round is handed out in slices.
    monkeypatch.setattr(feed_module, "PUSH_SLICE", 0.0)
    start = (await store.process_item({"action": "list", "limit": 0}))["seq"]
    subscriptions = [await store.open_watch(since=start) for _ in range(WATCHERS)]
    received: list[list[bytes]] = [[] for _ in subscriptions]
    pushed = [[0] for _ in subscriptions]
    closing = subscriptions[-3:]  # closed by another watcher's sink, during a round
    # subscriptions[0] leaves push mode every other round (and comes back)

    def close_others(text: bytes) -> bool:
        if text and _seqs([text])[-1] >= start + WRITES // 2:
            for subscription in closing:
                subscription.close()
        return True

    refusals = iter(range(1_000_000))

    def refuse_every_other(text: bytes) -> bool:
        return next(refusals) % 2 == 0

    async with anyio.create_task_group() as tasks:
        for index, subscription in enumerate(subscriptions):
            says = {0: refuse_every_other, 1: close_others}.get(index)
            tasks.start_soon(_follow, subscription, received[index], pushed[index], says)
        for n in range(WRITES):
            reply = await store.process_item({"action": "create", "data": {"n": n}})
            assert reply["status"] == "success"
            if n % 5 == 0:
                await anyio.sleep(0.03)  # a round of its own now and then
        everything = list(range(start + 1, start + WRITES + 1))
        with anyio.fail_after(5):
            while any(
                _seqs(got) != everything
                for subscription, got in zip(subscriptions, received, strict=True)
                if subscription not in closing
            ):
                await anyio.sleep(0.01)
        for subscription in subscriptions:
            subscription.close()
        tasks.cancel_scope.cancel()
    assert all(count > 1 for (count,) in pushed)  # rounds came through the sinks
    for got in received[-3:]:  # the closed ones
        seqs = _seqs(got)
        assert seqs == everything[: len(seqs)]  # in order, nothing twice, until it closed


def test_the_window_stretches_with_what_handing_out_costs_up_to_its_bound() -> None:
    assert round_window(BATCH_WINDOW, 0.0, 0) == BATCH_WINDOW
    cheap = BATCH_WINDOW * PUSH_SHARE / 2
    assert round_window(BATCH_WINDOW, cheap, 100) == BATCH_WINDOW
    costly = (BATCH_WINDOW + MAX_BATCH_WINDOW) / 2 * PUSH_SHARE
    assert round_window(BATCH_WINDOW, costly, 100) == pytest.approx(costly / PUSH_SHARE)
    assert round_window(BATCH_WINDOW, 1.0, 100) == MAX_BATCH_WINDOW
    # Rounds costing their bytes are not made longer.
    assert round_window(BATCH_WINDOW, 1.0, STRETCH_BYTES + 1) == BATCH_WINDOW
