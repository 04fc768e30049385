"""One SQLite connection in a thread of its own, its calls gathered into batches.

``sqlite3`` blocks, so the connection lives in a dedicated thread and the event loop hands it
calls: ``await thread.call(function, *args)`` runs ``function(connection, *args)`` there. Each
hop into the thread and back costs more than a small statement, so the thread takes every
call waiting when it looks (the calls made while it ran the previous batch), runs them one
after another, and wakes the event loop once for the whole batch. A call made while the
thread is idle goes at once: nothing waits for a batch to fill.

Nothing else changes: calls run in the order they were made, each as it would alone (a
statement outside a transaction commits by itself), and an exception raised by one call is
raised to its caller only. A call whose caller stopped waiting before the thread reached it
is skipped. ``interrupt()`` stops the statement running now (``sqlite3.Connection.interrupt``
may be called from any thread): it then fails with ``SQLITE_INTERRUPT``.

After ``close()`` (or when the connection could not be opened) every call fails with
``Unavailable``.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, TypeVar

from autocoder.errors import Unavailable

T = TypeVar("T")

_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]
_STOP: Any = None


def fetch_all(connection: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Any]:
    """The rows of one statement (run to its end, so it leaves no transaction open)."""
    return connection.execute(sql, args).fetchall()


def execute(connection: sqlite3.Connection, sql: str, args: Sequence[Any]) -> tuple[int, Any]:
    """Run one statement; its row count and the last inserted rowid."""
    cursor = connection.execute(sql, args)
    try:
        cursor.fetchall()  # RETURNING rows, if any: run the statement to its end
        return cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def execute_many(connection: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run one statement once per row of ``rows``; the rows it affected in all."""
    return connection.executemany(sql, rows).rowcount


def _deliver(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in outcomes:
        if future.done():  # its caller stopped waiting
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class SqliteThread:
    """A ``sqlite3`` connection served by one thread (see the module docstring)."""

    def __init__(self, path: str, *, name: str = "autocoder-sqlite") -> None:
        self.path = path
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._connection: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open = False

    async def open(self, setup: Callable[[sqlite3.Connection], None]) -> None:
        """Open the database in the thread and run ``setup`` on it (PRAGMAs); raises its error."""
        self._loop = asyncio.get_running_loop()
        self._open = True
        self._thread.start()
        try:
            await self.call(self._connect, setup)
        except BaseException:
            self._stop()
            raise

    def _connect(self, _: None, setup: Callable[[sqlite3.Connection], None]) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            setup(connection)
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(connection, *args)`` in the thread (batched with other calls)."""
        if not self._open:
            raise Unavailable(f"SQLite database {self.path} is closed")
        assert self._loop is not None
        future: asyncio.Future[T] = self._loop.create_future()
        self._calls.put((function, args, future))
        return await future

    def interrupt(self) -> None:
        """Stop the statement running in the thread now (it fails with SQLITE_INTERRUPT)."""
        connection = self._connection
        if connection is not None:
            connection.interrupt()

    async def close(self) -> None:
        """Close the connection after the calls already made; later calls are ``Unavailable``."""
        if not self._open:
            return
        try:
            await self.call(_close)
        finally:
            self._stop()

    def _stop(self) -> None:
        self._open = False
        self._calls.put(_STOP)

    def _serve(self) -> None:
        calls = self._calls
        stopping = False
        while not stopping:
            first = calls.get()
            if first is None:  # _STOP
                break
            batch: list[_Call] = [first]
            while True:
                try:
                    item = calls.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
            for function, args, future in batch:
                if future.done():  # cancelled before its turn: skip it
                    continue
                connection = self._connection
                if connection is None and function != self._connect:
                    closed = Unavailable(f"SQLite database {self.path} is closed")
                    outcomes.append((future, False, closed))
                    continue
                try:
                    outcomes.append((future, True, function(connection, *args)))
                except BaseException as exc:  # handed to its caller
                    outcomes.append((future, False, exc))
                if function is _close:
                    self._connection = None
            self._post(outcomes)

    def _post(self, outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with suppress(RuntimeError):  # the loop closed meanwhile: nobody waits any more
            loop.call_soon_threadsafe(_deliver, outcomes)


def _close(connection: sqlite3.Connection | None) -> None:
    if connection is not None:
        connection.close()
