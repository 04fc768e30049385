"""Group commit: concurrent writes of one store share a transaction (SPEC section 12).

A database store's single writes (create, update, replace, delete) go through a
``GroupCommit``. A write that arrives while no commit is under way runs at once (after one
turn of the event loop, so that writes made in the same turn join it); alone, it runs on the
store's one-write path, so a lone caller pays nothing for batching. A write that arrives
while a commit is under way waits; when that commit ends, every write waiting (up to
``max_batch_size``) goes into the next transaction together. Each caller gets its own
outcome only after the commit that holds its write::

    commits = GroupCommit(run_one=backend.write_alone, run_batch=backend.write_together,
                          max_batch_size=100, observe=histogram.observe)
    change = await commits.submit(Write("update", "tasks", "", "7", {"done": True}))
    change.record, change.seq

``run_batch(writes)`` sets each write's ``outcome`` (its ``Change``, numbered with its seq, or
the error it alone failed with); ``run_one(write)`` returns the change or raises. Both are the
backend's.

No task runs in the background: the caller whose write is first in the queue when a commit
ends (the leader) commits the next batch, shielded from its own cancellation so that the
other callers of the batch still get their answers, and when it is done hands the lead to
the first write still waiting. A waiting caller that is cancelled takes its write out of the
queue (it is never run); one whose write is already in a transaction gets no answer, and the
write's outcome is what the commit makes of it, as with a write cancelled mid-statement.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import anyio

from autocoder.storage.changes.change import Change
from autocoder.storage.group_commit.write import Write

#: What a waiting write's future is given when its caller is to lead the next batch.
_LEAD: Any = object()


@dataclass(slots=True, eq=False)
class _Waiting:
    write: Write
    future: asyncio.Future[Any]


class GroupCommit:
    """The queue of one store's writes and the batches it commits (see the module docstring)."""

    def __init__(
        self,
        *,
        run_one: Callable[[Write], Awaitable[Change]],
        run_batch: Callable[[list[Write]], Awaitable[None]],
        max_batch_size: int,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}")
        self.run_one = run_one
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        #: Called with the size of every transaction committed (1 for a write run alone).
        self.observe = observe
        self._queue: deque[_Waiting] = deque()
        self._busy = False

    @property
    def waiting(self) -> int:
        """Writes queued for the next transaction."""
        return len(self._queue)

    async def submit(self, write: Write) -> Change:
        """Run ``write`` (alone, or in the next batch) and return its change after its commit;
        its own error is raised."""
        if self.max_batch_size == 1:
            return await self._alone(write)
        waiting = _Waiting(write, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        try:
            if self._busy:
                told = await waiting.future
            else:  # no commit under way: lead at once, after one loop turn, so that the
                # writes made in the same turn (the callers a commit just answered) join in
                self._busy = True
                waiting.future.set_result(_LEAD)
                await asyncio.sleep(0)
                told = _LEAD
        except asyncio.CancelledError:
            self._abandon(waiting)
            raise
        if told is _LEAD:
            await self._lead()
        return write.result()

    async def _alone(self, write: Write) -> Change:
        try:
            return await self.run_one(write)
        finally:
            if self.observe is not None:
                self.observe(1)

    async def _lead(self) -> None:
        """Commit the writes at the head of the queue (this caller's first) as one batch."""
        batch: list[_Waiting] = []
        queue = self._queue
        while queue and len(batch) < self.max_batch_size:
            batch.append(queue.popleft())
        writes = [w.write for w in batch]
        try:
            with anyio.CancelScope(shield=True):
                await self._commit(writes)
        finally:
            for waiting in batch[1:]:  # the first is the leader: it reads its own outcome
                if not waiting.future.done():
                    waiting.future.set_result(None)
            self._next()

    async def _commit(self, writes: list[Write]) -> None:
        try:
            if len(writes) == 1:
                try:
                    writes[0].outcome = await self.run_one(writes[0])
                except Exception as exc:
                    writes[0].outcome = exc
            else:
                await self.run_batch(writes)
        except Exception as exc:  # the batch as a whole failed: every write of it did
            for write in writes:
                if write.outcome is None:
                    write.outcome = exc
        finally:
            if self.observe is not None:
                self.observe(len(writes))

    def _next(self) -> None:
        """The commit under way is done: the first write waiting leads the next batch."""
        queue = self._queue
        while queue and queue[0].future.done():
            queue.popleft()  # its caller stopped waiting
        if queue:
            queue[0].future.set_result(_LEAD)
        else:
            self._busy = False

    def _abandon(self, waiting: _Waiting) -> None:
        """A waiting caller was cancelled: its write is not run; a lead it was given passes on."""
        with suppress(ValueError):  # not queued: in a batch being committed, which decides
            self._queue.remove(waiting)
        future = waiting.future
        if future.done() and not future.cancelled() and future.result() is _LEAD:
            self._next()


#: Writes committed together at most, unless a store's ``max_batch_size`` says otherwise.
DEFAULT_MAX_BATCH_SIZE = 100


def writers(connections: int, max_batch_size: int) -> int:
    """Operations a store should run at once: one per connection, and with group commit also
    the writes of a batch being committed and of the next one gathering meanwhile (without
    them a store could never gather more writes than it has connections)."""
    return connections if max_batch_size == 1 else connections + 2 * max_batch_size
