"""Store and V5EnhancedStore share one database-settings model and one timing path.

Both blueprint formats become one ``DatabaseSettings``; each message is measured once, and that
one duration reaches ``autocoder_processing_seconds``, ``autocoder_store_operations_total`` and
the performance monitor under the same action label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autocoder.components.enhanced_store import V5EnhancedStore
from autocoder.components.store import Store
from autocoder.observability.metrics import SystemMetrics
from autocoder.runtime.messages import Envelope, ReplySlot
from autocoder.storage.settings import DatabaseSettings

pytestmark = pytest.mark.anyio

NOTES = {"version": "1", "sql": "CREATE TABLE notes (id VARCHAR(64) PRIMARY KEY, data JSON)"}


def v5(path: Path, pool: dict[str, Any]) -> V5EnhancedStore:
    database = {
        "type": "sqlite",
        "connection_string": f"sqlite:///{path}",
        "connection_pool": pool,
        "schema": {"tables": ["notes"], "migrations": [NOTES]},
    }
    return V5EnhancedStore("v5", {"database": database})


def test_both_formats_make_one_settings_model(tmp_path: Path) -> None:
    store = Store(
        "store",
        {
            "storage_type": "database",
            "database_url": "postgresql://app:secret@db:5432/app",
            "pool_max_size": 7,
            "pool_timeout": 2.5,
            "command_timeout": 9,
        },
    )
    assert store.config.database_settings() == DatabaseSettings(
        "postgresql://app:secret@db:5432/app",
        "postgresql",
        min_size=1,
        max_size=7,
        pool_timeout=2.5,
        command_timeout=9,
    )
    enhanced = v5(tmp_path / "a.db", {"min_size": 2, "max_size": 6, "timeout": 4})
    settings = enhanced.config.database_settings()
    assert settings == DatabaseSettings(
        f"sqlite:///{tmp_path / 'a.db'}",
        "sqlite",
        min_size=2,
        max_size=6,
        pool_timeout=4,
        command_timeout=Store.Config().command_timeout,  # the same statement bound by default
    )
    database = enhanced.tables.database
    assert (database.min_size, database.timeout, database.command_timeout) == (2, 4, 30)


def test_settings_refuse_impossible_bounds() -> None:
    with pytest.raises(ValueError, match="invalid pool bounds min_size=3 max_size=2"):
        DatabaseSettings("sqlite:///x.db", "sqlite", min_size=3, max_size=2)
    with pytest.raises(ValueError, match="does not match"):
        DatabaseSettings("mysql://db/app", "postgresql")


def _samples(metrics: SystemMetrics, name: str, action: str) -> float:
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels.get("action") == action:
                total += sample.value
    return total


async def test_each_message_is_measured_once_and_labelled_alike(tmp_path: Path) -> None:
    store = v5(tmp_path / "b.db", {"min_size": 1, "max_size": 2, "timeout": 5})
    metrics = SystemMetrics()
    store.metrics = metrics
    await store.setup()
    try:
        created = await store.process_item({"action": "create", "data": {"a": 1}})
        for message in (
            {"action": "get", "id": created["id"]},  # through the Python API
            {"action": "get", "id": "missing"},
            {"action": "frobnicate"},
            "not a message",
        ):
            await store.process_item(message)
        slot = ReplySlot()
        await store.handle(Envelope({"action": "get", "id": created["id"]}, slot))  # a binding
        assert slot.value is not None and slot.value["status"] == "success"
        await store.store_data_with_validation({"b": 2})
        by_action = store.performance_monitor.get_performance_summary()["by_action"]
        assert {a: s["total_operations"] for a, s in by_action.items()} == {
            "create": 2,
            "get": 3,
            "invalid": 2,
        }
        for action, summary in by_action.items():
            count = _samples(metrics, "autocoder_processing_seconds_count", action)
            seconds = _samples(metrics, "autocoder_processing_seconds_sum", action)
            operations = _samples(metrics, "autocoder_store_operations_total", action)
            assert count == operations == summary["total_operations"], action
            # The very same durations: measured once, recorded in both places.
            assert seconds == pytest.approx(summary["average_duration"] * count), action
        statuses = {
            (s.labels["action"], s.labels["status"]): s.value
            for family in metrics.registry.collect()
            for s in family.samples
            if s.name == "autocoder_store_operations_total"
        }
        assert statuses == {
            ("create", "success"): 2,
            ("get", "success"): 2,
            ("get", "not_found"): 1,
            ("invalid", "error"): 2,
        }
    finally:
        await store.cleanup()


async def test_a_plain_store_labels_its_operations_the_same_way() -> None:
    store = Store("plain", {"storage_type": "memory"})
    metrics = SystemMetrics()
    store.metrics = metrics
    await store.setup()
    await store.process_item({"action": "create", "data": {}})
    await store.process_item({"action": "nope"})
    slot = ReplySlot()
    await store.handle(Envelope({"action": "list"}, slot))
    assert store.performance_monitor is None
    for action, expected in (("create", 1), ("invalid", 1), ("list", 1)):
        assert _samples(metrics, "autocoder_processing_seconds_count", action) == expected
        assert _samples(metrics, "autocoder_store_operations_total", action) == expected
    assert _samples(metrics, "autocoder_processing_seconds_count", "nope") == 0
