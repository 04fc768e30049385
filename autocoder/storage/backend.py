"""The storage-backend interface every Store backend implements.

The action protocol (``autocoder.store``) parses and checks messages, then calls these methods;
a backend only stores and finds records. Rules every backend keeps, so that the conformance
suite passes unchanged on all of them:

- A ``Record``'s ``data`` never contains ``"id"``; the id travels beside it.
- ``create`` without an id generates one that is never reused (also across restarts and
  processes sharing one database); with an id that exists it raises ``Conflict``.
- ``write`` and ``delete`` raise ``NotFound`` for a missing id and ``VersionConflict`` when
  ``expected_version`` is given and differs, checked atomically with the change.
- Versions start at 1 and grow by one with every change.
- ``list`` filters with type-strict equality on top-level fields (``true`` is not ``1``; the
  field ``id`` means the record id), orders by one field (missing values last ascending, first
  descending; ties in creation order) or by creation order, then applies offset and limit.
- Records of one tenant are never visible to another.
- ``transaction()`` yields a ``Journal`` (``Operations`` noting each change) whose changes all
  commit when the block exits normally and none do when it raises. Just before the commit,
  the backend numbers the changes with ``seq`` (per collection, in commit order, without gaps:
  ``storage.changes``), keeps them in its history, and after it calls ``commit_listeners``.
- ``list_page`` reads a page and the collection's seq in one snapshot.
- Every failure is one of the ``autocoder.errors`` classes (driver errors translated once, in
  ``autocoder.storage.sql.errors``).
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal

from autocoder.storage.changes.change import Change
from autocoder.storage.changes.journal import Journal
from autocoder.storage.group_commit import Write, WriteKind, again_when_rolled_back
from autocoder.storage.records import ListQuery, Operations, Record

__all__ = [
    "CollectionInfo",
    "FieldInfo",
    "FieldType",
    "ListQuery",
    "Operations",
    "Record",
    "StorageBackend",
]

FieldType = Literal["string", "integer", "number", "boolean", "object", "array", "datetime", "any"]


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A field of a collection with a fixed layout (V5 tables); document collections have none."""

    name: str
    type: FieldType = "any"
    nullable: bool = True
    has_default: bool = False
    primary_key: bool = False
    generated: bool = False
    max_length: int | None = None

    @property
    def required(self) -> bool:
        """A value must be given on create (NOT NULL, no default, not generated)."""
        return not self.nullable and not self.has_default and not self.generated

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "type": self.type,
            "nullable": self.nullable,
            "required": self.required,
        }
        if self.primary_key:
            info["primary_key"] = True
        if self.generated:
            info["generated"] = True
        if self.max_length is not None:
            info["max_length"] = self.max_length
        return info


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A collection a store serves. ``fields`` is empty for schemaless document collections."""

    name: str
    fields: tuple[FieldInfo, ...] = ()
    tenant_partitioned: bool = True

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fields": {f.name: f.describe() for f in self.fields},
            "schemaless": not self.fields,
        }


class StorageBackend(ABC):
    """A place records live: memory, or a database table."""

    #: ``memory`` or ``database``, as health reports it.
    storage_type: str = "memory"
    #: How many operations the store should run at once (a database backend: its pool size,
    #: plus the writes a batch being committed and the next one hold, with group commit).
    concurrency: int = 1
    #: Changes kept per collection, at least (the store option ``changes_retention``).
    changes_retention: int = 10000

    def __init__(self) -> None:
        #: Called with each committed transaction's changes (numbered), after the commit.
        self.commit_listeners: builtins.list[Callable[[builtins.list[Change]], None]] = []

    def committed(self, changes: builtins.list[Change]) -> None:
        """Tell the listeners about a committed transaction's changes."""
        if changes:
            for listener in self.commit_listeners:
                listener(changes)

    @abstractmethod
    async def connect(self) -> None:
        """Connect and prepare (create or check tables). Raise ``StartupError`` subclasses."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections. Safe to call twice, and after a failed ``connect``."""

    @abstractmethod
    def collections(self) -> list[CollectionInfo]:
        """The collections served, the first being the default one."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether the last contact with the storage succeeded."""

    @abstractmethod
    async def count(self, collection: str) -> int:
        """Records in ``collection`` over every tenant."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Journal]:
        """Operations applied atomically: all commit, or (when the block raises) none."""

    # -- change feeds ----------------------------------------------------------------------

    @abstractmethod
    async def list_page(
        self, collection: str, tenant: str, query: ListQuery
    ) -> tuple[builtins.list[Record], int]:
        """``list`` and the collection's highest committed seq, read in one snapshot."""

    @abstractmethod
    async def latest_seq(self, collection: str) -> int:
        """The collection's highest committed seq (0 when it never changed)."""

    @abstractmethod
    async def oldest_seq(self, collection: str) -> int | None:
        """The smallest seq still kept in the history, or None when it keeps none."""

    @abstractmethod
    async def changes_after(
        self, collection: str, after: int, up_to: int, limit: int
    ) -> builtins.list[dict[str, Any]]:
        """Kept change events (each with its ``seq``) with ``after < seq <= up_to``, in seq
        order, at most ``limit``."""

    @abstractmethod
    async def trim_changes(self, collection: str, below_or_at: int) -> None:
        """Forget the kept changes with ``seq <= below_or_at``."""

    def health(self) -> dict[str, Any]:
        """Backend fields of the store's health (``database_type``, ``next_id``…)."""
        return {}

    # The single-operation path. Subclasses override each for speed; these defaults run
    # every operation in its own transaction.

    async def commit_write(self, write: Write) -> Change:
        """Run one write (create, update, replace, delete) in a transaction of its own and
        return its committed change, numbered. Database backends send it through their group
        commit (``storage.group_commit``): it may share a transaction with concurrent ones.
        A transaction the database rolled back to settle a deadlock runs again."""

        async def run() -> Change:
            async with self.transaction() as ops:
                await write.apply(ops)
            return ops.changes[-1]

        return await again_when_rolled_back(run)

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        change = await self.commit_write(Write("create", collection, tenant, record_id, data))
        return change.record

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None:
        async with self.transaction() as ops:
            return await ops.get(collection, tenant, record_id)

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
        kind: WriteKind = "update" if merge else "replace"
        write = Write(kind, collection, tenant, record_id, data, expected_version)
        return (await self.commit_write(write)).record

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        write = Write("delete", collection, tenant, record_id, None, expected_version)
        return (await self.commit_write(write)).record

    async def list(self, collection: str, tenant: str, query: ListQuery) -> list[Record]:
        async with self.transaction() as ops:
            return await ops.list(collection, tenant, query)

    async def create_many(
        self,
        collection: str,
        tenant: str,
        items: builtins.list[tuple[str | None, dict[str, Any]]],
    ) -> builtins.list[Record]:
        """Create every (id or None, data) item, all or nothing."""
        changes = await self.create_many_changes(collection, tenant, items)
        return [change.record for change in changes]

    async def create_many_changes(
        self,
        collection: str,
        tenant: str,
        items: builtins.list[tuple[str | None, dict[str, Any]]],
    ) -> builtins.list[Change]:
        """``create_many``, giving the committed (numbered) changes; database backends
        override this with their driver's bulk path."""
        async with self.transaction() as ops:
            for i, data in items:
                await ops.create(collection, tenant, i, data)
        return ops.changes
