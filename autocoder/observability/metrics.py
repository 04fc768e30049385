"""The Prometheus families of SPEC section 7, one registry per running system.

Hot paths hold on to label children (``counter.labels(...)``) instead of looking them up per
message; gauges that describe current state (component up, buffer use, records, pool) are read
at scrape time by a collector, so they cost nothing between scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "autocoder_"

# (labels, value) samples produced at scrape time.
Samples = Iterable[tuple[tuple[str, ...], float]]


@dataclass
class GaugeSource:
    """A gauge family whose samples come from a callback at scrape time."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    sources: list[Callable[[], Samples]] = field(default_factory=list)

    def family(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(PREFIX + self.name, self.documentation, labels=self.labels)
        for source in self.sources:
            for label_values, value in source():
                family.add_metric(list(label_values), value)
        return family


class _ScrapeTimeGauges(Collector):
    def __init__(self, gauges: list[GaugeSource]) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for gauge in self._gauges:
            yield gauge.family()


class SystemMetrics:
    """Every autocoder metric family of one system, registered on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

        self.messages_received = Counter(
            PREFIX + "messages_received_total",
            "Messages a component received, by stream.",
            ["component", "stream"],
            registry=registry,
        )
        self.messages_sent = Counter(
            PREFIX + "messages_sent_total",
            "Messages a component sent, by stream.",
            ["component", "stream"],
            registry=registry,
        )
        self.message_errors = Counter(
            PREFIX + "message_errors_total",
            "Error replies a component gave, by error type.",
            ["component", "error_type"],
            registry=registry,
        )
        self.processing_seconds = Histogram(
            PREFIX + "processing_seconds",
            "Time a component took to process one message, by action.",
            ["component", "action"],
            registry=registry,
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.store_operations = Counter(
            PREFIX + "store_operations_total",
            "Store operations, by action and reply status.",
            ["component", "action", "status"],
            registry=registry,
        )
        self.http_requests = Counter(
            PREFIX + "http_requests_total",
            "HTTP requests served, by route template and status code.",
            ["component", "method", "route", "status"],
            registry=registry,
        )
        self.http_request_seconds = Histogram(
            PREFIX + "http_request_seconds",
            "HTTP request duration, by route template.",
            ["component", "method", "route"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.component_restarts = Counter(
            PREFIX + "component_restarts_total",
            "Times a component was restarted after its processing loop failed.",
            ["component"],
            registry=registry,
        )

        self.component_up = GaugeSource(
            "component_up", "1 when the component is set up and healthy.", ("component", "type")
        )
        self.stream_buffer_used = GaugeSource(
            "stream_buffer_used",
            "Messages waiting in a component's receive stream.",
            ("component", "stream"),
        )
        self.store_records = GaugeSource(
            "store_records", "Records a store holds, by collection.", ("component", "collection")
        )
        self.db_pool_connections = GaugeSource(
            "db_pool_connections",
            "Database pool connections by state (in_use, idle).",
            ("component", "state"),
        )
        registry.register(
            _ScrapeTimeGauges(
                [
                    self.component_up,
                    self.stream_buffer_used,
                    self.store_records,
                    self.db_pool_connections,
                ]
            )
        )
