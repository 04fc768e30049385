"""The pool's bounds are real, and a database outage fails fast and heals (PostgreSQL, MariaDB)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import SplitResult, urlsplit

import anyio
import pytest

from autocoder.components.enhanced_store import V5EnhancedStore
from autocoder.errors import StoreTimeout
from autocoder.storage.settings import DatabaseSettings
from autocoder.storage.tables.backend import TableBackend
from autocoder.storage.tables.migrations import Migration
from tests.integration.test_sql_fairness import POOL, assert_fair, hammer
from tests.v5.conftest import Fresh
from tests.v5.helpers import TASKS, opened
from tests.v5.proxy import TcpProxy

pytestmark = pytest.mark.anyio

SMALL_POOL = {"min_size": 1, "max_size": 1, "timeout": 0.5}


async def test_an_operation_waiting_past_timeout_for_a_connection_is_unavailable(
    fresh_server: Fresh,
) -> None:
    async with opened(fresh_server, ["tasks"], [TASKS], pool=SMALL_POOL) as store:
        created = await store.process_item({"action": "create", "data": {"title": "a"}})
        async with store.tables.database.connection():  # the pool's only connection
            reply = await store.process_item({"action": "get", "id": created["id"]})
        assert reply["status"] == "error"
        assert reply["error_type"] == "unavailable"
        assert "connection pool exhausted" in reply["message"]
        again = await store.process_item({"action": "get", "id": created["id"]})
        assert again["status"] == "success"
        assert store.get_health_status()["pool"]["max_size"] == 1


async def _kill_connections(fresh: Fresh) -> int:
    if fresh.dialect == "postgresql":
        rows = await fresh.admin_fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{fresh.name}' AND pid <> pg_backend_pid()"
        )
        return len(rows)
    rows = await fresh.admin_fetch(
        f"SELECT id FROM information_schema.processlist WHERE db = '{fresh.name}'"
    )
    for (thread_id,) in rows:
        await fresh.admin_fetch(f"KILL {int(thread_id)}")
    return len(rows)


async def _until_success(store: V5EnhancedStore, message: dict[str, Any]) -> list[str]:
    """Statuses of ``message`` sent until it succeeds (bounded: the pool heals in a few tries)."""
    statuses: list[str] = []
    for _ in range(10):
        reply = await store.process_item(message)
        statuses.append(str(reply.get("error_type", reply["status"])))
        if reply["status"] == "success":
            return statuses
    return statuses


async def test_killed_connections_fail_fast_as_unavailable_then_service_resumes(
    fresh_server: Fresh,
) -> None:
    pool = {"min_size": 2, "max_size": 2, "timeout": 2}
    async with opened(fresh_server, ["tasks"], [TASKS], pool=pool) as store:
        created = await store.process_item({"action": "create", "data": {"title": "a"}})
        assert await _kill_connections(fresh_server) >= 1
        statuses = await _until_success(store, {"action": "get", "id": created["id"]})
        assert statuses[-1] == "success", statuses
        assert set(statuses[:-1]) <= {"unavailable"}, statuses
        if statuses[:-1]:
            # The failure was seen, and the success after it marks the store connected again.
            assert store.get_health_status()["store_connected"] is True
        reply = await store.process_item({"action": "create", "data": {"title": "b"}})
        assert reply["status"] == "success"


async def test_a_network_outage_fails_fast_and_service_resumes_without_restart(
    fresh_server: Fresh,
) -> None:
    upstream = urlsplit(fresh_server.url)
    async with anyio.create_task_group() as tg:
        proxy = TcpProxy(tg, upstream.hostname or "127.0.0.1", upstream.port or 0)
        await proxy.start()
        through = replace(
            fresh_server, url=upstream._replace(netloc=_netloc(upstream, proxy.port)).geturl()
        )
        pool = {"min_size": 1, "max_size": 2, "timeout": 2}
        async with opened(through, ["tasks"], [TASKS], pool=pool) as store:
            created = await store.process_item({"action": "create", "data": {"title": "a"}})
            await proxy.stop()
            down = await store.process_item({"action": "get", "id": created["id"]})
            assert down["error_type"] == "unavailable", down
            again = await store.process_item({"action": "create", "data": {"title": "b"}})
            assert again["error_type"] == "unavailable", again
            health = store.get_health_status()
            assert health["store_connected"] is False
            assert health["status"] == "unhealthy"
            await proxy.start()
            # Only health is asked from here on (no traffic): the store probes by itself.
            with anyio.fail_after(15):
                while not store.get_health_status()["store_connected"]:
                    await anyio.sleep(0.05)
            assert store.get_health_status()["status"] != "unhealthy"
            reply = await store.process_item({"action": "get", "id": created["id"]})
            assert reply["status"] == "success", reply
        tg.cancel_scope.cancel()


def _netloc(url: SplitResult, port: int) -> str:
    user = f"{url.username}@" if url.username else ""
    return f"{user}127.0.0.1:{port}"


async def test_more_callers_than_connections_are_served_in_turn(fresh: Fresh) -> None:
    pool = {"min_size": 1, "max_size": POOL, "timeout": 5}
    async with opened(fresh, ["tasks"], [TASKS], pool=pool) as store:
        created = await store.process_item({"action": "create", "data": {"title": "a"}})
        served, statuses = await hammer(store, {"action": "get", "id": created["id"]})
    assert_fair(served, statuses)


async def test_a_statement_past_command_timeout_is_a_timeout_and_the_store_goes_on(
    fresh_server: Fresh,
) -> None:
    """V5 statements are bounded on every database (aiomysql has no read timeout of its own):
    an update waiting on a row another transaction holds ends as ``timeout``."""
    tables = TableBackend(
        DatabaseSettings(
            fresh_server.url, fresh_server.dialect, pool_timeout=5.0, command_timeout=0.5
        ),
        tables=["tasks"],
        migrations=[Migration(**TASKS)],
    )
    locker = TableBackend(
        DatabaseSettings(fresh_server.url, fresh_server.dialect, pool_timeout=5.0),
        tables=["tasks"],
    )
    await tables.connect()
    await locker.connect()
    try:
        record = await tables.create("tasks", "", None, {"title": "a"})
        async with locker.transaction() as ops:  # holds the row lock until the block ends
            await ops.write(
                "tasks", "", record.id, {"title": "b"}, merge=True, expected_version=None
            )
            with anyio.fail_after(15), pytest.raises(StoreTimeout):
                await tables.write(
                    "tasks", "", record.id, {"title": "c"}, merge=True, expected_version=None
                )
        again = await tables.get("tasks", "", record.id)
        assert again is not None and again.data["title"] == "b"
    finally:
        await locker.close()
        await tables.close()
