"""From a store's reply to an HTTP response: status code, headers and a fast JSON body.

docs/http-api.md: success 200 (201 for create, 204 for delete), not_found 404, validation_error
422, unknown_action 400, conflict 409, version_conflict 412, unavailable 503 (with
``Retry-After``), timeout 504, internal 500. Record replies carry ``ETag: "<version>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import Response

from autocoder.errors import error_reply

__all__ = [
    "ERROR_STATUS",
    "RETRY_AFTER_SECONDS",
    "JSONResponse",
    "error_response",
    "reply_response",
    "status_for",
]

ERROR_STATUS: dict[str, int] = {
    "validation_error": 422,
    "unknown_action": 400,
    "conflict": 409,
    "version_conflict": 412,
    "unavailable": 503,
    "timeout": 504,
    "internal": 500,
    "gone": 410,
}

#: What a 503 tells a client to wait before trying again.
RETRY_AFTER_SECONDS = "1"


class JSONResponse(StarletteJSONResponse):
    """A JSON response encoded with orjson (non-JSON values such as datetimes become strings)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def status_for(reply: Mapping[str, Any], action: str) -> int:
    """The HTTP status of ``reply`` to a message whose action was ``action``."""
    status = reply.get("status")
    if status == "success":
        if action == "create":
            return 201
        if action == "delete":
            return 204
        return 200
    if status == "not_found":
        return 404
    if status == "error":
        return ERROR_STATUS.get(str(reply.get("error_type")), 500)
    return 500


def reply_response(reply: dict[str, Any], action: str, *, location: str | None = None) -> Response:
    """The response for a store's reply: its body, status and headers.

    ``location`` is the URL of a created record (sent with 201 only).
    """
    code = status_for(reply, action)
    if code == 204:
        return Response(status_code=204)
    headers: dict[str, str] = {}
    version = reply.get("version")
    if code < 300 and isinstance(version, int) and not isinstance(version, bool):
        headers["etag"] = f'"{version}"'
    if code == 201 and location is not None:
        headers["location"] = location
    elif code == 503:
        headers["retry-after"] = RETRY_AFTER_SECONDS
    return JSONResponse(reply, status_code=code, headers=headers)


def error_response(
    code: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON error response made by the endpoint (not by a store)."""
    all_headers = dict(headers or {})
    if code == 503:
        all_headers.setdefault("retry-after", RETRY_AFTER_SECONDS)
    return JSONResponse(error_reply(error_type, message), status_code=code, headers=all_headers)
