"""Records and the operations on them: what a backend stores and what a transaction does.

``Record`` is one stored document, ``ListQuery`` what ``list`` asks for, and ``Operations`` the
record operations every backend offers, alone or inside a transaction
(``autocoder.storage.backend`` says the rules they keep).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
