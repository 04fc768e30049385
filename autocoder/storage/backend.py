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
- ``transaction()`` yields an ``Operations`` whose changes all commit when the block exits
  normally and none do when it raises.
- Every failure is one of the ``autocoder.errors`` classes (driver errors translated once, in
  ``autocoder.storage.sql.errors``).
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FieldType = Literal["string", "integer", "number", "boolean", "object", "array", "datetime", "any"]


@dataclass(slots=True)
class Record:
    """One stored document: its id, its fields (without ``id``), and its version."""

    id: str
    data: dict[str, Any]
    version: int

    def as_document(self) -> dict[str, Any]:
        """The record as replies show it: its fields plus ``"id"``."""
        document = dict(self.data)
        document["id"] = self.id
        return document


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


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What ``list`` asks for; field names are already checked identifiers."""

    where: dict[str, Any] = field(default_factory=dict)
    order_by: str | None = None
    descending: bool = False
    limit: int = 100
    offset: int = 0


class Operations(Protocol):
    """The record operations, on a backend or inside one of its transactions."""

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record: ...

    async def get(self, collection: str, tenant: str, record_id: str) -> Record | None: ...

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
        """Update (``merge=True``: shallow merge) or replace a record; returns the new state."""
        ...

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        """Delete a record; returns it as it was."""
        ...

    async def list(self, collection: str, tenant: str, query: ListQuery) -> list[Record]: ...


class StorageBackend(ABC):
    """A place records live: memory, or a database table."""

    #: ``memory`` or ``database``, as health reports it.
    storage_type: str = "memory"
    #: How many operations the store should run at once (a database backend: its pool size).
    concurrency: int = 1

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
    def transaction(self) -> AbstractAsyncContextManager[Operations]:
        """Operations applied atomically: all commit, or (when the block raises) none."""

    def health(self) -> dict[str, Any]:
        """Backend fields of the store's health (``database_type``, ``next_id``…)."""
        return {}

    # The single-operation path. Subclasses override each for speed; these defaults run
    # every operation in its own transaction.

    async def create(
        self, collection: str, tenant: str, record_id: str | None, data: dict[str, Any]
    ) -> Record:
        async with self.transaction() as ops:
            return await ops.create(collection, tenant, record_id, data)

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
        async with self.transaction() as ops:
            return await ops.write(
                collection, tenant, record_id, data, merge=merge, expected_version=expected_version
            )

    async def delete(
        self, collection: str, tenant: str, record_id: str, expected_version: int | None
    ) -> Record:
        async with self.transaction() as ops:
            return await ops.delete(collection, tenant, record_id, expected_version)

    async def list(self, collection: str, tenant: str, query: ListQuery) -> list[Record]:
        async with self.transaction() as ops:
            return await ops.list(collection, tenant, query)

    async def create_many(
        self,
        collection: str,
        tenant: str,
        items: builtins.list[tuple[str | None, dict[str, Any]]],
    ) -> builtins.list[Record]:
        """Create every (id or None, data) item, all or nothing; database backends override
        this with their driver's bulk path."""
        async with self.transaction() as ops:
            return [await ops.create(collection, tenant, i, data) for i, data in items]
