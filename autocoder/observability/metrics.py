"""The Prometheus families of docs/metrics.md, one registry per running system.

Hot paths hold on to label children (``counter.labels(...)``) instead of looking them up per
message, and update lock-free instruments (``instruments.py``); gauges that describe current
state (component up, buffer use, records, pool) are read at scrape time, so they cost nothing
between scrapes. prometheus-client renders everything, beside its process and Python collectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autocoder.observability.instruments import Counter, Histogram

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


class _Families(Collector):
    """Yields every autocoder family at scrape time."""

    def __init__(self, sources: list[Counter | Histogram | GaugeSource]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield source.family()


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
            ("component", "stream"),
        )
        self.messages_sent = Counter(
            PREFIX + "messages_sent_total",
            "Messages a component sent, by stream.",
            ("component", "stream"),
        )
        self.message_errors = Counter(
            PREFIX + "message_errors_total",
            "Error replies a component gave, by error type.",
            ("component", "error_type"),
        )
        self.processing_seconds = Histogram(
            PREFIX + "processing_seconds",
            "Time a component took to process one message, by action.",
            ("component", "action"),
            buckets=(
                0.0001,
                0.0005,
                0.001,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1.0,
                2.5,
                10.0,
            ),
        )
        self.store_operations = Counter(
            PREFIX + "store_operations_total",
            "Store operations, by action and reply status.",
            ("component", "action", "status"),
        )
        self.store_batch_size = Histogram(
            PREFIX + "store_batch_size",
            "Writes a database store committed in one transaction (group commit).",
            ("component",),
            buckets=(1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0),
        )
        self.http_requests = Counter(
            PREFIX + "http_requests_total",
            "HTTP requests served, by route template and status code.",
            ("component", "method", "route", "status"),
        )
        self.http_request_seconds = Histogram(
            PREFIX + "http_request_seconds",
            "HTTP request duration, by route template.",
            ("component", "method", "route"),
        )
        self.component_restarts = Counter(
            PREFIX + "component_restarts_total",
            "Times a component was restarted after its processing loop failed.",
            ("component",),
        )
        self.dead_letters = Counter(
            PREFIX + "dead_letters_total",
            "Messages whose processing failed, given up as dead letters.",
            ("component",),
        )
        self.reloads = Counter(
            PREFIX + "reloads_total",
            "Reloads of the blueprint (SIGHUP, run --watch), by result: success or failure.",
            ("result",),
        )
        for result in ("success", "failure"):
            self.reloads.labels(result)

        self.transport_messages = Counter(
            PREFIX + "transport_messages_total",
            "Messages over nats bindings (requests and sends), by direction (out, in).",
            ("component", "stream", "direction"),
        )
        self.transport_redeliveries = Counter(
            PREFIX + "transport_redeliveries_total",
            "Sends over a nats binding delivered again (not acknowledged in time, or failed).",
            ("component", "stream"),
        )
        self.transport_dead_letters = Counter(
            PREFIX + "transport_dead_letters_total",
            "Sends over a nats binding given up after max_deliver deliveries.",
            ("component", "stream"),
        )
        self.watch_events = Counter(
            PREFIX + "watch_events_total",
            "Change events handed to watchers (each watcher counts its own).",
            ("component",),
        )
        self.watchers = GaugeSource(
            "watchers", "Watchers of a collection's changes, open now.", ("component", "collection")
        )
        self.transport_connected = GaugeSource(
            "transport_connected", "1 while the NATS connection is up (0 while it is lost).", ()
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
            _Families(
                [
                    self.messages_received,
                    self.messages_sent,
                    self.message_errors,
                    self.processing_seconds,
                    self.store_operations,
                    self.store_batch_size,
                    self.http_requests,
                    self.http_request_seconds,
                    self.component_restarts,
                    self.dead_letters,
                    self.reloads,
                    self.transport_messages,
                    self.transport_redeliveries,
                    self.transport_dead_letters,
                    self.transport_connected,
                    self.watch_events,
                    self.watchers,
                    self.component_up,
                    self.stream_buffer_used,
                    self.store_records,
                    self.db_pool_connections,
                ]
            )
        )
