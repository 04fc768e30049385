"""The pieces that keep database operations cheap still keep their promises.

- Calls gathered into one trip to SQLite's thread each get their own result or error, in
  order, and fail (not hang) once the connection is closed.
- The watchdog stops an operation that runs past its limit with a timeout, passes on a
  cancellation that is not its own, and leaves nothing running when idle.
- Many callers on SQLite's one connection all get served, merges included.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import anyio
import pytest

from autocoder.errors import StoreError, StoreTimeout, Unavailable
from autocoder.storage.documents.backend import SqlDocumentBackend
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.sqlite_thread import SqliteThread, execute, fetch_all
from autocoder.storage.sql.watchdog import Watchdog
from tests.conformance.backends import MYSQL_URL, reachable

pytestmark = pytest.mark.anyio


async def test_gathered_sqlite_calls_each_get_their_own_outcome(tmp_path: Path) -> None:
    thread = SqliteThread(str(tmp_path / "t.db"))
    await thread.open(lambda connection: None)
    await thread.call(execute, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)", ())

    async def insert(k: int) -> list[object]:
        return await thread.call(
            fetch_all, "INSERT INTO t VALUES (?, ?) RETURNING k", (k % 50, str(k))
        )

    outcomes = await asyncio.gather(*(insert(k) for k in range(100)), return_exceptions=True)
    assert outcomes[:50] == [[(k,)] for k in range(50)]  # in order, each its own row
    assert all(isinstance(o, sqlite3.IntegrityError) for o in outcomes[50:])
    assert await thread.call(fetch_all, "SELECT count(*) FROM t", ()) == [(50,)]
    await thread.close()
    with anyio.fail_after(5), pytest.raises(Unavailable, match="closed"):
        await thread.call(fetch_all, "SELECT 1", ())


async def test_interrupt_stops_the_running_sqlite_statement(tmp_path: Path) -> None:
    thread = SqliteThread(str(tmp_path / "t.db"))
    await thread.open(lambda connection: None)
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    try:
        running = asyncio.ensure_future(thread.call(fetch_all, forever, ()))
        await asyncio.sleep(0.05)
        thread.interrupt()
        with anyio.fail_after(5), pytest.raises(sqlite3.OperationalError, match="interrupt"):
            await running
        assert await thread.call(fetch_all, "SELECT 1", ()) == [(1,)]  # still usable
    finally:
        await thread.close()


async def test_the_watchdog_times_out_only_its_own_overdue_operations() -> None:
    watchdog = Watchdog(0.05)

    async def overdue() -> str:
        ticket = watchdog.begin()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "timed out" if watchdog.end(ticket) else "cancelled"
        watchdog.end(ticket)
        return "done"

    async def quick() -> str:
        ticket = watchdog.begin()
        await asyncio.sleep(0)
        return "expired" if watchdog.end(ticket) else "done"

    with anyio.fail_after(5):
        assert await asyncio.gather(overdue(), quick()) == ["timed out", "done"]
        outside = asyncio.ensure_future(overdue())
        await asyncio.sleep(0.01)
        outside.cancel()
        assert await outside == "cancelled"
        while watchdog._task is not None:  # idle: its task ends by itself
            await asyncio.sleep(0.01)
    await watchdog.close()


async def test_many_callers_on_one_sqlite_connection_all_get_served(tmp_path: Path) -> None:
    backend = SqlDocumentBackend(f"sqlite:///{tmp_path / 's.db'}")
    await backend.connect()
    try:
        t = backend.table_name
        created = await asyncio.gather(*(backend.create(t, "", None, {"n": n}) for n in range(64)))
        assert len({r.id for r in created}) == 64
        updated = await asyncio.gather(
            *(
                backend.write(t, "", r.id, {"m": 1}, merge=True, expected_version=None)
                for r in created
            )
        )
        assert [(r.data, r.version) for r in updated] == [({"n": n, "m": 1}, 2) for n in range(64)]
    finally:
        await backend.close()


async def test_an_sqlite_statement_past_command_timeout_is_interrupted(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'slow.db'}", command_timeout=0.3)
    await database.connect()
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    try:
        with anyio.fail_after(10), pytest.raises(StoreTimeout, match=r"0\.3s"):
            await database.fetch_all(forever)
        assert await database.fetch_val("SELECT 41 + 1") == 42  # the connection goes on
    finally:
        await database.disconnect()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(MYSQL_URL, id="mysql", marks=pytest.mark.mysql),
    ],
)
async def test_a_statement_that_failed_leaves_its_task_uncancelled(
    url: str, tmp_path: Path
) -> None:
    """The watchdog stops timing a statement that raised its own error: it does not cancel
    the task later, wherever it is by then."""
    if url == "sqlite":
        url = f"sqlite:///{tmp_path / 'errors.db'}"
    else:
        await (await reachable(url)).disconnect()  # skips (fails under CI=true) when down
    database = Database(url, command_timeout=0.3)
    await database.connect()
    try:
        with pytest.raises(StoreError):
            await database.fetch_all("SELECT nothing FROM nowhere")
        with anyio.fail_after(5):
            await anyio.sleep(0.8)  # was cancelled here, 0.3 s after the statement began
        assert await database.fetch_val("SELECT 41 + 1") == 42
    finally:
        await database.disconnect()
