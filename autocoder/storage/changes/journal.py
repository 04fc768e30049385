"""``Journal``: a transaction's operations, noting each change they make, in order.

Every backend's ``transaction()`` yields one. When the block ends without an error, the
backend numbers ``journal.changes`` (assigns each its ``seq`` and keeps it in the history) in
the same transaction, just before COMMIT, and hands them to the change feeds after it. A
caller that runs several writes in one transaction and undoes some of them (a savepoint
rolled back) drops their changes with ``mark()`` / ``forget_since(mark)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from autocoder.storage.changes.change import Change
from autocoder.storage.records import ListQuery, Operations, Record


class Journal:
    """``Operations`` that delegate to ``inner`` and note every change in ``changes``."""

    __slots__ = ("_seq_of", "changes", "inner")

    def __init__(self, inner: Operations, seq_of: Callable[[str], Awaitable[int]]) -> None:
        self.inner = inner
        self._seq_of = seq_of
        self.changes: list[Change] = []

    def mark(self) -> int:
        """A point to come back to: the number of changes noted so far."""
        return len(self.changes)

    def forget_since(self, mark: int) -> None:
        """Drop the changes noted after ``mark`` (their writes were undone)."""
        del self.changes[mark:]

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        record = await self.inner.create(collection, tenant, record_id, data)
        self.changes.append(Change("created", collection, tenant, record))
        return record

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        return await self.inner.get(collection, tenant, record_id)

    async def write(
        self,
        collection: str,
        tenant: str,
        record_id: str,
        data: dict[str, Any],
        *,
        merge: bool,
        expected_version: int | None,
    ) -> Record:
        record = await self.inner.write(
            collection, tenant, record_id, data, merge=merge, expected_version=expected_version
        )
        self.changes.append(Change("updated" if merge else "replaced", collection, tenant, record))
        return record

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        record = await self.inner.delete(collection, tenant, record_id, expected_version)
        self.changes.append(Change("deleted", collection, tenant, record))
        return record

    async def list(self, collection: str, tenant: str, query: ListQuery) -> list[Record]:
        return await self.inner.list(collection, tenant, query)

    async def seq(self, collection: str) -> int:
        """The collection's highest committed seq, as this transaction sees it."""
        return await self._seq_of(collection)
