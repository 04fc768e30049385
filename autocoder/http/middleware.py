"""The ASGI layer around an endpoint's app: request ids, API keys, metrics, logs, last resort.

Pure ASGI (no per-request objects beyond what it needs) because it runs on every request:

- a request id, kept from ``X-Request-ID`` when it is at most 128 characters of
  ``[A-Za-z0-9._-]``, else made up (never a truncation), echoed in the response and bound with
  ``structlog.contextvars`` for as long as the request is served: every line logged for it, here,
  in a route or in a store processing its message (``observability.carried``), names it;
- the access log: one ``request`` line per request with the method, the route *template*, the
  status, ``duration_ms`` and the request id (``info``; ``warning`` for a 5xx), unless the
  endpoint's ``access_log`` is off. Never the raw path, the query, a header or a body: those
  hold record data and keys;
- with tracing on (``tracer``), one server span per request, a child of its ``traceparent``,
  named by method and route template; its context, and its trace id for the log lines, go
  with the request's messages;
- the API key check (``401`` before routing) and the request's tenant, put in the scope;
- ``autocoder_http_requests_total`` and ``autocoder_http_request_seconds`` labelled with the
  route *template* (``/tasks/{id}``), never the raw path;
- a JSON 500 without a stack trace when something below fails, logged with its traceback.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from opentelemetry.trace import Tracer
from starlette.routing import Match, Router

from autocoder.errors import Unauthorized
from autocoder.http.auth import (
    DOCS_ASSETS,
    KeyRing,
    credentials_from_headers,
    is_docs_asset,
    is_open,
)
from autocoder.http.status import error_response
from autocoder.logging import write_info_line
from autocoder.observability.carried import Carried, adopt, release
from autocoder.observability.metrics import SystemMetrics
from autocoder.observability.spans import finish_http_span, http_span

__all__ = [
    "FORCED_TENANT_KEY",
    "REQUEST_ID_KEY",
    "ROUTE_KEY",
    "TENANT_KEY",
    "UNMATCHED_ROUTE",
    "EndpointMiddleware",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Scope keys where the middleware leaves the request id and the tenant for the routes.
REQUEST_ID_KEY = "autocoder.request_id"
TENANT_KEY = "autocoder.tenant"
#: Set (to True) when an API key fixed the tenant: a message cannot choose another.
FORCED_TENANT_KEY = "autocoder.tenant_forced"
#: Where a route leaves its path template (``/tasks/{id}``), the ``route`` label of metrics.
ROUTE_KEY = "autocoder.route"

#: The ``route`` label of a request no route matched (a raw path would explode the series).
UNMATCHED_ROUTE = "unmatched"

#: A client's request id is kept only when it is this (else it would go into logs as sent).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class EndpointMiddleware:
    """Wraps an endpoint's ASGI app; see the module docstring for what it adds."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        component: str,
        keys: KeyRing,
        metrics: SystemMetrics | None,
        log: Any,
        router: Router,
        access_log: bool = True,
        tracer: Tracer | None = None,
    ) -> None:
        self.app = app
        self.component = component
        self.keys = keys
        self.metrics = metrics
        self.log = log
        self._log_context = structlog.get_context(log)
        self.router = router
        self.access_log = access_log
        #: Set when tracing is on: one server span per request.
        self.tracer = tracer
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
        if not _REQUEST_ID.fullmatch(request_id):
            request_id = f"{self._id_prefix}-{next(self._ids)}"
        scope[REQUEST_ID_KEY] = request_id
        span = None
        if self.tracer is None:
            carried = Carried({"request_id": request_id})
        else:
            span, traced = http_span(self.tracer, scope["headers"], scope["method"])
            trace_id = format(span.get_span_context().trace_id, "032x")
            carried = Carried({"request_id": request_id, "trace_id": trace_id}, traced)
        adopted = adopt(carried)
        status = 500
        try:
            status = await self._serve(scope, receive, send, request_id)
        finally:
            seconds = time.perf_counter() - started
            route = self._route_template(scope)
            self._observe(scope["method"], route, status, seconds)
            if span is not None:
                finish_http_span(span, scope["method"], route, status, request_id)
            if self.access_log or status >= 500:
                fields = {
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": int(seconds * 1_000_000) / 1000,  # to the µs; cheaper than round
                    "request_id": request_id,
                }
                if status >= 500:
                    self.log.warning("request", **fields)
                elif not write_info_line(self._log_context, "request", fields):
                    self.log.info("request", **fields)
            release(adopted)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        """Check the key, run the app, answer 500 if it fails; the response's status."""
        request_id_header = (b"x-request-id", request_id.encode("latin-1"))
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        try:
            credentials = credentials_from_headers(scope["headers"])
            if is_open(scope["path"]):
                scope[TENANT_KEY] = credentials.tenant_header or ""
                await self.app(scope, receive, send_with_id)
            else:
                try:
                    scope[TENANT_KEY], scope[FORCED_TENANT_KEY] = self.keys.tenant_for(credentials)
                except Unauthorized as exc:
                    response = error_response(
                        401, "unauthorized", str(exc), headers={"www-authenticate": "Bearer"}
                    )
                    await response(scope, receive, send_with_id)
                else:
                    await self.app(scope, receive, send_with_id)
        except Exception:
            self.log.error(
                "request failed",
                request_id=request_id,
                method=scope["method"],
                route=self._route_template(scope),
                exc_info=True,
            )
            if not response_started:
                response = error_response(
                    500, "internal", f"internal error; the log has details (request {request_id})"
                )
                await response(scope, receive, send_with_id)
            status = 500
        return status

    def _route_template(self, scope: Scope) -> str:
        template = scope.get(ROUTE_KEY)
        if isinstance(template, str):
            return template
        route = scope.get("route")
        if route is None:
            if is_docs_asset(scope["path"]):  # served by a mount, which leaves no route
                return DOCS_ASSETS
            # Rejected before routing (401), or not one of ours: find the route it was meant for.
            for candidate in self.router.routes:
                match, _ = candidate.matches(scope)
                if match is not Match.NONE:
                    route = candidate
                    break
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else UNMATCHED_ROUTE

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if self.metrics is None:
            return
        key = (method, route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self.metrics.http_requests.labels(self.component, method, route, str(status))
            self._counters[key] = counter
        counter.inc()
        timer_key = (method, route)
        timer = self._timers.get(timer_key)
        if timer is None:
            timer = self.metrics.http_request_seconds.labels(self.component, method, route)
            self._timers[timer_key] = timer
        timer.observe(seconds)
