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

Up to ``batches`` transactions may be committing at once (two on a server database: while
the database commits one batch, this process answers its callers and gathers the next; one
on SQLite, whose one connection writes one transaction at a time). A batch that would be
the only one committing takes half of the writes waiting and hands the rest to a second,
so that the callers fall into groups that take turns instead of all waiting on one commit.
A write whose record a committing batch writes waits for that batch to end: a record's
writes commit in the order they came, and two batches never wait on each other's rows.

No task runs in the background: the caller whose write is first in the queue when a batch
may start (the leader) commits it, shielded from its own cancellation so that the other
callers of the batch still get their answers, and when it is done hands the lead to the
first write still waiting. A waiting caller that is cancelled takes its write out of the
queue (it is never run); one whose write is already in a transaction gets no answer, and the
write's outcome is what the commit makes of it, as with a write cancelled mid-statement.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
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
        batches: int = 1,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}")
        if batches < 1:
            raise ValueError(f"batches must be at least 1, not {batches}")
        self.run_one = run_one
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        #: Batches that may be committing at once.
        self.batches = batches
        #: Called with the size of every transaction committed (1 for a write run alone).
        self.observe = observe
        self._queue: deque[_Waiting] = deque()
        #: Batches committing, or about to: their leader was told and has not yet taken them.
        self._leaders = 0
        #: A leader was told and has not taken its batch yet: new writes are for it.
        self._starting = False
        #: The records written by the batches committing (how many writes of each).
        self._held: dict[tuple[str, str, str], int] = {}

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
            if self._starting or self._leaders == self.batches or write.key in self._held:
                told = await waiting.future
            else:  # room for a batch: lead at once, after one loop turn, so that the
                # writes made in the same turn (the callers a commit just answered) join in
                self._tell(waiting)
                await asyncio.sleep(0)
                told = _LEAD
        except asyncio.CancelledError:
            self._abandon(waiting)
            raise
        if told is _LEAD:
            await self._lead(waiting)
        return write.result()

    async def _alone(self, write: Write) -> Change:
        try:
            return await self.run_one(write)
        finally:
            if self.observe is not None:
                self.observe(1)

    async def _lead(self, leader: _Waiting) -> None:
        """Commit ``leader``'s write and the writes waiting with it as one batch."""
        self._starting = False
        batch = self._take(leader)
        self._next()
        writes = [w.write for w in batch]
        try:
            with anyio.CancelScope(shield=True):
                await self._commit(writes)
        finally:
            for waiting in batch:  # the leader reads its own outcome
                if waiting is not leader and not waiting.future.done():
                    waiting.future.set_result(None)
            self._release(writes)
            self._leaders -= 1
            self._next()

    def _take(self, leader: _Waiting) -> list[_Waiting]:
        """Out of the queue, in their order: ``leader`` and the writes waiting with it, up to
        the batch's size, but for those whose record a committing batch writes (they wait
        for it, so that a record's writes commit in the order they came). The only batch
        committing where two may takes half of the writes waiting, and leaves the rest to
        a second."""
        size = self.max_batch_size
        if self._leaders == 1 < self.batches:
            size = min(size, (len(self._queue) + 1) // 2)
        batch: list[_Waiting] = []
        kept: deque[_Waiting] = deque()
        for waiting in self._queue:
            if waiting is leader or (len(batch) < size and self._may_start(waiting)):
                batch.append(waiting)
            else:
                kept.append(waiting)
        self._queue = kept
        self._hold(waiting.write for waiting in batch)
        return batch

    def _may_start(self, waiting: _Waiting) -> bool:
        """Whether a batch starting now may take ``waiting``: its caller still waits, and
        no committing batch writes its record."""
        return not waiting.future.done() and waiting.write.key not in self._held

    def _hold(self, writes: Iterable[Write]) -> None:
        """The records of ``writes`` are being committed."""
        held = self._held
        for write in writes:
            if write.key is not None:
                held[write.key] = held.get(write.key, 0) + 1

    def _release(self, writes: Iterable[Write]) -> None:
        """The records of ``writes`` are committed (or failed)."""
        held = self._held
        for write in writes:
            if write.key is not None:
                held[write.key] -= 1
                if not held[write.key]:
                    del held[write.key]

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
        """When another batch may start, the first write waiting that it may take leads it."""
        if self._starting or self._leaders == self.batches:
            return
        for waiting in self._queue:
            if self._may_start(waiting):
                self._tell(waiting)
                return

    def _tell(self, waiting: _Waiting) -> None:
        """``waiting`` is to lead the next batch."""
        self._leaders += 1
        self._starting = True
        waiting.future.set_result(_LEAD)

    def _abandon(self, waiting: _Waiting) -> None:
        """A waiting caller was cancelled: its write is not run; a lead it was given passes on."""
        with suppress(ValueError):  # not queued: in a batch being committed, which decides
            self._queue.remove(waiting)
        future = waiting.future
        if future.done() and not future.cancelled() and future.result() is _LEAD:
            self._leaders -= 1
            self._starting = False
            self._next()


#: Writes committed together at most, unless a store's ``max_batch_size`` says otherwise.
DEFAULT_MAX_BATCH_SIZE = 100


def writers(connections: int, max_batch_size: int, batches: int = 1) -> int:
    """Operations a store should run at once: one per connection, and with group commit also
    the writes of the batches being committed and of the next one gathering meanwhile
    (without them a store could never gather more writes than it has connections)."""
    if max_batch_size == 1:
        return connections
    return connections + (batches + 1) * max_batch_size


def batches_at_once(dialect: str, connections: int) -> int:
    """Batches a database store commits at once: two on a server database with the
    connections for them, so that its commit and this process's work on the other batch
    overlap; one on SQLite, whose one connection writes a transaction at a time."""
    return 1 if dialect == "sqlite" else max(1, min(2, connections))
