"""PerformanceMonitor: operation counts, success rate and latency percentiles in bounded memory.

Every operation a V5EnhancedStore serves is recorded with its action, its duration and whether
it succeeded. Counts and sums are exact; percentiles come from a fixed-size uniform reservoir
sample (Vitter's algorithm R), so memory stays constant however long the store runs, and the
percentiles of a long run are those of a uniform sample of all its operations.

``Meter`` is the one place a message's processing time goes: a component measures each message
once and the meter records that one duration, under one action label, in
``autocoder_processing_seconds``, in ``autocoder_store_operations_total`` (for stores, with the
reply's status) and in the store's ``PerformanceMonitor`` (V5EnhancedStore), so the three never
disagree about what an action was or how long it took.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from autocoder.observability.instruments import CounterChild, HistogramChild
from autocoder.observability.metrics import SystemMetrics

#: Samples kept for the percentiles of all operations, and of each action.
RESERVOIR_SIZE = 4096
ACTION_RESERVOIR_SIZE = 1024


@dataclass
class _Reservoir:
    """A uniform sample of at most ``size`` values out of every value offered."""

    size: int
    rng: random.Random
    seen: int = 0
    samples: list[float] = field(default_factory=list)

    def offer(self, value: float) -> None:
        self.seen += 1
        if len(self.samples) < self.size:
            self.samples.append(value)
            return
        slot = self.rng.randrange(self.seen)
        if slot < self.size:
            self.samples[slot] = value

    def percentiles(self, *quantiles: float) -> list[float]:
        """Nearest-rank percentiles of the sample (0.0 for an empty one)."""
        if not self.samples:
            return [0.0 for _ in quantiles]
        ordered = sorted(self.samples)
        last = len(ordered) - 1
        return [ordered[min(last, max(0, math.ceil(q * len(ordered)) - 1))] for q in quantiles]


@dataclass
class _Tally:
    """Exact counts and duration sum, plus a reservoir for percentiles."""

    reservoir: _Reservoir
    total: int = 0
    failed: int = 0
    duration_sum: float = 0.0

    def add(self, duration: float, ok: bool) -> None:
        self.total += 1
        if not ok:
            self.failed += 1
        self.duration_sum += duration
        self.reservoir.offer(duration)

    def summary(self) -> dict[str, Any]:
        successful = self.total - self.failed
        p50, p95, p99 = self.reservoir.percentiles(0.50, 0.95, 0.99)
        return {
            "total_operations": self.total,
            "successful_operations": successful,
            "failed_operations": self.failed,
            "average_duration": self.duration_sum / self.total if self.total else 0.0,
            "success_rate": successful / self.total if self.total else 1.0,
            "p50_duration": p50,
            "p95_duration": p95,
            "p99_duration": p99,
        }


class PerformanceMonitor:
    """Counts and timings of a store's operations; durations are in seconds.

    ``get_performance_summary()`` is the V5 summary of docs/v5-enhanced-store.md, plus
    percentiles and a ``by_action`` breakdown with the same fields per action.
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._all = _Tally(_Reservoir(RESERVOIR_SIZE, self._rng))
        self._by_action: dict[str, _Tally] = {}

    def record(self, action: str, duration: float, *, ok: bool) -> None:
        """Count one operation of ``action`` that took ``duration`` seconds."""
        self._all.add(duration, ok)
        tally = self._by_action.get(action)
        if tally is None:
            tally = _Tally(_Reservoir(ACTION_RESERVOIR_SIZE, self._rng))
            self._by_action[action] = tally
        tally.add(duration, ok)

    def get_performance_summary(self) -> dict[str, Any]:
        """Totals, success rate, average and p50/p95/p99 durations, overall and by action."""
        summary = self._all.summary()
        summary["by_action"] = {
            action: tally.summary() for action, tally in sorted(self._by_action.items())
        }
        return summary

    def reset(self) -> None:
        """Forget every recorded operation."""
        self._all = _Tally(_Reservoir(RESERVOIR_SIZE, self._rng))
        self._by_action = {}


class Meter:
    """Records each message's one measured duration in every place that shows it.

    ``record(metrics, action, seconds)`` observes ``autocoder_processing_seconds``; with a
    ``status`` (a store's reply status) it also counts ``autocoder_store_operations_total`` and
    feeds ``monitor`` when there is one (an operation failed when its status is ``error``).
    ``metrics`` is passed per call because a component joins a system's metrics after it is
    made (and a store used through the Python API alone has none).
    """

    __slots__ = ("_counts", "_metrics", "_seconds", "component", "monitor")

    def __init__(self, component: str, monitor: PerformanceMonitor | None = None) -> None:
        self.component = component
        self.monitor = monitor
        self._metrics: SystemMetrics | None = None
        self._seconds: dict[str, HistogramChild] = {}
        self._counts: dict[tuple[str, str], CounterChild] = {}

    def record(
        self,
        metrics: SystemMetrics | None,
        action: str,
        seconds: float,
        status: str | None = None,
    ) -> None:
        if status is not None and self.monitor is not None:
            self.monitor.record(action, seconds, ok=status != "error")
        if metrics is None:
            return
        if metrics is not self._metrics:  # series are cached per metrics registry
            self._metrics = metrics
            self._seconds = {}
            self._counts = {}
        histogram = self._seconds.get(action)
        if histogram is None:
            histogram = metrics.processing_seconds.labels(self.component, action)
            self._seconds[action] = histogram
        histogram.observe(seconds)
        if status is None:
            return
        key = (action, status)
        counter = self._counts.get(key)
        if counter is None:
            counter = metrics.store_operations.labels(self.component, action, status)
            self._counts[key] = counter
        counter.inc()
