"""Time limits on database operations, kept by one task instead of a timer per operation.

aiomysql has no read timeout, so a MySQL statement on a silent network (or behind a lock)
would wait for ever. ``asyncio.timeout`` around each operation bounds it, but its timer costs
a measurable share of a single-row operation. ``Watchdog`` keeps the same bound with one task:
``begin()`` notes when the current task's operation started, and the watchdog, waking every
``resolution`` seconds while operations run, cancels the task of any that has run ``limit``
seconds. ``end()`` then tells the operation whether its cancellation was the watchdog's (and
takes that cancellation back), so the caller can report a timeout::

    ticket = watchdog.begin()
    try:
        result = await operation()
    except asyncio.CancelledError:
        if watchdog.end(ticket):
            raise TimeoutError from None   # the operation ran past the limit
        raise                              # cancelled from outside: pass it on
    finally:
        watchdog.end(ticket)               # however it ended (again: a no-op)

The ``finally`` matters: an operation that raised its own error and was not ended would be
cancelled ``limit`` seconds after it began, wherever its task is by then.

``Database`` bounds waits for a pooled connection the same way. One task has at most one
operation timed by a given watchdog at a time. An operation ends at most ``resolution``
seconds after its limit. The task stops by itself
when no operation is running, so an idle backend keeps nothing scheduled.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


class Watchdog:
    """Cancels operations that run past ``limit`` seconds (see the module docstring)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.resolution = max(0.005, min(limit / 10, 0.25))
        # task -> (when its operation started, its cancelling() count then)
        self._running: dict[asyncio.Task[Any], tuple[float, int]] = {}
        self._expired: dict[asyncio.Task[Any], int] = {}
        self._task: asyncio.Task[None] | None = None

    def begin(self) -> asyncio.Task[Any]:
        """Start timing an operation of the current task; returns the ticket for ``end``."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Watchdog.begin() outside a task")
        self._running[task] = (time.monotonic(), task.cancelling())
        if self._task is None:
            self._task = task.get_loop().create_task(self._watch())
        return task

    def end(self, ticket: asyncio.Task[Any]) -> bool:
        """Stop timing ``ticket``; True when the watchdog cancelled it (cancellation taken back).
        Ending it again does nothing (False).

        Like ``asyncio.timeout``: when the task was also cancelled from outside, this answers
        False, so the outer cancellation goes on.
        """
        if self._running.pop(ticket, None) is not None:
            return False
        cancelling = self._expired.pop(ticket, None)
        if cancelling is None:
            return False
        return ticket.uncancel() <= cancelling

    async def _watch(self) -> None:
        try:
            while self._running:
                await asyncio.sleep(self.resolution)
                overdue = time.monotonic() - self.limit
                for task, (started, cancelling) in list(self._running.items()):
                    if started <= overdue:
                        del self._running[task]
                        self._expired[task] = cancelling
                        task.cancel()
        finally:
            self._task = None

    async def close(self) -> None:
        """Stop the watchdog task (operations still running are no longer bounded)."""
        task, self._task = self._task, None
        self._running.clear()
        self._expired.clear()
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
