"""One write of the action protocol, as group commit queues and runs it, and its rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from autocoder.storage.changes.change import Change, ChangeKind
from autocoder.storage.records import Operations, Record

WriteKind = Literal["create", "update", "replace", "delete"]

#: The change event each kind of write makes.
EVENTS: dict[WriteKind, ChangeKind] = {
    "create": "created",
    "update": "updated",
    "replace": "replaced",
    "delete": "deleted",
}


@dataclass(slots=True, eq=False)
class Write:
    """One write of the action protocol, as a backend's ``Operations`` runs it."""

    kind: WriteKind
    collection: str
    tenant: str
    record_id: str | None
    data: dict[str, Any] | None = None
    expected_version: int | None = None
    #: Set by ``run_batch``: the change committed (numbered with its seq), or why this write
    #: failed.
    outcome: Change | BaseException | None = None
    #: The record this write touches, when known before it runs (not a generated id): what
    #: the queue and ``rounds`` look at several times per write, so made once.
    key: tuple[str, str, str] | None = field(init=False)

    def __post_init__(self) -> None:
        record_id = self.record_id
        self.key = None if record_id is None else (self.collection, self.tenant, record_id)

    async def apply(self, ops: Operations) -> Record:
        """Run this write on ``ops`` (a connection, or a transaction's)."""
        if self.kind == "create":
            return await ops.create(self.collection, self.tenant, self.record_id, self.data or {})
        assert self.record_id is not None
        if self.kind == "delete":
            return await ops.delete(
                self.collection, self.tenant, self.record_id, self.expected_version
            )
        return await ops.write(
            self.collection,
            self.tenant,
            self.record_id,
            self.data or {},
            merge=self.kind == "update",
            expected_version=self.expected_version,
        )

    def change(self, record: Record) -> Change:
        """The change this write made, ``record`` being what ``apply`` returned."""
        return Change(EVENTS[self.kind], self.collection, self.tenant, record)

    def result(self) -> Change:
        """The outcome ``run_batch`` gave: the change, or its error raised."""
        outcome = self.outcome
        if isinstance(outcome, Change):
            return outcome
        if isinstance(outcome, BaseException):
            raise outcome
        raise RuntimeError("a write of a committed batch has no outcome")  # a backend's bug


def rounds(writes: list[Write]) -> list[list[int]]:
    """The writes' indexes in rounds, in order, no record twice in one round: a round's writes
    touch different records, so they may run at once (several rows per statement) in any
    order; a record's writes stay in their order, one round after another. Creates with a
    generated id touch no record known in advance: they share a round with anything."""
    result: list[list[int]] = []
    last_round: dict[tuple[str, str, str], int] = {}
    for index, write in enumerate(writes):
        key = write.key
        number = 0 if key is None else last_round.get(key, -1) + 1
        if key is not None:
            last_round[key] = number
        while len(result) <= number:
            result.append([])
        result[number].append(index)
    return result
