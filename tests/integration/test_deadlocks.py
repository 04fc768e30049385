"""A write whose transaction the database rolls back to settle a deadlock runs again.

An application's own transaction takes the collection's seq counter row, a store's write
takes its record and then waits for that row, and the application's transaction then asks
for the record: a deadlock, which the database settles by rolling the store's transaction
back (PostgreSQL: the one that waited first finds it; MariaDB: the lighter one, and the
application's has written more rows). The store runs the write again, and it commits once the
application's transaction has: the caller sees a success, not ``unavailable``. With group
commit on and off (``max_batch_size: 1``, a transaction per write, which ran into it most
plainly: a caller got ``unavailable``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from autocoder.components.store import Store
from autocoder.errors import RolledBack, Unavailable
from autocoder.storage.changes.history import COUNTERS
from autocoder.storage.group_commit import again_when_rolled_back
from autocoder.storage.group_commit.races import ATTEMPTS
from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import quote
from tests.conformance.backends import backend_params

pytestmark = pytest.mark.anyio

#: PostgreSQL and MariaDB under a Store, group commit on and off.
SERVERS = [
    param for param in backend_params() if str(param.id).split("-")[0] in ("postgresql", "mysql")
]

RETRIED = "transaction rolled back by the database; running it again"


@pytest.fixture(params=SERVERS)
async def store_and_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, str]]:
    async with request.param(tmp_path) as config:
        store = Store("store", config)
        await store.setup()
        try:
            yield store, config["database_url"]
        finally:
            await store.cleanup()


async def test_a_write_that_deadlocks_with_another_transaction_runs_again_and_commits(
    store_and_url: tuple[Store, str],
) -> None:
    store, url = store_and_url
    dialect = store.backend.dialect
    created = await store.process_item({"action": "create", "data": {"n": 0}})
    assert created["status"] == "success", created
    record_id = created["id"]
    table = quote(store.backend.table_name, dialect)
    ballast = quote(f"{store.backend.table_name}_ballast", dialect)
    other = Database(url, max_size=1)
    await other.connect()
    replies: list[dict[str, Any]] = []

    async def write() -> None:
        message = {"action": "update", "id": record_id, "data": {"mine": 1}}
        replies.append(await store.process_item(message))

    try:
        await other.execute(f"CREATE TABLE {ballast} (n INTEGER)")
        with capture_logs() as logs:
            async with anyio.create_task_group() as tasks, other.transaction() as conn:
                # Heavier than the store's: MariaDB rolls the lighter one back.
                for n in range(20):
                    await conn.execute(f"INSERT INTO {ballast} (n) VALUES ({n})")
                # (the connection's own statements take no parameters: the names are plain)
                await conn.execute(
                    f"UPDATE {COUNTERS} SET value = value "
                    f"WHERE collection = '{store.backend.table_name}'"
                )
                tasks.start_soon(write)
                await anyio.sleep(0.5)  # the write holds the record, waits for the counter
                await conn.execute(
                    f"UPDATE {table} SET version = version WHERE tenant = '' AND id = '{record_id}'"
                )
    finally:
        await other.execute(f"DROP TABLE IF EXISTS {ballast}")
        await other.disconnect()
    if store.backend.commits.max_batch_size == 1:  # a transaction per write: run again
        assert [entry for entry in logs if entry["event"] == RETRIED], (dialect, logs)
    # (with group commit on, the deadlock is the one statement of the batch's fast path,
    # and the batch goes again as a transaction: the write waits for the other one there)
    (reply,) = replies
    assert reply["status"] == "success", reply
    assert (reply["data"], reply["version"]) == ({"id": record_id, "n": 0, "mine": 1}, 2)
    got = await store.process_item({"action": "get", "id": record_id})
    assert (got["data"], got["version"]) == ({"id": record_id, "n": 0, "mine": 1}, 2), got


async def test_a_transaction_rolled_back_every_time_gives_up_after_its_attempts() -> None:
    runs = 0

    async def always_rolled_back() -> None:
        nonlocal runs
        runs += 1
        raise RolledBack("deadlock detected")

    with pytest.raises(Unavailable, match="deadlock detected"):
        await again_when_rolled_back(always_rolled_back)
    assert runs == ATTEMPTS


async def test_other_errors_are_not_run_again() -> None:
    runs = 0

    async def unreachable() -> None:
        nonlocal runs
        runs += 1
        raise Unavailable("the database is away")

    with pytest.raises(Unavailable):
        await again_when_rolled_back(unreachable)
    assert runs == 1
