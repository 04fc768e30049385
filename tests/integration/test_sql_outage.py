"""Outages: a database that goes away answers ``unavailable`` in bounded time, then comes back.

The outage is real: the backend talks to the server through a TCP relay in this process, and
"the database goes down" closes the relay's listener and every connection through it.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from autocoder.errors import StoreTimeout, Unavailable
from autocoder.storage.documents.backend import SqlDocumentBackend
from tests.conformance.backends import (
    MYSQL_URL,
    POSTGRESQL_URL,
    drop_table,
    reachable,
    unique_table,
)
from tests.relay import Relay

pytestmark = pytest.mark.anyio
BOUND = 15.0  # an operation during an outage must answer well within this (no hang)


def through(url: str, relay: Relay) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{relay.port}"))


@pytest.fixture(
    params=[
        pytest.param(POSTGRESQL_URL, id="postgresql", marks=pytest.mark.postgresql),
        pytest.param(MYSQL_URL, id="mysql", marks=pytest.mark.mysql),
    ]
)
async def server_url(request: pytest.FixtureRequest) -> str:
    probe = await reachable(request.param)
    await probe.disconnect()
    url: str = request.param
    return url


async def test_an_outage_answers_unavailable_then_service_resumes(server_url: str) -> None:
    parts = urlsplit(server_url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 0)
    await relay.start()
    table = unique_table()
    backend = SqlDocumentBackend(through(server_url, relay), table_name=table, pool_timeout=3.0)
    try:
        await backend.connect()
        await backend.create(table, "", "a", {"n": 1})

        await relay.stop()
        with anyio.fail_after(BOUND):
            for _ in range(3):  # every operation, not only the first
                with pytest.raises(Unavailable) as caught:
                    await backend.get(table, "", "a")
                assert f"127.0.0.1:{relay.port}" in str(caught.value)
        assert backend.health()["store_connected"] is False

        await relay.start()
        with anyio.fail_after(BOUND):  # health checks alone bring it back, with no traffic
            while not backend.health()["store_connected"]:
                await anyio.sleep(0.05)
        with anyio.fail_after(BOUND):
            record = await backend.get(table, "", "a")
        assert record is not None and record.data == {"n": 1}
        assert backend.health()["store_connected"] is True
    finally:
        await backend.close()
        await relay.stop()
        await drop_table(server_url, table)


async def test_start_up_against_a_closed_port_fails_fast_naming_it(server_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scheme = urlsplit(server_url).scheme
    backend = SqlDocumentBackend(f"{scheme}://app:hunter2@127.0.0.1:{port}/db")
    with anyio.fail_after(BOUND), pytest.raises(Exception) as caught:
        await backend.connect()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    await backend.close()


async def test_an_exhausted_pool_answers_unavailable(tmp_path: Path) -> None:
    backend = SqlDocumentBackend(f"sqlite:///{tmp_path / 's.db'}", pool_timeout=0.2)
    await backend.connect()
    try:
        async with backend.db.connection():
            with anyio.fail_after(BOUND), pytest.raises(Unavailable, match="pool exhausted"):
                await backend.get("tasks", "", "x")
        assert await backend.get("tasks", "", "x") is None
        assert backend.connected
    finally:
        await backend.close()


@pytest.mark.postgresql
async def test_an_exhausted_server_pool_answers_unavailable() -> None:
    probe = await reachable(POSTGRESQL_URL)
    await probe.disconnect()
    table = unique_table()
    backend = SqlDocumentBackend(
        POSTGRESQL_URL, table_name=table, pool_max_size=1, pool_timeout=0.2
    )
    await backend.connect()
    try:
        async with backend.db.connection():
            assert backend.db.pool_stats().in_use == 1
            with anyio.fail_after(BOUND), pytest.raises(Unavailable, match="pool exhausted"):
                await backend.get(table, "", "x")
        assert backend.db.pool_stats().idle == 1
    finally:
        await backend.close()
        await drop_table(POSTGRESQL_URL, table)


async def test_a_statement_that_waits_too_long_times_out_and_the_store_goes_on(
    server_url: str,
) -> None:
    table = unique_table()
    backend = SqlDocumentBackend(server_url, table_name=table, command_timeout=0.3)
    locker = SqlDocumentBackend(server_url, table_name=table)
    try:
        await backend.connect()
        await locker.connect()
        await backend.create(table, "", "a", {"n": 1})
        async with locker.transaction() as ops:  # holds the row lock until the block ends
            await ops.write(table, "", "a", {"n": 2}, merge=False, expected_version=None)
            with anyio.fail_after(BOUND), pytest.raises(StoreTimeout):
                await backend.write(table, "", "a", {"n": 3}, merge=False, expected_version=None)
            # Nothing waits for the lock in the server any more: the statement was stopped
            # there too, not only given up by its caller.
            with anyio.fail_after(5):
                while await lock_waits(locker, table):
                    await anyio.sleep(0.05)
        # The statement that timed out was stopped in the server too: it does not go on once
        # the lock is free, to write what its caller was told had timed out.
        await anyio.sleep(1.0)
        record = await backend.get(table, "", "a")
        assert record is not None and (record.data, record.version) == ({"n": 2}, 2)
    finally:
        await locker.close()
        await backend.close()
        await drop_table(server_url, table)


async def lock_waits(backend: SqlDocumentBackend, table: str) -> int:
    """How many statements on ``table`` wait for a lock in the server (but this one)."""
    if backend.db.dialect == "postgresql":
        sql = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND position($1 in query) > 0"
            " AND pid <> pg_backend_pid()"
        )
    else:  # a statement of a thread still there (InnoDB's own list lags behind a KILL)
        sql = (
            "SELECT COUNT(*) FROM information_schema.processlist"
            " WHERE command = 'Query' AND LOCATE(%s, info) > 0 AND id <> CONNECTION_ID()"
        )
    async with backend.db.connection() as conn:
        return int(await conn.fetch_val(sql, [table]))
