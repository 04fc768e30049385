"""The lock-free instruments render as Prometheus counters and histograms."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from autocoder.observability.instruments import Counter, Histogram


class _Collect(Collector):
    def __init__(self, *instruments: Counter | Histogram) -> None:
        self.instruments = instruments

    def collect(self):  # type: ignore[no-untyped-def]
        for instrument in self.instruments:
            yield instrument.family()


def _registry(*instruments: Counter | Histogram) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_Collect(*instruments))
    return registry


def test_a_counter_counts_per_label_set() -> None:
    counter = Counter("x_requests_total", "Requests.", ("route",))
    counter.labels("/a").inc()
    counter.labels("/a").inc(2)
    counter.labels("/b").inc()
    registry = _registry(counter)
    assert registry.get_sample_value("x_requests_total", {"route": "/a"}) == 3
    assert registry.get_sample_value("x_requests_total", {"route": "/b"}) == 1
    [family] = text_string_to_metric_families(generate_latest(registry).decode())
    assert family.type == "counter"


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    histogram = Histogram("x_seconds", "Durations.", ("action",), buckets=(0.1, 1.0))
    child = histogram.labels("get")
    for value in (0.05, 0.1, 0.5, 1.0, 5.0):
        child.observe(value)
    registry = _registry(histogram)

    def bucket(le: str) -> float | None:
        return registry.get_sample_value("x_seconds_bucket", {"action": "get", "le": le})

    assert bucket("0.1") == 2
    assert bucket("1.0") == 4
    assert bucket("+Inf") == 5
    assert registry.get_sample_value("x_seconds_count", {"action": "get"}) == 5
    assert registry.get_sample_value("x_seconds_sum", {"action": "get"}) == pytest.approx(6.65)


def test_the_wrong_number_of_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="takes labels"):
        Counter("x_total", "X.", ("a", "b")).labels("only one")
