"""Memory storage: fast, lost on exit.

Records live in insertion-ordered dicts per (collection, tenant), so creation order is the
dicts' order. Generated ids count "1", "2", … per collection and skip ids already taken.
A transaction keeps an undo log and replays it backwards when its block raises; operations
never await, so no other task sees a half-applied batch. When it commits, its changes are
numbered from a counter per collection and kept in a deque of ``changes_retention`` events.
"""

from __future__ import annotations

import builtins
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson

from autocoder.errors import Conflict, NotFound, VersionConflict
from autocoder.storage.backend import CollectionInfo, ListQuery, Record, StorageBackend
from autocoder.storage.changes.journal import Journal
from autocoder.storage.ordering import matches, sort_key

_Table = dict[str, Record]


def _copy(record: Record) -> Record:
    """Records handed out are deep copies: a caller can never change what is stored."""
    return Record(record.id, orjson.loads(orjson.dumps(record.data)), record.version)


class MemoryBackend(StorageBackend):
    """Records in process memory, one table per (collection, tenant)."""

    storage_type = "memory"

    def __init__(self, collections: list[str]) -> None:
        super().__init__()
        self._collections = [CollectionInfo(name) for name in collections]
        self._tables: dict[tuple[str, str], _Table] = {}
        self._next_id: dict[str, int] = dict.fromkeys(collections, 1)
        self._counts: dict[str, int] = dict.fromkeys(collections, 0)
        self._undo: list[Callable[[], None]] | None = None
        self._journal: Journal | None = None
        self._seq: dict[str, int] = dict.fromkeys(collections, 0)
        self._history: dict[str, deque[dict[str, Any]]] = {}
        self._ops = _MemoryOps(self._create, self._get, self._write, self._delete, self._list)

    async def connect(self) -> None:
        for name in self._seq:
            self._history[name] = deque(maxlen=max(1, self.changes_retention))

    async def close(self) -> None:
        pass

    @property
    def connected(self) -> bool:
        return True

    def collections(self) -> list[CollectionInfo]:
        return self._collections

    async def count(self, collection: str) -> int:
        return self._counts[collection]

    def health(self) -> dict[str, Any]:
        return {"next_id": self._next_id[self._collections[0].name], "store_connected": True}

    def _table(self, collection: str, tenant: str) -> _Table:
        table = self._tables.get((collection, tenant))
        if table is None:
            table = self._tables[(collection, tenant)] = {}
        return table

    def _generate_id(self, collection: str, table: _Table) -> str:
        while True:
            candidate = str(self._next_id[collection])
            self._next_id[collection] += 1
            if candidate not in table:
                return candidate

    def _remember(self, undo: Callable[[], None]) -> None:
        if self._undo is not None:
            self._undo.append(undo)

    def _put(self, collection: str, table: _Table, record: Record) -> None:
        previous = table.get(record.id)
        table[record.id] = record
        if previous is None:
            self._counts[collection] += 1

            def undo() -> None:
                del table[record.id]
                self._counts[collection] -= 1

        else:

            def undo() -> None:
                table[record.id] = previous

        self._remember(undo)

    # -- operations (of a transaction: ``transaction()`` wraps them in a Journal) -----------

    async def _create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        table = self._table(collection, tenant)
        if record_id is None:
            record_id = self._generate_id(collection, table)
        elif record_id in table:
            raise Conflict(f"a record with id {record_id!r} exists", id=record_id)
        record = Record(record_id, data, 1)
        self._put(collection, table, record)
        return _copy(record)

    async def _get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        record = self._table(collection, tenant).get(record_id)
        return None if record is None else _copy(record)

    def _existing(
        self, action: str, table: _Table, record_id: str, expected_version: int | None
    ) -> Record:
        record = table.get(record_id)
        if record is None:
            raise NotFound(action, record_id)
        if expected_version is not None and expected_version != record.version:
            raise VersionConflict(
                f"record {record_id!r} is at version {record.version}, "
                f"not the expected {expected_version}",
                id=record_id,
                current_version=record.version,
            )
        return record

    async def _write(
        self,
        collection: str,
        tenant: str,
        record_id: str,
        data: dict[str, Any],
        *,
        merge: bool,
        expected_version: int | None,
    ) -> Record:
        table = self._table(collection, tenant)
        action = "update" if merge else "replace"
        current = self._existing(action, table, record_id, expected_version)
        new_data = {**current.data, **data} if merge else data
        record = Record(record_id, new_data, current.version + 1)
        self._put(collection, table, record)
        return _copy(record)

    async def _delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        table = self._table(collection, tenant)
        current = self._existing("delete", table, record_id, expected_version)
        position = list(table).index(record_id) if self._undo is not None else 0
        del table[record_id]
        self._counts[collection] -= 1

        def undo() -> None:
            # Put the record back at its place in creation order.
            items = list(table.items())
            items.insert(position, (record_id, current))
            table.clear()
            table.update(items)
            self._counts[collection] += 1

        self._remember(undo)
        return current

    async def _list(self, collection: str, tenant: str, query: ListQuery) -> builtins.list[Record]:
        records: builtins.list[Record] = builtins.list(self._table(collection, tenant).values())
        if query.where:
            records = [r for r in records if matches(r, query.where)]
        if query.order_by is not None:
            key = sort_key(query.order_by)
            records.sort(key=key, reverse=query.descending)
        page = records[query.offset : query.offset + query.limit]
        return [_copy(r) for r in page]

    def transaction(self) -> AbstractAsyncContextManager[Journal]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Journal]:
        if self._journal is not None:  # nested: the outer transaction owns the undo log
            yield self._journal
            return
        self._undo = []
        journal = self._journal = Journal(self._ops, self.latest_seq)
        try:
            yield journal
        except BaseException:
            for undo in reversed(self._undo):
                undo()
            raise
        finally:
            self._undo = None
            self._journal = None
        self._record_changes(journal)
        self.committed(journal.changes)

    def _record_changes(self, journal: Journal) -> None:
        """Number the committed changes and keep them (with no await: one atomic step)."""
        for change in journal.changes:
            seq = self._seq[change.collection] = self._seq[change.collection] + 1
            change.seq = seq
            self._history[change.collection].append(change.as_event())

    # -- change feeds ----------------------------------------------------------------------

    async def list_page(
        self, collection: str, tenant: str, query: ListQuery
    ) -> tuple[builtins.list[Record], int]:
        return await self._list(collection, tenant, query), self._seq[collection]

    async def latest_seq(self, collection: str) -> int:
        return self._seq[collection]

    async def oldest_seq(self, collection: str) -> int | None:
        history = self._history.get(collection)
        return int(history[0]["seq"]) if history else None

    async def changes_after(
        self, collection: str, after: int, up_to: int, limit: int
    ) -> builtins.list[dict[str, Any]]:
        history = self._history.get(collection)
        if not history:
            return []
        start = max(0, after + 1 - int(history[0]["seq"]))
        events: builtins.list[dict[str, Any]] = []
        for index in range(start, len(history)):
            event = history[index]
            if event["seq"] > up_to or len(events) >= limit:
                break
            events.append(orjson.loads(orjson.dumps(event)))
        return events

    async def trim_changes(self, collection: str, below_or_at: int) -> None:
        history = self._history.get(collection)
        while history and history[0]["seq"] <= below_or_at:
            history.popleft()


class _MemoryOps:
    """The memory backend's operations as ``Operations`` (what a Journal wraps)."""

    __slots__ = ("create", "delete", "get", "list", "write")

    def __init__(self, create: Any, get: Any, write: Any, delete: Any, list_: Any) -> None:
        self.create = create
        self.get = get
        self.write = write
        self.delete = delete
        self.list = list_
