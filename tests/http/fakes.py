"""Components for faults a real store cannot be made to show on demand (slow, stuck, broken).

They are real components on real bindings: only what they answer is staged.
"""

from __future__ import annotations

from typing import Any

import anyio

from autocoder.runtime.component import ComposedComponent


class StagedStore(ComposedComponent):
    """Describes ``collections``; answers every other message with ``reply`` (or holds it).

    With ``hold=True`` a message is held until ``release()``: the way to fill a buffer and to
    make a request outlive its ``request_timeout``.
    """

    serves_collections = True

    def __init__(
        self,
        name: str,
        collections: list[dict[str, Any]] | None = None,
        reply: Any = None,
        *,
        hold: bool = False,
        health: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name)
        self.collections = collections if collections is not None else []
        self.reply = reply if reply is not None else {"status": "success"}
        self.hold = hold
        self.health = health
        self.seen: list[Any] = []
        self._released: anyio.Event | None = None

    def released(self) -> anyio.Event:
        if self._released is None:
            self._released = anyio.Event()
        return self._released

    def release(self) -> None:
        self.released().set()

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, dict) and item.get("action") == "describe":
            return {"status": "success", "collections": self.collections}
        self.seen.append(item)
        if self.hold:
            await self.released().wait()
        return self.reply

    def get_health_status(self) -> dict[str, Any]:
        return dict(self.health) if self.health is not None else super().get_health_status()


def schemaless(name: str) -> dict[str, Any]:
    """A describe entry of a schemaless collection."""
    return {"name": name, "fields": {}, "schemaless": True}
