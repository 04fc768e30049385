"""Calls into aiosqlite's thread, gathered into batches while the thread is busy.

aiosqlite runs each call (``execute``, ``fetchall`` …) in its thread and wakes the event loop
for each result: one hop there and back per statement, which on SQLite costs more than the
statement itself. ``in_sqlite_thread(raw, function, *args)`` runs ``function(connection,
*args)`` on the ``sqlite3`` connection of aiosqlite connection ``raw``; calls made while a batch
is in the thread wait for it and then go together, as the next batch: one hop for all of them.
A call made while the thread is idle goes at once, so nothing waits for a batch to fill.

Nothing else changes: the calls run one after another in the order they were made, each as it
would alone (a statement outside a transaction still commits by itself), and an exception
raised by one call is raised to its caller only. A caller that stops waiting (cancelled) does
not stop its call once it is in a batch, as with aiosqlite's own calls.

``fetch_all(connection, sql, args)`` is the usual function: the rows of one statement.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


def fetch_all(connection: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Any]:
    """The rows of one statement (run to its end, so it leaves no transaction open)."""
    return connection.execute(sql, args).fetchall()


def _run_batch(
    connection: sqlite3.Connection, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]
) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    for function, args in calls:
        try:
            outcomes.append((True, function(connection, *args)))
        except Exception as exc:  # handed to its caller
            outcomes.append((False, exc))
    return outcomes


class _Batcher:
    """The calls waiting for one aiosqlite connection's thread, and the task that sends them."""

    def __init__(self, raw: Any) -> None:
        self._raw = weakref.ref(raw)
        self._pending: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None

    async def call(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((function, args, future))
        if self._sender is None:
            self._sender = loop.create_task(self._send())
        return await future

    async def _send(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    raw = self._raw()
                    if raw is None:
                        raise ValueError("no active connection")
                    # aiosqlite has no public call for this; ``_execute`` and ``_conn`` are
                    # how its own methods reach the thread (unchanged from 0.17 to 0.22).
                    outcomes = await raw._execute(
                        _run_batch, raw._conn, [(f, a) for f, a, _ in batch]
                    )
                except asyncio.CancelledError:
                    for *_, future in batch + self._pending:
                        future.cancel()
                    raise
                except Exception as exc:  # the connection is closed: every call fails
                    outcomes = [(False, exc)] * len(batch)
                for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller stopped waiting
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._sender = None


_batchers: weakref.WeakKeyDictionary[Any, _Batcher] = weakref.WeakKeyDictionary()


async def in_sqlite_thread(raw: Any, function: Callable[..., T], *args: Any) -> T:
    """``function(connection, *args)`` in aiosqlite connection ``raw``'s thread (batched)."""
    batcher = _batchers.get(raw)
    if batcher is None:
        batcher = _batchers[raw] = _Batcher(raw)
    return await batcher.call(function, args)
