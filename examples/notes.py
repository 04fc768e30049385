"""Slugger: a component between an HTTP endpoint and a store (``blueprints/notes.yaml``).

It checks every note written through it, adds a URL-safe ``slug`` made from the title, and
passes every message on to its store, whose reply is the reply. Because it passes ``describe``
on too (``serves_collections``), the endpoint serves the store's ``/notes`` routes through it::

    api (FastAPIEndpoint) --input--> slugger (Slugger) --store--> notes (Store)
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from autocoder import ComponentConfig, ComposedComponent

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str, max_length: int) -> str:
    """``"Hello, World!"`` → ``"hello-world"``."""
    return _NOT_SLUG.sub("-", title.lower()).strip("-")[:max_length].rstrip("-")


class Slugger(ComposedComponent):
    """Validates notes and gives each a slug before its store keeps it."""

    description = "Checks each note's title and adds a slug before the store keeps it."
    #: It answers ``describe`` (by passing it to the store), so the endpoint asks it.
    serves_collections = True

    class Config(ComponentConfig):
        max_length: int = Field(default=60, ge=1, description="Longest slug, in characters.")
        store_stream: str = Field(
            default="store", description="The binding to the store every message goes on to."
        )

    async def process_item(self, item: Any) -> dict[str, Any]:
        # What arrives is an action message, exactly as the endpoint built it: the record's
        # fields are in item["data"], beside "action", "collection", "tenant" and "id".
        if not isinstance(item, dict):
            return invalid(f"expected an action message (an object), got {type(item).__name__}")
        batch = item.get("action") == "batch" and isinstance(item.get("operations"), list)
        operations = item["operations"] if batch else [item]
        for operation in operations:
            problem = self.problem(operation)
            if problem is not None:
                return invalid(problem)
        if batch:
            message = {**item, "operations": [self.with_slug(op) for op in operations]}
        else:
            message = self.with_slug(item)
        return await self.request(self.config.store_stream, message)

    def problem(self, message: Any) -> str | None:
        """Why a write cannot be stored, or None (other messages are the store's to judge)."""
        if not _writes_title(message):
            return None
        title = message["data"].get("title")
        if not isinstance(title, str) or not title.strip():
            return "a note needs a title: a string that is not blank"
        return None

    def with_slug(self, message: Any) -> Any:
        """The message to pass on: a write gets its title's slug beside the title."""
        if not _writes_title(message):
            return message
        data = message["data"]
        return {**message, "data": {**data, "slug": slugify(data["title"], self.config.max_length)}}


def _writes_title(message: Any) -> bool:
    """Whether ``message`` writes a note's title (an update without one keeps its slug)."""
    if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
        return False
    action = message.get("action")
    return action in ("create", "replace") or (action == "update" and "title" in message["data"])


def invalid(message: str) -> dict[str, Any]:
    """A ``validation_error`` reply: the endpoint answers it with 422."""
    return {"status": "error", "error_type": "validation_error", "message": message}
