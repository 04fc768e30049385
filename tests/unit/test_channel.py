"""The in-process channel under every binding: buffering, ending, closing and cancellation."""

from __future__ import annotations

import asyncio
import math

import anyio
import pytest

from autocoder.runtime.channel import ChannelReceiver, ChannelSender, channel

pytestmark = pytest.mark.anyio


def pair(size: float) -> tuple[ChannelSender[str], ChannelReceiver[str]]:
    return channel(size)


async def test_items_come_out_in_the_order_they_went_in_and_a_full_buffer_would_block() -> None:
    send, receive = pair(2)
    send.send_nowait("a")
    await send.send("b")
    with pytest.raises(anyio.WouldBlock):
        send.send_nowait("c")
    assert send.statistics().current_buffer_used == 2
    assert [receive.receive_nowait(), await receive.receive()] == ["a", "b"]
    with pytest.raises(anyio.WouldBlock):
        receive.receive_nowait()


async def test_a_waiting_receiver_is_handed_the_item_directly() -> None:
    send, receive = pair(0)
    got: list[str] = []

    async def take() -> None:
        got.append(await receive.receive())

    async with anyio.create_task_group() as tg:
        tg.start_soon(take)
        await anyio.wait_all_tasks_blocked()
        send.send_nowait("x")  # no room in a buffer of 0, but a receiver waits
    assert got == ["x"]


async def test_a_sender_waits_for_room_and_its_item_is_delivered_in_turn() -> None:
    send, receive = pair(1)
    send.send_nowait("first")
    async with anyio.create_task_group() as tg:
        tg.start_soon(send.send, "second")
        await anyio.wait_all_tasks_blocked()
        assert send.statistics().tasks_waiting_send == 1
        assert receive.receive_nowait() == "first"
    assert receive.receive_nowait() == "second"


async def test_receivers_end_after_the_last_sender_closes_and_the_buffer_is_empty() -> None:
    send, receive = pair(math.inf)
    other = send.clone()
    send.send_nowait("kept")
    send.close()
    other.send_nowait("also kept")
    other.close()
    assert [item async for item in receive] == ["kept", "also kept"]
    with pytest.raises(anyio.EndOfStream):
        await receive.receive()


async def test_a_waiting_receiver_ends_when_the_last_sender_closes() -> None:
    send, receive = pair(1)
    ended = False

    async def take() -> None:
        nonlocal ended
        with pytest.raises(anyio.EndOfStream):
            await receive.receive()
        ended = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(take)
        await anyio.wait_all_tasks_blocked()
        await send.aclose()
    assert ended


async def test_senders_are_told_once_every_receiver_has_closed() -> None:
    send, receive = pair(1)
    send.send_nowait("a")
    broken = False

    async def put() -> None:
        nonlocal broken
        with pytest.raises(anyio.BrokenResourceError):
            await send.send("b")
        broken = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(put)
        await anyio.wait_all_tasks_blocked()
        receive.clone().close()  # one receiver of two closing changes nothing
        assert not broken
        receive.close()
    assert broken
    with pytest.raises(anyio.BrokenResourceError):
        send.send_nowait("c")


async def test_closing_a_sender_withdraws_its_waiting_send() -> None:
    send, receive = pair(1)
    send.send_nowait("a")
    withdrawn = False

    async def put() -> None:
        nonlocal withdrawn
        with pytest.raises(anyio.ClosedResourceError):
            await send.send("never delivered")
        withdrawn = True

    other = send.clone()
    async with anyio.create_task_group() as tg:
        tg.start_soon(put)
        await anyio.wait_all_tasks_blocked()
        send.close()
    assert withdrawn
    assert receive.receive_nowait() == "a"
    with pytest.raises(anyio.WouldBlock):  # ``other`` still open: not ended, and nothing left
        receive.receive_nowait()
    with pytest.raises(anyio.ClosedResourceError):
        send.send_nowait("closed")
    other.close()


async def test_a_receiver_cancelled_as_it_was_handed_an_item_passes_it_on() -> None:
    # anyio does not cancel a task whose wait has just been answered, so asyncio's own
    # cancel() makes the race: the item is handed over, then the task is cancelled before
    # it runs.
    send, receive = pair(0)
    taker = asyncio.get_running_loop().create_task(receive.receive())
    await anyio.wait_all_tasks_blocked()
    send.send_nowait("precious")
    taker.cancel()
    await asyncio.wait([taker])
    assert taker.cancelled()
    assert receive.receive_nowait() == "precious"


async def test_a_cancelled_send_delivers_nothing_and_a_cancelled_receive_leaves_no_waiter() -> None:
    send, receive = pair(0)
    with anyio.move_on_after(0.01):
        await send.send("given up")
    with anyio.move_on_after(0.01):
        await receive.receive()
    stats = send.statistics()
    assert (stats.tasks_waiting_send, stats.tasks_waiting_receive) == (0, 0)
    with pytest.raises(anyio.WouldBlock):
        receive.receive_nowait()
    with pytest.raises(anyio.WouldBlock):  # no receiver left waiting to be handed this
        send.send_nowait("x")


async def test_a_closed_side_refuses_use() -> None:
    send, receive = pair(1)
    receive.close()
    with pytest.raises(anyio.ClosedResourceError):
        receive.receive_nowait()
    with pytest.raises(anyio.ClosedResourceError):
        receive.clone()
    send.close()
    with pytest.raises(anyio.ClosedResourceError):
        send.clone()


def test_a_negative_buffer_size_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 0"):
        channel(-1)
