"""Request bodies: a JSON object of at most ``max_body_bytes``, or a clear 400 / 413.

The limit is checked twice: against ``Content-Length`` before anything is read, and while a
body without one (chunked) streams in, so an oversized body is never held in memory whole.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from autocoder.http.status import JSONResponse, error_response

__all__ = ["RequestRejected", "read_body", "read_json_object"]

_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


class RequestRejected(Exception):
    """The request is unacceptable as sent; ``response()`` says why to the client."""

    def __init__(self, code: int, message: str, error_type: str = "validation_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error_type = error_type

    def response(self) -> JSONResponse:
        return error_response(self.code, self.error_type, self.message)


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
