"""Changes committed through another ``autocoder run`` process reach this process's watchers.

Two processes of one blueprint share a fresh database (SQLite file, PostgreSQL, MariaDB): one
is ``autocoder run`` as a subprocess, the other runs in the test. A watch opened on the test's
endpoint gets, within 2 s each, the changes written through the subprocess's HTTP API, in seq
order and with the seqs the subprocess's replies imply.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest

from autocoder.system import System
from tests.e2e.processes import start
from tests.http.sse import events
from tests.http.support import free_port
from tests.v5.conftest import DIALECT_PARAMS, fresh_database

pytestmark = pytest.mark.anyio

BLUEPRINT = """
system:
  name: watch_processes
  components:
    - name: api
      type: FastAPIEndpoint
      config:
        port: {port}
    - name: store
      type: Store
      config: {{storage_type: database, database_url: "{url}", table_name: notes}}
  bindings:
    - {{from_component: api, to_component: store, stream_name: input}}
"""


@pytest.mark.parametrize("dialect", DIALECT_PARAMS)
async def test_a_watcher_here_sees_the_changes_another_process_commits(
    dialect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a relative sqlite:/// file is made
    async with fresh_database(dialect, tmp_path) as fresh:
        await _watch_the_other_process(fresh.url, tmp_path)


async def _watch_the_other_process(url: str, cwd: Path) -> None:
    path = cwd / "watch.yaml"
    path.write_text(BLUEPRINT.format(port="${API_PORT}", url=url))
    other = start(path, cwd, free_port())
    try:
        await anyio.to_thread.run_sync(other.ready)
        system = System.from_text(BLUEPRINT.format(port=0, url=url), "<here>")
        async with system, httpx.AsyncClient(timeout=10) as client:
            here = f"http://127.0.0.1:{system.components['api'].port}"  # type: ignore[attr-defined]
            params = {"watch": "true"}
            async with client.stream("GET", f"{here}/notes", params=params) as response:
                stream = events(response)
                await anext(stream)  # the head: the watch is open
                delays = []
                for n in range(3):
                    sent = time.monotonic()
                    reply = await client.post(f"{other.api}/notes", json={"n": n})
                    assert reply.status_code == 201, reply.text
                    with anyio.fail_after(2):
                        event = await anext(stream)
                        while event.event != "change":
                            event = await anext(stream)
                    delays.append(time.monotonic() - sent)
                    assert event.data is not None
                    assert (event.id, event.data["id"]) == (str(n + 1), reply.json()["id"])
    finally:
        other.stop()
    assert max(delays) < 2
