"""What a request asks for: its JSON body (within limits), list parameters and ``If-Match``.

Bodies: a JSON object of at most ``max_body_bytes``, or a clear 400 / 413. The limit is
checked twice: against ``Content-Length`` before anything is read, and while a body without one
(chunked) streams in, so an oversized body is never held in memory whole.

Lists: ``GET /{collection}?limit=10&offset=20&order_by=-title&completed=false`` becomes a
``list`` message: ``limit``, ``offset`` and ``order_by`` page and order it, and every other
parameter is an equality filter, its value read as JSON when it parses (``false``, ``3``,
``"3"``) and as the plain string otherwise.

Every problem is a ``RequestRejected`` carrying the status code and message the client gets.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request

from autocoder.errors import RequestRejected

__all__ = [
    "PAGING_PARAMETERS",
    "expected_version",
    "list_message",
    "read_body",
    "read_json_object",
]

_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _too_large(limit: int) -> RequestRejected:
    return RequestRejected(413, f"request body is larger than the limit of {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes, else ``RequestRejected`` (413)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise RequestRejected(400, "Content-Length is not a number") from None
        if length > limit:
            raise _too_large(limit)
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body parsed as a JSON object; 400 when it is not JSON or not an object, 413 when big."""
    raw = await read_body(request, limit)
    if not raw.strip():
        raise RequestRejected(400, "request body is empty; send a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestRejected(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestRejected(400, f"request body must be a JSON object, not {_KINDS[type(value)]}")
    return value


# -- lists and versions ------------------------------------------------------------------

#: Query parameters that page and order a list rather than filter it.
PAGING_PARAMETERS = ("limit", "offset", "order_by")
#: Query parameters of a watch (``GET /{collection}?watch=true&since=S``), never filters.
WATCH_PARAMETERS = ("watch", "since")


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise RequestRejected(
            422, f"query parameter {name!r} must be an integer, got {raw!r}"
        ) from None
    if value < 0:
        raise RequestRejected(422, f"query parameter {name!r} must not be negative, got {value}")
    return value


def _filter_value(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def list_message(collection: str, tenant: str, params: QueryParams) -> dict[str, Any]:
    """The ``list`` action message for a collection's query parameters.

    A parameter given twice is a 422: equality on one field has one value.
    """
    message: dict[str, Any] = {"action": "list", "collection": collection, "tenant": tenant}
    where: dict[str, Any] = {}
    for name in params:
        values = params.getlist(name)
        if len(values) > 1:
            raise RequestRejected(422, f"query parameter {name!r} is given more than once")
        raw = values[0]
        if name == "since":
            raise RequestRejected(422, "query parameter 'since' needs watch=true")
        if name == "watch":
            if raw != "false":
                raise RequestRejected(
                    422, f"query parameter 'watch' must be true or false, got {raw!r}"
                )
        elif name in ("limit", "offset"):
            message[name] = _non_negative_int(name, raw)
        elif name == "order_by":
            if not raw:
                raise RequestRejected(422, "query parameter 'order_by' is empty; name a field")
            message["order_by"] = raw
        else:
            where[name] = _filter_value(raw)
    if where:
        message["where"] = where
    return message


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header requires: ``"3"``, ``W/"3"`` or ``3``; ``*`` is none.

    An entity tag that is not a version this endpoint issued can never match: 412.
    """
    if if_match is None:
        return None
    tag = if_match.strip()
    if tag == "*":
        return None
    if tag.startswith("W/"):
        tag = tag[2:]
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        tag = tag[1:-1]
    if tag.isdigit() and tag.isascii():
        return int(tag)
    raise RequestRejected(
        412,
        f'If-Match {if_match!r} does not match: entity tags here are record versions like "3"',
        error_type="version_conflict",
    )


def wants_watch(params: QueryParams) -> bool:
    """Whether ``GET /{collection}`` asks to watch (``watch=true``) rather than to list."""
    return params.get("watch") == "true"


def watch_request(
    params: QueryParams, last_event_id: str | None
) -> tuple[int | None, dict[str, Any]]:
    """``since`` (the ``Last-Event-ID`` header wins over the query parameter) and the
    ``field=value`` filters of a watch; paging parameters are refused (a 422)."""
    where: dict[str, Any] = {}
    since: int | None = None
    for name in params:
        values = params.getlist(name)
        if len(values) > 1:
            raise RequestRejected(422, f"query parameter {name!r} is given more than once")
        raw = values[0]
        if name == "since":
            since = _non_negative_int(name, raw)
        elif name in PAGING_PARAMETERS:
            raise RequestRejected(
                422, f"query parameter {name!r} pages a list; a watch has no pages"
            )
        elif name != "watch":
            where[name] = _filter_value(raw)
    if last_event_id is not None and last_event_id.strip():
        since = _non_negative_int("Last-Event-ID", last_event_id.strip())
    return since, where
