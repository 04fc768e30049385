"""What a message carries from the task that sent it to the task that processes it.

An HTTP request is served in its own task, where the endpoint binds the request id with
``structlog.contextvars`` (so every line logged there names the request) and, with tracing on,
makes the request's span current. A message sent over a binding from that task takes both
along (``Envelope.carried``); the worker that processes it adopts them for as long as it does,
so a store's lines for that message carry the same request id, its span is a child of the
request's, and whatever it sends on carries them further.

Outside a request nothing is carried (``current()`` is ``None``) and a message costs one
context-variable read. A nats binding carries the same across processes in message headers
(``headers_of``, ``from_headers``): ``X-Request-ID`` and W3C ``traceparent``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry.trace import Tracer

from autocoder.observability.spans import extract_trace, inject_trace

if TYPE_CHECKING:
    from autocoder.observability.spans import TraceContext

__all__ = ["Adopted", "Carried", "adopt", "current", "from_headers", "headers_of", "release"]

#: The header a request id crosses processes in (beside W3C ``traceparent``/``tracestate``).
REQUEST_ID_HEADER = "X-Request-ID"


@dataclass(frozen=True, slots=True)
class Carried:
    """The log context (``structlog`` context variables) and the trace context of a request."""

    log: Mapping[str, Any]
    #: The tracer and the current span's context, or ``None`` when tracing is off.
    trace: TraceContext | None = None

    def with_trace(self, trace: TraceContext) -> Carried:
        """The same log context with another trace context (a child span's)."""
        return Carried(self.log, trace)


Adopted = tuple[Token["Carried | None"], Mapping[str, Token[Any]], object | None]

_current: ContextVar[Carried | None] = ContextVar("autocoder_carried", default=None)


def current() -> Carried | None:
    """What a message sent from the running task carries (``None`` outside a request)."""
    return _current.get()


def adopt(carried: Carried) -> Adopted:
    """Make ``carried`` the running task's context until ``release``: its log lines, its sends
    and, with tracing on, the OpenTelemetry context (spans a component makes nest in it)."""
    tokens = structlog.contextvars.bind_contextvars(**carried.log)
    attached = None if carried.trace is None else otel_context.attach(carried.trace.context)
    return _current.set(carried), tokens, attached


def headers_of(carried: Carried | None) -> dict[str, str]:
    """The message headers that carry ``carried`` to another process (none outside a request)."""
    if carried is None:
        return {}
    headers: dict[str, str] = {}
    request_id = carried.log.get("request_id")
    if isinstance(request_id, str):
        headers[REQUEST_ID_HEADER] = request_id
    if carried.trace is not None:
        inject_trace(carried.trace, headers)
    return headers


def from_headers(headers: Mapping[str, str] | None, tracer: Tracer | None) -> Carried | None:
    """What a message that came with ``headers`` carries into this process: its request id
    and, when this process traces (``tracer``), the sender's trace context."""
    if not headers:
        return None
    log: dict[str, Any] = {}
    request_id = headers.get(REQUEST_ID_HEADER)
    if request_id is not None:
        log["request_id"] = request_id
    trace_context = None if tracer is None else extract_trace(tracer, headers)
    if trace_context is not None:
        log["trace_id"] = trace_context.trace_id
    return Carried(log, trace_context) if log else None


def release(adopted: Adopted) -> None:
    """Undo ``adopt``: the task's context is what it was before."""
    token, tokens, attached = adopted
    if attached is not None:
        otel_context.detach(attached)  # type: ignore[arg-type]
    structlog.contextvars.reset_contextvars(**tokens)
    _current.reset(token)
