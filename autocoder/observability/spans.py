"""The spans autocoder makes, through the OpenTelemetry API only (``tracing`` configures them).

- ``http_span``: one server span per HTTP request, a child of its W3C ``traceparent`` when the
  request has one, named by method and route template once routed (``finish_http_span``);
- ``message_span``: one child span per message a component processes, named by component;
- ``statement_span``: one child span per database statement, with ``db.system``.

A span's context travels with a message over a binding as ``TraceContext`` (in
``observability.carried``). Attributes name methods, routes, statuses, components, streams,
actions and SQL operations: never a path, a query string, a header, a key, a record, a
statement's text or a bound value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TraceContext",
    "extract_trace",
    "finish_http_span",
    "http_span",
    "inject_trace",
    "message_span",
    "statement_span",
]

_PROPAGATOR = TraceContextTextMapPropagator()
_SQL_OPERATIONS = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "ALTER",
        "DROP",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "COPY",
        "WITH",
        "PRAGMA",
        "LOCK",
    }
)


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A tracer and the context of the span that is current for a request or a message."""

    tracer: Tracer
    context: Context

    @property
    def trace_id(self) -> str:
        """The trace's id as 32 hex digits (as the log lines show it)."""
        return format(trace.get_current_span(self.context).get_span_context().trace_id, "032x")

    def child(self, span: Span) -> TraceContext:
        """The context in which ``span`` (a child of this one) is current."""
        return TraceContext(self.tracer, trace.set_span_in_context(span, self.context))


class _HeaderGetter(Getter[list[tuple[bytes, bytes]]]):
    """Reads ``traceparent``/``tracestate`` from raw ASGI headers."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier if k == wanted]
        return values or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


_HEADERS = _HeaderGetter()


def inject_trace(trace_context: TraceContext, headers: dict[str, str]) -> None:
    """Add ``traceparent`` (and ``tracestate``) of ``trace_context`` to ``headers``."""
    _PROPAGATOR.inject(headers, context=trace_context.context)


def extract_trace(tracer: Tracer, headers: Mapping[str, str]) -> TraceContext | None:
    """The sender's trace context from a message's ``headers``, or None without a valid one."""
    context = _PROPAGATOR.extract(headers)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return TraceContext(tracer, context)


def http_span(
    tracer: Tracer, headers: Iterable[tuple[bytes, bytes]], method: str
) -> tuple[Span, TraceContext]:
    """The server span of a request, and the context it is current in."""
    parent = _PROPAGATOR.extract(list(headers), getter=_HEADERS)
    span = tracer.start_span(
        method,
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method},
    )
    return span, TraceContext(tracer, trace.set_span_in_context(span, parent))


def finish_http_span(span: Span, method: str, route: str, status: int, request_id: str) -> None:
    """Name ``span`` by its route template, record the response's status, and end it."""
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    span.set_attribute("autocoder.request_id", request_id)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def message_span(
    parent: TraceContext, component: str, component_type: str, stream: str, item: Any
) -> tuple[Span, TraceContext]:
    """A child span for ``component`` processing ``item``, and the context it is current in."""
    attributes: dict[str, str] = {
        "autocoder.component": component,
        "autocoder.component.type": component_type,
        "autocoder.stream": stream,
    }
    if isinstance(item, dict):
        action, event = item.get("action"), item.get("event")
        if isinstance(action, str):
            attributes["autocoder.action"] = action[:64]
        elif isinstance(event, str):
            attributes["autocoder.event"] = event[:64]
    span = parent.tracer.start_span(
        f"process {component}",
        context=parent.context,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    )
    return span, parent.child(span)


def statement_span(parent: TraceContext, system: str, sql: str) -> Span:
    """A child span for one database statement: ``db.system`` and the operation."""
    words = sql.split(None, 1)
    operation = words[0].upper() if words else ""
    if operation not in _SQL_OPERATIONS:
        operation = "SQL"
    return parent.tracer.start_span(
        f"{operation} {system}",
        context=parent.context,
        kind=SpanKind.CLIENT,
        attributes={
            "db.system": system,
            "db.system.name": system,
            "db.operation.name": operation,
        },
    )
