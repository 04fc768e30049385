"""One committed change of a record, and its change event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from autocoder.storage.records import Record

ChangeKind = Literal["created", "updated", "replaced", "deleted"]


@dataclass(slots=True)
class Change:
    """A change a transaction made: its kind, where, and the record after it (for
    ``deleted``: as it was). ``seq`` is 0 until the transaction numbers it just before it
    commits (``history.record_changes``, or the memory backend's commit)."""

    event: ChangeKind
    collection: str
    tenant: str
    record: Record
    seq: int = 0

    def as_event(self) -> dict[str, Any]:
        """The change event of docs/actions.md, with its ``seq``."""
        event = self.event_without_seq()
        event["seq"] = self.seq
        return event

    def event_without_seq(self) -> dict[str, Any]:
        """The change event as the history keeps it (the seq is a column beside it)."""
        return {
            "event": self.event,
            "collection": self.collection,
            "tenant": self.tenant,
            "id": self.record.id,
            "version": self.record.version,
            "data": self.record.as_document(),
        }
