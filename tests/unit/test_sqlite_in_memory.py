"""Which SQLite URLs name a database in memory: one process only, and no write-ahead log
(the store refuses to share it across processes; no checkpoint thread is started for it)."""

from __future__ import annotations

import pytest

from autocoder.components.store import in_memory_sqlite
from autocoder.storage.sql.dialects import sqlite_in_memory


@pytest.mark.parametrize(
    "path", ["", ":memory:", ":memory:?cache=shared", "file::memory:", "file:app?mode=memory"]
)
def test_these_paths_are_in_memory(path: str) -> None:
    assert sqlite_in_memory(path)
    assert in_memory_sqlite(f"sqlite:///{path}") is not None


@pytest.mark.parametrize("path", ["app.db", "/var/lib/app.db", "memory.db", "data/:memory:x"])
def test_these_paths_are_files(path: str) -> None:
    assert not sqlite_in_memory(path)
    assert in_memory_sqlite(f"sqlite:///{path}") is None
