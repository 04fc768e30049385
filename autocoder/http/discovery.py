"""Which collections an endpoint serves: asked with ``describe`` of the receivers that serve some.

At start-up the endpoint sends ``{"action": "describe"}`` to each receiver bound from it that
declares ``serves_collections`` (stores, and components in front of a store that pass the
message on), and to no other: a component that treats its input as records is sent nothing.
Each collection named becomes ``/{collection}`` routes over the binding that reached it; every
binding is also reachable through ``/actions/{stream}``. A collection served over two bindings,
or one that would shadow a built-in route, stops start-up with a message naming both. A
receiver answering ``unavailable`` (one in another process that is still starting) is asked
again until the request timeout has passed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from autocoder.errors import StartupError
from autocoder.runtime.messages import Reply
from autocoder.runtime.wiring import SendSide

__all__ = ["RESERVED_NAMES", "Collection", "discover"]

#: First path segments the endpoint uses itself.
RESERVED_NAMES = frozenset({"actions", "health", "ready", "docs", "redoc", "openapi.json"})

RETRY_SECONDS = 0.25

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")


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


_STORE_TYPES = frozenset({"Store", "V5EnhancedStore"})


def _label(name: str, type_name: str) -> str:
    return f"{name!r} ({type_name})"


async def discover(streams: Mapping[str, SendSide], timeout: float) -> list[Collection]:
    """The collections served through the endpoint's bindings ``streams`` (name → outbound).

    Only receivers that declare ``serves_collections`` are asked, each on its own (on a
    fan-out stream the others get nothing). Problems are ``StartupError``; the supervisor
    prefixes them with the endpoint's name.
    """
    found: dict[str, tuple[Collection, str, str]] = {}
    for stream, outbound in streams.items():
        for name, type_name in outbound.collection_servers():
            label = _label(name, type_name)
            reply = await _describe(outbound.only(name), timeout)
            for collection in _collections(reply, stream, name, label):
                seen = found.get(collection.name)
                if seen is None:
                    found[collection.name] = (collection, label, type_name)
                elif seen[0].stream != stream:
                    raise _served_twice(collection.name, seen, (collection, label, type_name))
                # The same collection from two receivers of one fan-out stream: requests
                # reach both anyway, so the stream serves it once.
    return [collection for collection, _, _ in found.values()]


async def _describe(receiver: SendSide, timeout: float) -> Reply:
    deadline = time.monotonic() + timeout
    while True:
        reply = await receiver.request({"action": "describe"}, timeout)
        if reply.get("error_type") != "unavailable" or time.monotonic() >= deadline:
            return reply
        await anyio.sleep(RETRY_SECONDS)


def _collections(reply: Reply, stream: str, name: str, label: str) -> list[Collection]:
    if reply.get("status") != "success" or not isinstance(reply.get("collections"), list):
        why = reply.get("message") or f"it answered {reply.get('status')!r} with no collections"
        raise StartupError(
            f"{label} on stream {stream!r} serves collections but did not describe them: {why}"
        )
    collections = []
    for entry in reply["collections"]:
        collection = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(collection, str) or not _NAME.match(collection):
            raise StartupError(
                f"{label} describes a collection named {collection!r}, "
                "which cannot be a URL path segment"
            )
        if collection in RESERVED_NAMES:
            raise StartupError(
                f"collection {collection!r} of {label} clashes with the "
                f"endpoint's own /{collection} route; rename the table"
            )
        fields = entry.get("fields") or {}
        collections.append(Collection(collection, stream, name, dict(fields)))
    return collections


def _served_twice(
    name: str, first: tuple[Collection, str, str], second: tuple[Collection, str, str]
) -> StartupError:
    (one, one_label, one_type), (two, two_label, two_type) = first, second
    if one_type in _STORE_TYPES and two_type in _STORE_TYPES:
        hint = "serve them from separate endpoints or give their tables different names"
    else:
        hint = (
            "an endpoint serves each collection over one binding: to put a component in "
            "front of a store, bind the endpoint to the component only and the component "
            "to the store"
        )
    return StartupError(
        f"collection {name!r} is served both by {one_label} on stream {one.stream!r} and by "
        f"{two_label} on stream {two.stream!r}; {hint}"
    )
