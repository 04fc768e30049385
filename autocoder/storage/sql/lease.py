"""A driver connection lent for one ``async with`` block, optionally inside a transaction.

``Database.connection()`` and ``Database.transaction()`` return a ``Lease``: entering it takes
a connection from the pool (within the pool timeout), and for a transaction begins one;
leaving it commits (or rolls back when the block raised) and gives the connection back. A
driver exception raised in the block leaves it as an ``autocoder.errors`` class; any other
exception passes through untouched. A connection whose transaction could not be ended is
not reused.
"""

from __future__ import annotations

from contextlib import suppress
from types import TracebackType
from typing import TYPE_CHECKING, Any

from autocoder.storage.sql.dialects import begin, commit, rollback
from autocoder.storage.sql.errors import is_driver_error

if TYPE_CHECKING:
    from autocoder.storage.sql.database import Database


class Lease:
    """A connection lent for one ``async with`` block (optionally inside a transaction)."""

    __slots__ = ("_db", "_raw", "_transaction", "_tx")

    def __init__(self, db: Database, *, transaction: bool) -> None:
        self._db = db
        self._transaction = transaction
        self._raw: Any = None
        self._tx: Any = None

    async def __aenter__(self) -> Any:
        db = self._db
        raw = self._raw = await db.acquire()
        if self._transaction:
            try:
                self._tx = await begin(raw, db.dialect)
            except BaseException as exc:
                await self._give_back(broken=True)
                raise db.error(exc) from exc
        return raw

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        db = self._db
        try:
            if self._transaction:
                if exc is None:
                    await commit(self._raw, db.dialect, self._tx)
                else:
                    await rollback(self._raw, db.dialect, self._tx)
        except BaseException as end_error:
            await self._give_back(broken=True)
            if exc is None:
                raise db.error(end_error) from end_error
        else:
            await self._give_back(broken=False)
        if exc is None:
            db.connected = True
            return
        if is_driver_error(exc):
            raise db.error(exc) from exc

    async def _give_back(self, *, broken: bool) -> None:
        db = self._db
        if broken and db.dialect == "mysql":
            self._raw.close()  # a connection in an unknown transaction state is not reused
        with suppress(Exception):  # a dead connection: the pool replaces it
            await db.release(self._raw)
