"""CORS for an endpoint: which browser origins may call its API (Starlette's CORSMiddleware).

It wraps the whole endpoint, outside the key check: a browser's preflight (``OPTIONS`` with
``Access-Control-Request-Method``) carries no key and is answered here, and every response,
a 401 included, carries ``Access-Control-Allow-Origin`` for an allowed origin, so the page can
read it. The headers a client sends (keys, tenant, request id, ``If-Match``, and the
``Last-Event-ID`` of an ``EventSource`` resuming a watch) are allowed, and
the ones it reads (``X-Request-ID``, ``Location``, ``ETag``, ``Retry-After``) exposed. No
cookies are involved (keys travel in headers), so credentials are not allowed.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware

__all__ = ["ALLOWED_HEADERS", "EXPOSED_HEADERS", "with_cors"]

ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "Last-Event-ID",
    "X-API-Key",
    "X-Request-ID",
    "X-Tenant-ID",
)
EXPOSED_HEADERS = ("ETag", "Location", "Retry-After", "X-Request-ID")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def with_cors(app: Any, origins: list[str]) -> Any:
    """``app`` answering CORS for ``origins`` (``"*"``: any); ``app`` itself when there are none."""
    if not origins:
        return app
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )
