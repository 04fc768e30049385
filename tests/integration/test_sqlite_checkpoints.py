"""SQLite's write-ahead log is checkpointed by a thread of its own, not inside commits."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import anyio
import pytest

from autocoder.components.store import Store
from autocoder.storage.sql.sqlite_checkpoints import Checkpoints


def _wal_database(path: Path) -> sqlite3.Connection:
    """A database in WAL mode whose connection never checkpoints by itself, with 400 KB of
    rows still in the log only."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    connection.executemany("INSERT INTO t (body) VALUES (?)", [("x" * 1000,)] * 400)
    return connection


def _wait_for(condition: object, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_the_thread_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    connection = _wal_database(path)
    try:
        assert os.path.getsize(path) < 100_000  # the rows are in the log only
        checkpoints = Checkpoints(str(path), interval=0.01)
        checkpoints.start()
        try:
            assert _wait_for(lambda: os.path.getsize(path) > 400_000), os.path.getsize(path)
            assert checkpoints.failures == 0
        finally:
            checkpoints.stop()
        runs = checkpoints.runs
        time.sleep(0.05)
        assert checkpoints.runs == runs  # stopped: no checkpoint after stop()
        assert connection.execute("SELECT COUNT(*) FROM t").fetchone() == (400,)
    finally:
        connection.close()


def test_a_failing_checkpoint_is_counted_and_the_thread_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"this is not a SQLite database file" * 100)
    checkpoints = Checkpoints(str(path), interval=0.01)
    checkpoints.start()
    try:
        assert _wait_for(lambda: checkpoints.failures >= 1)
    finally:
        checkpoints.stop()
    assert path.read_bytes().startswith(b"this is not")  # left as it was


@pytest.mark.anyio
async def test_a_sqlite_store_checkpoints_without_a_commit_doing_it(tmp_path: Path) -> None:
    """Far fewer pages than the 1000 at which a commit checkpoints by itself: the data reaches
    the database file anyway, soon after the writes."""
    path = tmp_path / "store.db"
    store = Store("store", {"storage_type": "database", "database_url": f"sqlite:///{path}"})
    await store.setup()
    try:
        before = os.path.getsize(path)
        for _ in range(100):
            reply = await store.process_item({"action": "create", "data": {"body": "y" * 2000}})
            assert reply["status"] == "success", reply
        with anyio.fail_after(3):
            while os.path.getsize(path) < before + 200_000:
                await anyio.sleep(0.01)
    finally:
        await store.cleanup()
