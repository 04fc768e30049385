"""Which collections an endpoint serves: asked of every bound store with ``describe``.

At start-up the endpoint sends ``{"action": "describe"}`` over each of its bindings. A receiver
that answers with collections is a store, and each collection becomes ``/{collection}`` routes;
a receiver that does not know ``describe`` (a user component) gets only ``/actions/{stream}``.
A collection name served by two stores, or one that would shadow a built-in route, stops
start-up with a message naming both.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from autocoder.errors import StartupError

__all__ = ["RESERVED_NAMES", "Collection", "discover"]

#: First path segments the endpoint uses itself.
RESERVED_NAMES = frozenset({"actions", "health", "ready", "docs", "redoc", "openapi.json"})

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")

Request = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Collection:
    """A collection served at ``/{name}``: which binding reaches it and what its fields are."""

    name: str
    stream: str
    store: str
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def schemaless(self) -> bool:
        """Whether records are free-form JSON objects (no fixed columns)."""
        return not self.fields


async def discover(
    receivers: Mapping[str, list[str]],
    request: Request,
    timeout: float,
) -> list[Collection]:
    """The collections behind the bindings ``receivers`` (stream name → receiver names).

    Problems are ``StartupError``; the supervisor prefixes them with the endpoint's name.
    """
    found: dict[str, Collection] = {}
    for stream, names in receivers.items():
        store = ", ".join(names)
        reply = await request(stream, {"action": "describe"}, timeout)
        status = reply.get("status")
        if status != "success":
            if reply.get("error_type") in ("unknown_action", "validation_error"):
                continue  # not a store: reachable through /actions/{stream} only
            raise StartupError(
                f"store {store!r} (stream {stream!r}) did not describe its "
                f"collections: {reply.get('message', status)}"
            )
        listed = reply.get("collections")
        if not isinstance(listed, list):
            continue
        for entry in listed:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not _NAME.match(name):
                raise StartupError(
                    f"store {store!r} describes a collection named {name!r}, "
                    "which cannot be a URL path segment"
                )
            if name in RESERVED_NAMES:
                raise StartupError(
                    f"collection {name!r} of store {store!r} clashes with the "
                    f"endpoint's own /{name} route; rename the table"
                )
            if name in found:
                raise StartupError(
                    f"collection {name!r} is exposed by both store "
                    f"{found[name].store!r} and store {store!r}; serve them from separate "
                    "endpoints or give their tables different names"
                )
            fields = entry.get("fields") or {}
            found[name] = Collection(name, stream, store, dict(fields))
    return list(found.values())
