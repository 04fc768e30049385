"""Serving parsed action messages against a storage backend, and shaping the replies.

``Actions.execute`` returns the success reply and the changes it committed (for change
events); failures are raised as ``StoreError`` / ``NotFound`` and turned into replies by the
caller, so a batch can stop at the first one and report its index.
"""

from __future__ import annotations

from typing import Any, cast

import orjson

from autocoder.errors import BatchFailed, NotFound, StoreError, ValidationFailed
from autocoder.runtime.messages import Reply
from autocoder.storage.backend import CollectionInfo, ListQuery, Record, StorageBackend
from autocoder.storage.changes.change import Change
from autocoder.storage.changes.journal import Journal
from autocoder.storage.group_commit import Write, WriteKind
from autocoder.store import messages as m

__all__ = ["Actions", "Change", "json_copy"]


def json_copy(data: dict[str, Any], what: str = "data") -> dict[str, Any]:
    """A deep copy of ``data`` that is guaranteed to be JSON (what every backend can store)."""
    try:
        copied: dict[str, Any] = orjson.loads(orjson.dumps(data))
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise ValidationFailed(f"{what} is not JSON: {exc}") from None
    return copied


#: The write each single-write message asks for (by its exact type: the messages are final).
_WRITE_KINDS: dict[type[m.Action], WriteKind] = {
    m.Create: "create",
    m.Update: "update",
    m.Replace: "replace",
    m.Delete: "delete",
}


def _record_reply(record: Record) -> Reply:
    return {"status": "success", "data": record.as_document(), "version": record.version}


