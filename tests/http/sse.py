"""Reading a ``text/event-stream`` response the way ``EventSource`` does (for the tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import orjson


@dataclass
class ServerSentEvent:
    """One event (``id``, ``event``, ``data`` parsed as JSON) or comment (``comment``)."""

    id: str | None = None
    event: str | None = None
    data: dict | None = None  # type: ignore[type-arg]
    comment: str | None = None
    retry: int | None = None
    lines: list[str] = field(default_factory=list)


async def events(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """The events and comments of ``response``, as they arrive."""
    current = ServerSentEvent()
    async for line in response.aiter_lines():
        if line == "":
            if current.lines:
                yield current
            current = ServerSentEvent()
            continue
        current.lines.append(line)
        if line.startswith(":"):
            current.comment = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            current.id = value
        elif name == "event":
            current.event = value
        elif name == "data":
            current.data = orjson.loads(value)
        elif name == "retry":
            current.retry = int(value)
    if current.lines:
        yield current
