"""Pieces without a database: SQL splitting and translation, version order, the monitor."""

from __future__ import annotations

import pytest

from autocoder.observability.perf import RESERVOIR_SIZE, PerformanceMonitor
from autocoder.storage.tables.ddl import split_statements, translate
from autocoder.storage.tables.migrations import version_key


def test_split_keeps_semicolons_in_quotes_comments_dollar_bodies_and_triggers() -> None:
    sql = "CREATE TABLE a (t TEXT DEFAULT ';'); -- x; y\nINSERT INTO a VALUES ('it''s;');"
    assert split_statements(sql, "sqlite") == [
        "CREATE TABLE a (t TEXT DEFAULT ';')",
        "-- x; y\nINSERT INTO a VALUES ('it''s;')",
    ]
    function = "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; SELECT 2"
    assert len(split_statements(function, "postgresql")) == 2
    trigger = (
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET t = 'x'; DELETE FROM a; END;"
        " SELECT 1;"
    )
    assert split_statements(trigger, "sqlite")[1] == "SELECT 1"
    assert split_statements("  ;; -- only a comment\n", "mysql") == []


def test_translate_postgresql_ddl() -> None:
    ddl = (
        "CREATE TABLE t (id SERIAL PRIMARY KEY, d JSONB, at TIMESTAMPTZ DEFAULT NOW(),"
        " s TEXT DEFAULT 'SERIAL')"
    )
    sqlite = translate(ddl, "sqlite")
    assert "id INTEGER PRIMARY KEY AUTOINCREMENT" in sqlite
    assert "d JSON" in sqlite and "at TIMESTAMP DEFAULT CURRENT_TIMESTAMP" in sqlite
    assert "'SERIAL'" in sqlite  # string literals are left alone
    assert "id BIGINT AUTO_INCREMENT PRIMARY KEY" in translate(ddl, "mysql")
    assert translate(ddl, "postgresql") == ddl


def test_natural_version_order() -> None:
    versions = ["10", "2", "1.10", "1.2", "001", "b", "a"]
    assert sorted(versions, key=version_key) == ["001", "1.2", "1.10", "2", "10", "a", "b"]


def test_performance_summary() -> None:
    monitor = PerformanceMonitor(seed=1)
    assert monitor.get_performance_summary()["success_rate"] == 1.0
    for i in range(1, 101):
        monitor.record("get", i / 1000, ok=True)
    monitor.record("create", 1.0, ok=False)
    summary = monitor.get_performance_summary()
    assert summary["total_operations"] == 101
    assert summary["successful_operations"] == 100
    assert summary["failed_operations"] == 1
    assert summary["success_rate"] == pytest.approx(100 / 101)
    gets = summary["by_action"]["get"]
    assert (gets["p50_duration"], gets["p95_duration"], gets["p99_duration"]) == (
        0.05,
        0.095,
        0.099,
    )
    assert summary["p99_duration"] == pytest.approx(0.1)
    assert summary["by_action"]["create"]["success_rate"] == 0.0


def test_the_monitor_keeps_bounded_memory() -> None:
    monitor = PerformanceMonitor(seed=2)
    for i in range(RESERVOIR_SIZE * 5):
        monitor.record("list", (i % 100) / 100, ok=True)
    summary = monitor.get_performance_summary()
    assert summary["total_operations"] == RESERVOIR_SIZE * 5
    assert len(monitor._all.reservoir.samples) == RESERVOIR_SIZE
    assert 0.4 <= summary["p50_duration"] <= 0.6  # a uniform sample of 0.00..0.99
