"""Tracing with OpenTelemetry, configured only by the standard ``OTEL_*`` variables.

``tracing_from_environment(system_name)`` reads:

- ``OTEL_TRACES_EXPORTER``: ``none`` (the default: no tracer, nothing is traced), ``otlp``
  (OTLP over HTTP/protobuf, to ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, default ``http://localhost:4318``, with the exporter's
  own ``OTEL_EXPORTER_OTLP_*`` settings), ``console`` (spans as JSON on stdout), or several
  separated by commas;
- ``OTEL_SERVICE_NAME`` (default: the system's name) and ``OTEL_RESOURCE_ATTRIBUTES``;
- ``OTEL_SDK_DISABLED=true`` turns everything off; the sampler (``OTEL_TRACES_SAMPLER``) and the
  batch settings (``OTEL_BSP_*``) are the SDK's own.

The spans themselves are ``observability.spans``. Off (no ``Tracing``), the cost is a ``None``
check per request, per message and per statement.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Tracer

from autocoder.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["EXPORTERS", "Tracing", "tracing_from_environment"]

#: The values ``OTEL_TRACES_EXPORTER`` may hold (comma-separated).
EXPORTERS = ("none", "otlp", "console")


class Tracing:
    """A tracer provider with its exporters; ``tracer`` makes autocoder's spans."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("autocoder")

    def make_global(self) -> None:
        """Make this the process's tracer provider (``autocoder run``): spans a component
        makes with ``opentelemetry.trace.get_tracer(...)`` then nest in autocoder's."""
        trace.set_tracer_provider(self.provider)

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporters (blocking: run it in a thread)."""
        self.provider.shutdown()


def tracing_from_environment(
    system_name: str, environ: Mapping[str, str] | None = None
) -> Tracing | None:
    """The system's tracing as the ``OTEL_*`` variables configure it; ``None`` when off.

    An unknown exporter name is a ``ConfigurationError`` naming the known ones.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "none").split(",")]
    names = [n for n in names if n and n != "none"]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {unknown[0]!r}; "
            f"autocoder knows {', '.join(EXPORTERS)}"
        )
    if not names:
        return None
    # Imported here: the SDK is a few percent of every command's start-up, and only a
    # process that traces needs it.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    service = env.get("OTEL_SERVICE_NAME", "").strip() or system_name
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    for name in dict.fromkeys(names):
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        else:
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
    return Tracing(provider)


def _otlp_exporter() -> SpanExporter:
    # Imported here: it brings protobuf and requests, which a system that does not trace
    # never needs to load.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter: SpanExporter = OTLPSpanExporter()
    return exporter