class Actions:
    """Executes action messages for one store."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend

    def collections(self) -> list[CollectionInfo]:
        return self.backend.collections()

    def collection_name(self, message: m.Action) -> str:
        collections = self.backend.collections()
        if message.collection is None:
            return collections[0].name
        for info in collections:
            if info.name == message.collection:
                return info.name
        known = ", ".join(c.name for c in collections)
        raise ValidationFailed(
            f"unknown collection {message.collection!r} (collections: {known})",
            collection=message.collection,
        )

    async def execute(self, message: m.Action) -> tuple[Reply, list[Change]]:
        write = self._write_of(message)
        if write is not None:  # through the backend's group commit, when it has one
            change = await self.backend.commit_write(write)
            if write.kind == "delete":
                return {"status": "success"}, [change]
            reply = _record_reply(change.record)
            if write.kind == "create":
                reply["id"] = change.record.id
            return reply, [change]
        if isinstance(message, m.Describe):
            return {
                "status": "success",
                "collections": [c.describe() for c in self.backend.collections()],
            }, []
        if isinstance(message, m.Batch):
            return await self._batch(message)
        if isinstance(message, m.Get):
            collection = self.collection_name(message)
            record = await self.backend.get(collection, message.tenant, message.id)
            if record is None:
                raise NotFound("get", message.id)
            return _record_reply(record), []
        if isinstance(message, m.List):
            collection = self.collection_name(message)
            query = self._list_query(message)
            records, seq = await self.backend.list_page(collection, message.tenant, query)
            return self._list_reply(message, records, seq), []
        async with self.backend.transaction() as ops:
            reply = await self._single(ops, message)
        return reply, ops.changes

    def _write_of(self, message: m.Action) -> Write | None:
        """A create, update, replace or delete message as the write it asks for (checked)."""
        kind = _WRITE_KINDS.get(type(message))
        if kind is None:
            return None
        collection = self.collection_name(message)
        if kind == "create":
            record_id, data = self._create_data(cast(m.Create, message))
            return Write("create", collection, message.tenant, record_id, data)
        if kind == "delete":
            delete = cast(m.Delete, message)
            return Write(
                "delete", collection, delete.tenant, delete.id, None, delete.expected_version
            )
        change = cast("m.Update | m.Replace", message)
        data = self._write_data(change.id, change.data)
        return Write(kind, collection, change.tenant, change.id, data, change.expected_version)

    async def _single(self, ops: Journal, message: m.Action) -> Reply:
        """One operation inside a transaction; its change is noted by ``ops``."""
        collection = self.collection_name(message)
        tenant = message.tenant
        if isinstance(message, m.Get):
            record = await ops.get(collection, tenant, message.id)
            if record is None:
                raise NotFound("get", message.id)
            return _record_reply(record)
        if isinstance(message, m.List):
            seq = await ops.seq(collection)
            records = await ops.list(collection, tenant, self._list_query(message))
            return self._list_reply(message, records, seq)
        if isinstance(message, m.Create):
            record_id, data = self._create_data(message)
            record = await ops.create(collection, tenant, record_id, data)
            reply = _record_reply(record)
            reply["id"] = record.id
            return reply
        if isinstance(message, m.Update | m.Replace):
            data = self._write_data(message.id, message.data)
            merge = isinstance(message, m.Update)
            record = await ops.write(
                collection,
                tenant,
                message.id,
                data,
                merge=merge,
                expected_version=message.expected_version,
            )
            return _record_reply(record)
        if isinstance(message, m.Delete):
            await ops.delete(collection, tenant, message.id, message.expected_version)
            return {"status": "success"}
        raise ValidationFailed(f"action {message.action!r} cannot be used here")

    @staticmethod
    def _list_query(message: m.List) -> ListQuery:
        order_by = message.order_by
        return ListQuery(
            where=json_copy(message.where, "where"),
            order_by=order_by.lstrip("-") if order_by else None,
            descending=bool(order_by and order_by.startswith("-")),
            limit=message.limit + 1,
            offset=message.offset,
        )

    @staticmethod
    def _list_reply(message: m.List, records: list[Record], seq: int) -> Reply:
        more = len(records) > message.limit
        page = records[: message.limit]
        return {
            "status": "success",
            "data": [r.as_document() for r in page],
            "count": len(page),
            "next_offset": message.offset + len(page) if more else None,
            "seq": seq,
        }

    async def _bulk_create(self, parsed: list[m.Action]) -> tuple[Reply, list[Change]] | None:
        """A batch made only of creates into one collection and tenant, on the bulk path.

        ``None`` when the batch is not of that kind, or when it failed: the operation-by-
        operation path then finds and names the failing index (nothing was applied).
        """
        if len(parsed) < 2 or not all(isinstance(op, m.Create) for op in parsed):
            return None
        creates = [op for op in parsed if isinstance(op, m.Create)]
        first = creates[0]
        if any(op.collection != first.collection or op.tenant != first.tenant for op in creates):
            return None
        collection = self.collection_name(first)
        try:
            items = [self._create_data(op) for op in creates]
            changes = await self.backend.create_many_changes(collection, first.tenant, items)
        except StoreError:
            return None
        results: list[Reply] = []
        for change in changes:
            reply = _record_reply(change.record)
            reply["id"] = change.record.id
            results.append(reply)
        return {"status": "success", "results": results}, changes

    @staticmethod
    def _create_data(message: m.Create) -> tuple[str | None, dict[str, Any]]:
        data = json_copy(message.data)
        record_id = message.id
        if "id" in data:
            inner = m.record_id(data.pop("id"), "data.id")
            if record_id is not None and inner != record_id:
                raise ValidationFailed(f"the message id {record_id!r} and data.id {inner!r} differ")
            record_id = inner
        return record_id, data

    @staticmethod
    def _write_data(record_id: str, data: dict[str, Any]) -> dict[str, Any]:
        data = json_copy(data)
        if "id" in data:
            inner = data.pop("id")
            if str(inner) != record_id:
                raise ValidationFailed(
                    f"data.id {inner!r} differs from the record id; ids never change"
                )
        return data

    async def _batch(self, message: m.Batch) -> tuple[Reply, list[Change]]:
        parsed: list[m.Action] = []
        for index, raw in enumerate(message.operations):
            item = dict(raw)
            item.setdefault("tenant", message.tenant)
            if message.collection is not None:
                item.setdefault("collection", message.collection)
            try:
                parsed.append(m.parse_message(item, allowed=m.SINGLE_ACTION_NAMES))
            except StoreError as exc:
                raise BatchFailed(index, exc.to_reply()) from None
        bulk = await self._bulk_create(parsed)
        if bulk is not None:
            return bulk
        results: list[Reply] = []
        async with self.backend.transaction() as ops:
            for index, operation in enumerate(parsed):
                try:
                    results.append(await self._single(ops, operation))
                except StoreError as exc:
                    raise BatchFailed(index, exc.to_reply()) from exc
                except NotFound as exc:
                    raise BatchFailed(index, exc.to_reply()) from exc
        return {"status": "success", "results": results}, ops.changes
