"""AuditLog: keeps every change event it receives, one JSON line each (``distributed.yaml``).

Bound to a store's change stream over nats, it runs in another process than the store and
still sees every committed change at least once (a change delivered twice is written twice;
``seq`` and ``version`` tell them apart)::

    store (Store) --changes (nats, 4 lanes by id)--> audit (AuditLog)
"""

from __future__ import annotations

from typing import Any

import anyio
import orjson

from autocoder import ComponentConfig, ComposedComponent


class AuditLog(ComposedComponent):
    """Appends each item it receives to a JSON-lines file."""

    description = "Appends every change event it receives to a JSON-lines file."

    class Config(ComponentConfig):
        path: str = "audit.jsonl"

    async def process_item(self, item: Any) -> None:
        line = orjson.dumps(item) + b"\n"
        async with await anyio.open_file(self.config.path, "ab") as out:
            await out.write(line)
        return None
