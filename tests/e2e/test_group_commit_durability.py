"""An acknowledged write survives SIGKILL of ``autocoder run``, with group commit on (SPEC 12).

For each database, ``autocoder run`` serves ``POST`` and ``PATCH`` on a Store (its defaults:
concurrent writes are committed together) while 32 clients write as fast as they can. The
process is killed with SIGKILL in the middle of that load (after 300 acknowledged writes),
so batches are being gathered and committed as it dies. Every write the clients got a
success reply for must then be in the database: each created record, at least at the
version its last acknowledged update gave. The store's ``autocoder_store_batch_size`` shows
the writes did go in batches.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from autocoder.storage.sql.database import Database
from autocoder.storage.sql.dialects import quote
from tests.conformance.backends import (
    MYSQL_URL,
    POSTGRESQL_URL,
    drop_table,
    reachable,
    unique_table,
)
from tests.e2e.processes import start
from tests.http.support import free_port

pytestmark = pytest.mark.anyio

CLIENTS = 32
#: Acknowledged creates and updates to wait for before the kill (at most LOAD_SECONDS).
WRITES = 300
LOAD_SECONDS = 20.0

BLUEPRINT = """
system:
  name: durability
  components:
    - {{name: api, type: FastAPIEndpoint, config: {{port: {port}, access_log: false}}}}
    - name: store
      type: Store
      config: {{storage_type: database, database_url: "{url}", table_name: {table}}}
    - {{name: metrics, type: MetricsEndpoint, config: {{port: {metrics_port}}}}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input}}
"""


@contextlib.asynccontextmanager
async def database_url(dialect: str, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(URL, table) of a fresh table on ``dialect``, dropped afterwards."""
    table = unique_table("durable")
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'durable.db'}", table
        return
    url = POSTGRESQL_URL if dialect == "postgresql" else MYSQL_URL
    probe = await reachable(url)
    await probe.disconnect()
    try:
        yield url, table
    finally:
        await drop_table(url, table)


async def stored_versions(url: str, table: str) -> dict[str, int]:
    database = Database(url, max_size=1)
    await database.connect()
    try:
        rows = await database.fetch_all(
            f"SELECT id, version FROM {quote(table, database.dialect)} WHERE tenant = ''"
        )
    finally:
        await database.disconnect()
    return {str(row[0]): int(row[1]) for row in rows}


def batched_writes(metrics: str) -> float:
    """Writes counted in batches of more than one by ``autocoder_store_batch_size``."""
    buckets = {
        float(le): float(count)
        for le, count in re.findall(
            r'autocoder_store_batch_size_bucket\{component="store",le="([\d.]+)"\} ([\d.e+]+)',
            metrics,
        )
    }
    total = re.search(r'autocoder_store_batch_size_count\{component="store"\} ([\d.e+]+)', metrics)
    assert total is not None and buckets, metrics
    return float(total.group(1)) - buckets[1.0]


@pytest.mark.parametrize(
    "dialect",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    ],
)
async def test_every_acknowledged_write_survives_sigkill_under_load(
    dialect: str, tmp_path: Path
) -> None:
    async with database_url(dialect, tmp_path) as (url, table):
        port, metrics_port = free_port(), free_port()
        blueprint = tmp_path / "durability.yaml"
        blueprint.write_text(
            BLUEPRINT.format(port=port, metrics_port=metrics_port, url=url, table=table)
        )
        run = start(blueprint, tmp_path, port)
        acknowledged: dict[str, int] = {}
        replies = 0
        try:
            run.ready()
            async with httpx.AsyncClient(base_url=run.api, timeout=10) as client:

                async def writer(n: int) -> None:
                    nonlocal replies
                    own: str | None = None
                    count = 0
                    while True:
                        count += 1
                        try:
                            if own is None or count % 2:
                                response = await client.post(f"/{table}", json={"writer": n})
                            else:
                                response = await client.patch(f"/{table}/{own}", json={"n": count})
                        except httpx.TransportError:
                            return  # the process is gone
                        except AttributeError:
                            # httpcore, opening a connection the kill just cut, meets a
                            # socket already gone (``None.getpeername``): gone too, but only
                            # once the process was killed
                            if run.process.poll() is None:
                                raise
                            return
                        if response.is_success:
                            replies += 1
                            body = response.json()
                            own = str(body["data"]["id"])
                            version = int(response.headers["etag"].strip('"'))
                            acknowledged[own] = max(acknowledged.get(own, 0), version)

                async with anyio.create_task_group() as tg:
                    for n in range(CLIENTS):
                        tg.start_soon(writer, n)
                    with anyio.move_on_after(LOAD_SECONDS):
                        while replies < WRITES:
                            await anyio.sleep(0.05)
                    scraped = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
                    metrics = scraped.text
                    run.process.kill()  # SIGKILL, while the writers go on
            run.finish()
        finally:
            run.kill()
        assert batched_writes(metrics) > 0, "no write went in a batch"
        assert replies >= WRITES
        stored = await stored_versions(url, table)
        lost = {i: v for i, v in acknowledged.items() if stored.get(i, 0) < v}
        assert lost == {}, f"{len(lost)} acknowledged writes lost: {sorted(lost.items())[:5]}"
