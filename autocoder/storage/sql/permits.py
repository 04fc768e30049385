"""Who may take a pooled connection next: first come, first served.

A driver pool alone is not fair. aiomysql's pool wakes its waiters through a condition, so a
task that releases a connection and asks again at once takes it back before any waiter runs:
with 32 callers on 4 connections, 4 callers are served thousands of times while the others
wait until their time limit. ``FairPermits`` stands in front of every pool, one permit per
connection: a permit given back goes straight to the longest waiter (the releaser, asking
again, queues behind everyone), so callers are served in the order they asked.

``take_nowait()`` takes a free permit when nobody waits (the fast path: no future, no timer);
``take()`` queues; ``give()`` hands the permit on. A waiter cancelled while queued leaves the
queue; one cancelled just as it was handed a permit passes it to the next.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress


class FairPermits:
    """``size`` permits handed out in the order they were asked for."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Tasks queued for a permit."""
        return len(self._waiters)

    def take_nowait(self) -> bool:
        """Take a permit if one is free and nobody is ahead; whether one was taken."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        """Wait in line for a permit (no time limit here: the caller bounds the wait)."""
        if self.take_nowait():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give()  # handed a permit as the wait was cancelled: pass it on
            else:
                with suppress(ValueError):  # already skipped by give()
                    self._waiters.remove(future)
            raise

    def give(self) -> None:
        """Give a permit back: to the first waiter still waiting, else to the free ones."""
        waiters = self._waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self._free += 1
