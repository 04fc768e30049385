"""Who may use SQLite's one connection: single statements together, a transaction alone.

autocoder keeps one long-lived sqlite3 connection per SQLite database (so WAL and
``synchronous=NORMAL`` hold, and no thread is started per call). ``SqliteThread`` runs the
connection's statements one after another in its thread, so single statements from many tasks
can be queued on it at once; but a transaction must have it alone, or another task's statement
would land inside it. ``SqliteGate`` is that rule: ``share()``/``unshare()`` around a single
statement, ``take()``/``give()`` around a transaction (which first waits for the statements in
flight). Both wait at most ``timeout`` seconds, then raise ``TimeoutError``.
"""

from __future__ import annotations

import asyncio


class SqliteGate:
    """Shared use for single statements, exclusive use for transactions, with time limits."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._shared = 0
        self._drained = asyncio.Event()
        #: Tasks waiting for the lock (in ``take`` or ``share``).
        self._waiting = 0

    @property
    def taken(self) -> bool:
        """Whether a transaction holds (or is about to hold) the connection."""
        return self._lock.locked()

    async def take(self, timeout: float) -> None:
        """Have the connection alone: wait for the holder, then for statements in flight.
        When it is free, with no one waiting for it and nothing in flight (every transaction
        of a lone writer), it is taken at once, with no time limit armed for a wait that
        cannot happen."""
        if not self._lock.locked() and not self._waiting and not self._shared:
            await self._lock.acquire()  # free, no waiter ahead: returns without suspending
            return
        self._waiting += 1
        try:
            async with asyncio.timeout(timeout):
                await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            async with asyncio.timeout(timeout):
                while self._shared:
                    self._drained.clear()
                    await self._drained.wait()
        except BaseException:
            self._lock.release()
            raise

    def give(self) -> None:
        """End ``take``."""
        self._lock.release()

    async def share(self, timeout: float) -> None:
        """Use the connection beside other single statements (waits while it is taken)."""
        if self._lock.locked():
            self._waiting += 1
            try:
                async with asyncio.timeout(timeout):
                    while self._lock.locked():
                        async with self._lock:
                            pass
            finally:
                self._waiting -= 1
        self._shared += 1

    def unshare(self) -> None:
        """End ``share``."""
        self._shared -= 1
        if not self._shared:
            self._drained.set()
