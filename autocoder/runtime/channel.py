"""Bounded in-process channels: what every message of a memory binding travels through.

A channel has the contract of anyio's memory object streams, with the same exceptions
(``anyio.WouldBlock``, ``EndOfStream``, ``ClosedResourceError``, ``BrokenResourceError``) and
the same cloning: each sender and receiver side can be cloned and closed on its own; once
every sender side is closed the receivers get ``EndOfStream`` after the buffer is empty, and
once every receiver side is closed the senders get ``BrokenResourceError``. It is owned here
because every in-process request crosses one twice (in, and the reply's wake-up), and
anyio's waiting path costs more than the rest of a memory ``get``: each ``receive()`` that
waits yields to the loop first, then makes an ``Event`` (a ``sniffio`` look-up), and a
receiver record carrying the waiting task's info. Waiters here are asyncio futures: autocoder
runs on asyncio (uvloop in production) only.

Two choices differ from anyio's, both on purpose:

- ``send()`` and ``receive()`` return at once when they can (anyio's yield to the event loop
  first); they give the loop a turn only when they wait.
- A receiver cancelled just as it was handed an item passes the item on to the next waiting
  receiver, or back to the front of the buffer: a cancellation never loses an item.

    sender, receiver = channel(buffer_size)
    await sender.send(item)            # waits while the buffer is full
    item = await receiver.receive()    # waits while it is empty
    sender.close()                     # the last sender closed: receivers end
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from anyio import BrokenResourceError, ClosedResourceError, EndOfStream, WouldBlock
from anyio.streams.memory import MemoryObjectStreamStatistics

T = TypeVar("T")

__all__ = ["ChannelReceiver", "ChannelSender", "channel"]


def channel(buffer_size: float) -> tuple[ChannelSender[T], ChannelReceiver[T]]:
    """A channel holding at most ``buffer_size`` items (``math.inf``: unbounded; 0: each
    send waits for a receiver): its first sender and its first receiver."""
    if buffer_size < 0:
        raise ValueError(f"buffer_size must be at least 0, not {buffer_size}")
    state: _State[T] = _State(buffer_size)
    return ChannelSender(state), ChannelReceiver(state)


class _Sending(Generic[T]):
    """A sender waiting for room: its item, and the future it waits on."""

    __slots__ = ("future", "item")

    def __init__(self, future: asyncio.Future[None], item: T) -> None:
        self.future = future
        self.item = item


class _State(Generic[T]):
    """What the sides of one channel share."""

    __slots__ = (
        "buffer",
        "max_size",
        "receivers",
        "senders",
        "waiting_receivers",
        "waiting_senders",
    )

    def __init__(self, max_size: float) -> None:
        self.buffer: deque[T] = deque()
        self.max_size = max_size
        self.senders = 0
        self.receivers = 0
        self.waiting_receivers: deque[asyncio.Future[T]] = deque()
        self.waiting_senders: deque[_Sending[T]] = deque()

    def hand_to_receiver(self, item: T) -> bool:
        """Give ``item`` to the longest waiting receiver; False when none waits."""
        waiting = self.waiting_receivers
        while waiting:
            future = waiting.popleft()
            if not future.done():  # a cancelled waiter's future is done (cancelled)
                future.set_result(item)
                return True
        return False

    def take(self) -> T:
        """The next item: from the buffer, refilled from the longest waiting sender."""
        waiting = self.waiting_senders
        while waiting:
            sending = waiting.popleft()
            if not sending.future.done():
                self.buffer.append(sending.item)
                sending.future.set_result(None)
                break
        if self.buffer:
            return self.buffer.popleft()
        if not self.senders:
            raise EndOfStream
        raise WouldBlock

    def give_back(self, item: T) -> None:
        """An item a cancelled receiver was handed: to the next waiter, or first in line."""
        if not self.hand_to_receiver(item):
            self.buffer.appendleft(item)

    def statistics(self) -> MemoryObjectStreamStatistics:
        return MemoryObjectStreamStatistics(
            current_buffer_used=len(self.buffer),
            max_buffer_size=self.max_size,
            open_send_streams=self.senders,
            open_receive_streams=self.receivers,
            tasks_waiting_send=sum(not s.future.done() for s in self.waiting_senders),
            tasks_waiting_receive=sum(not f.done() for f in self.waiting_receivers),
        )


class _Side(Generic[T]):
    """What both sides of a channel have: their state, their closing and their own waiters."""

    __slots__ = ("_closed", "_state", "_waiting")

    _waiting: set[asyncio.Future[Any]]

    def __init__(self, state: _State[T]) -> None:
        self._state = state
        self._closed = False
        #: This side's waits (sends for room, receives for an item), ended when it closes.
        self._waiting = set()

    def clone(self) -> Self:
        """Another side like this one, closed on its own."""
        if self._closed:
            raise ClosedResourceError
        return type(self)(self._state)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._closing()

    def _closing(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        self.close()

    def statistics(self) -> MemoryObjectStreamStatistics:
        return self._state.statistics()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ChannelSender(_Side[T]):
    """One sender side of a channel."""

    __slots__ = ()

    def __init__(self, state: _State[T]) -> None:
        super().__init__(state)
        state.senders += 1

    def send_nowait(self, item: T) -> None:
        """Deliver ``item`` now: ``WouldBlock`` when the buffer is full and nobody waits."""
        state = self._state
        if self._closed:
            raise ClosedResourceError
        if not state.receivers:
            raise BrokenResourceError
        if state.hand_to_receiver(item):
            return
        if len(state.buffer) < state.max_size:
            state.buffer.append(item)
            return
        raise WouldBlock

    async def send(self, item: T) -> None:
        """Deliver ``item``, waiting while the buffer is full."""
        try:
            self.send_nowait(item)
            return
        except WouldBlock:
            pass
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.add(future)
        self._state.waiting_senders.append(_Sending(future, item))
        try:
            await future  # ClosedResourceError / BrokenResourceError set on closing
        except asyncio.CancelledError:
            self._withdraw(future)
            raise
        finally:
            self._waiting.discard(future)

    def _withdraw(self, future: asyncio.Future[None]) -> None:
        waiting = self._state.waiting_senders
        for sending in waiting:
            if sending.future is future:
                waiting.remove(sending)
                return

    def _closing(self) -> None:
        state = self._state
        for future in self._waiting:
            self._withdraw(future)
            if not future.done():
                future.set_exception(ClosedResourceError())
        state.senders -= 1
        if not state.senders:
            waiting, state.waiting_receivers = state.waiting_receivers, deque()
            for receiver in waiting:
                if not receiver.done():
                    receiver.set_exception(EndOfStream())


class ChannelReceiver(_Side[T]):
    """One receiver side of a channel; ``async for item in receiver`` until it ends."""

    __slots__ = ()

    def __init__(self, state: _State[T]) -> None:
        super().__init__(state)
        state.receivers += 1

    def receive_nowait(self) -> T:
        """The next item now: ``WouldBlock`` when there is none, ``EndOfStream`` when there
        will be none (every sender closed and the buffer empty)."""
        if self._closed:
            raise ClosedResourceError
        return self._state.take()

    async def receive(self) -> T:
        """The next item, waiting for one; ``EndOfStream`` once every sender has closed."""
        try:
            return self.receive_nowait()
        except WouldBlock:
            pass
        state = self._state
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.add(future)
        state.waiting_receivers.append(future)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                state.give_back(future.result())
            else:
                with suppress(ValueError):  # already passed over by a sender
                    state.waiting_receivers.remove(future)
            raise
        finally:
            self._waiting.discard(future)

    def _closing(self) -> None:
        state = self._state
        for future in self._waiting:
            if not future.done():
                future.set_exception(ClosedResourceError())
        state.receivers -= 1
        if not state.receivers:
            waiting, state.waiting_senders = state.waiting_senders, deque()
            for sending in waiting:
                if not sending.future.done():
                    sending.future.set_exception(BrokenResourceError())

    def __aiter__(self) -> ChannelReceiver[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except EndOfStream:
            raise StopAsyncIteration from None
