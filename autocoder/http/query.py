"""Reading what a request asks for beyond its body: list parameters and ``If-Match``.

``GET /{collection}?limit=10&offset=20&order_by=-title&completed=false`` becomes a ``list``
message: ``limit``, ``offset`` and ``order_by`` are the paging parameters and every other
parameter is an equality filter, its value read as JSON when it parses (``false``, ``3``,
``"3"``) and as the plain string otherwise.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import QueryParams

from autocoder.http.body import RequestRejected

__all__ = ["PAGING_PARAMETERS", "expected_version", "list_message"]

#: Query parameters that page and order a list rather than filter it.
PAGING_PARAMETERS = ("limit", "offset", "order_by")


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
        if name in ("limit", "offset"):
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
