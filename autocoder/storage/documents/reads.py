"""Gets that would wait for a connection share one statement.

A database store's ``get`` costs a pooled connection and a round trip for one row. Under
load, every connection is busy and gets queue for one; ``ReadsTogether`` lets them queue
here instead, and when a connection's read ends, the first get waiting takes every other
waiting get of the same collection and tenant (up to ``max_batch_size``) into one ``SELECT
… WHERE id IN (…)``. A get that finds a connection's worth of room (fewer than ``limit``
reads under way) runs at once on its own, so a lone caller pays nothing::

    reads = ReadsTogether(run_one=get_one, run_many=get_many, limit=4)
    record = await reads.get("tasks", "", "7")      # the Record, or None

What each caller gets is what it would get alone: every get of a batch was asked for before
the statement started, and the statement reads what was committed when it started, so each
answer is one the database could have given within that caller's wait (a get asked after a
write was answered sees the write). Callers that ask for the same id get copies of their own.

No task runs in the background: as in ``group_commit.queue``, the caller handed the lead runs
the batch, shielded from its own cancellation so that the others of the batch are answered,
then hands the lead to the next get waiting. A waiting caller that is cancelled leaves the
queue; an error of the statement is every caller's of its batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson

from autocoder.storage.backend import Record

#: What a waiting get's future is given when its caller is to run the next batch.
_LEAD: Any = object()

#: The most gets one statement reads.
MAX_GETS_TOGETHER = 64

GetOne = Callable[[str, str, str], Awaitable[Record | None]]
GetMany = Callable[[str, str, Sequence[str]], Awaitable[dict[str, Record]]]


@dataclass(slots=True, eq=False)
class _Waiting:
    collection: str
    tenant: str
    record_id: str
    future: asyncio.Future[Any] = field(repr=False)


class ReadsTogether:
    """The gets of one backend waiting for a connection (see the module docstring)."""

    def __init__(
        self,
        *,
        run_one: GetOne,
        run_many: GetMany,
        limit: int,
        max_batch_size: int = MAX_GETS_TOGETHER,
    ) -> None:
        if limit < 1 or max_batch_size < 1:
            raise ValueError(
                f"limit and max_batch_size must be at least 1: {limit}, {max_batch_size}"
            )
        self.run_one = run_one
        self.run_many = run_many
        self.limit = limit
        self.max_batch_size = max_batch_size
        #: Statements run for more than one waiting get.
        self.batches = 0
        self._running = 0
        self._queue: deque[_Waiting] = deque()

    @property
    def waiting(self) -> int:
        """Gets queued for a batch."""
        return len(self._queue)

    @property
    def running(self) -> int:
        """Reads under way (a batch counts once)."""
        return self._running

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        """The record, or ``None``; alone when there is room, else in the next batch."""
        if self._running < self.limit and not self._queue:
            self._running += 1
            try:
                return await self.run_one(collection, tenant, record_id)
            finally:
                self._running -= 1
                self._next()
        waiting = _Waiting(
            collection, tenant, record_id, asyncio.get_running_loop().create_future()
        )
        self._queue.append(waiting)
        try:
            told = await waiting.future
        except asyncio.CancelledError:
            self._abandon(waiting)
            raise
        if told is not _LEAD:
            return self._answer(told)
        try:
            with anyio.CancelScope(shield=True):
                record = await self._lead(waiting)
            return record
        finally:
            self._running -= 1
            self._next()

    async def _lead(self, first: _Waiting) -> Record | None:
        """Read ``first`` and the gets waiting for the same collection and tenant."""
        batch = [first]
        key = (first.collection, first.tenant)
        left: deque[_Waiting] = deque()
        for waiting in self._queue:
            if len(batch) < self.max_batch_size and (waiting.collection, waiting.tenant) == key:
                batch.append(waiting)
            else:
                left.append(waiting)
        self._queue = left
        ids = list(dict.fromkeys(w.record_id for w in batch))
        if len(batch) > 1:
            self.batches += 1
        try:
            if len(ids) == 1:  # every get of the batch asked for the same record
                one = await self.run_one(first.collection, first.tenant, ids[0])
                found = {} if one is None else {ids[0]: one}
            else:
                found = await self.run_many(first.collection, first.tenant, ids)
        except Exception as exc:
            for waiting in batch[1:]:
                if not waiting.future.done():
                    waiting.future.set_result(_Failed(exc))
            raise
        given: set[str] = set()
        for waiting in batch[1:]:
            record = found.get(waiting.record_id)
            if record is not None and waiting.record_id in given:
                record = _copy(record)
            given.add(waiting.record_id)
            if not waiting.future.done():
                waiting.future.set_result(record)
        record = found.get(first.record_id)
        return _copy(record) if record is not None and first.record_id in given else record

    @staticmethod
    def _answer(told: Any) -> Record | None:
        if isinstance(told, _Failed):
            raise told.error
        result: Record | None = told
        return result

    def _abandon(self, waiting: _Waiting) -> None:
        """A waiting caller was cancelled: out of the queue, or the lead it was handed on."""
        future = waiting.future
        if future.done() and not future.cancelled() and future.result() is _LEAD:
            self._running -= 1
            self._next()
            return
        with suppress(ValueError):
            self._queue.remove(waiting)

    def _next(self) -> None:
        """A read ended: the first get waiting runs the next batch."""
        queue = self._queue
        while queue and self._running < self.limit:
            waiting = queue.popleft()
            if not waiting.future.done():
                self._running += 1
                waiting.future.set_result(_LEAD)


@dataclass(slots=True)
class _Failed:
    """The error of a batch, as a waiting caller is told it."""

    error: Exception


def _copy(record: Record) -> Record:
    """The same record with data of its own (two callers of a batch asked for the same id)."""
    return Record(record.id, orjson.loads(orjson.dumps(record.data)), record.version)
