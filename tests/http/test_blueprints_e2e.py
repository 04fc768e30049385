"""The shipped HTTP blueprints run as ``autocoder run`` processes, served over real HTTP.

Each test starts the command on free ports (API_PORT, METRICS_PORT), waits for ``/ready``,
makes requests, sends SIGTERM and expects exit code 0. The database blueprint runs against this
machine's PostgreSQL and MariaDB on a table of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conformance.backends import (
    MYSQL_URL,
    POSTGRESQL_URL,
    drop_table,
    reachable,
    unique_table,
)
from tests.http.support import free_port

# Each test only drives `autocoder run` processes: it runs once, its processes on the loop its
# name picks (see tests/conftest.py).
pytestmark = [pytest.mark.usefixtures("anyio_backend"), pytest.mark.processes]

REPO = Path(__file__).resolve().parents[2]
BLUEPRINTS = REPO / "blueprints"
READY_WITHIN_SECONDS = 60


@dataclass
class Served:
    """A running ``autocoder run`` process and the URLs of its endpoints."""

    process: subprocess.Popen[str]
    api: str
    metrics: str

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, then the exit code and the output."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


def start(blueprint: Path, cwd: Path, env: dict[str, str] | None = None, *args: str) -> Served:
    api_port, metrics_port = free_port(), free_port()
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "API_PORT": str(api_port),
        "METRICS_PORT": str(metrics_port),
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "autocoder", "run", str(blueprint), "--log-format", "json", *args],
        cwd=cwd,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{metrics_port}")
    wait_ready(served)
    return served


def wait_ready(served: Served) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    with httpx.Client(base_url=served.api, timeout=5) as client:
        while True:
            if served.process.poll() is not None:
                out, err = served.process.communicate()
                raise AssertionError(f"autocoder exited {served.process.returncode}:\n{out}{err}")
            try:
                if client.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                served.process.kill()
                out, err = served.process.communicate()
                raise AssertionError(f"not ready within {READY_WITHIN_SECONDS}s:\n{out}{err}")
            time.sleep(0.05)


@pytest.fixture
def processes() -> Iterator[list[Served]]:
    """Processes a test started; any still running at the end are killed."""
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate()


def crud_round_trip(base_url: str, collection: str = "tasks") -> str:
    """Create, read, update, list and delete over HTTP; returns the URL of a kept record."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        created = client.post(f"/{collection}", json={"title": "e2e", "completed": False})
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        assert client.get(location).json()["data"]["title"] == "e2e"
        patched = client.patch(location, json={"completed": True}, headers={"If-Match": '"1"'})
        assert patched.status_code == 200
        assert patched.headers["etag"] == '"2"'
        listed = client.get(f"/{collection}", params={"completed": "true"})
        assert [r["id"] for r in listed.json()["data"]] == [created.json()["id"]]
        doomed = client.post(f"/{collection}", json={"title": "gone"}).headers["location"]
        assert client.delete(doomed).status_code == 204
        assert client.get(doomed).status_code == 404
        return location


def test_memory_blueprint_serves_and_exits_zero_on_sigterm(
    tmp_path: Path, processes: list[Served]
) -> None:
    served = start(BLUEPRINTS / "memory.yaml", tmp_path)
    processes.append(served)

    crud_round_trip(served.api)
    with httpx.Client(base_url=served.api) as client:
        health = client.get("/health").json()
    assert health["health"]["storage_type"] == "memory"
    assert set(health["components"]) == {"task_api", "task_store"}

    code, out, err = served.stop()
    assert code == 0, err
    assert f"{served.api} (docs: /docs)" in out


def run_database_blueprint(url: str, tmp_path: Path, processes: list[Served]) -> None:
    anyio.run(_check_reachable, url)
    table = unique_table("http_e2e")
    env = {"DATABASE_URL": url, "TABLE_NAME": table}
    try:
        first = start(BLUEPRINTS / "database.yaml", tmp_path, env)
        processes.append(first)
        location = crud_round_trip(first.api, table)
        code, _, err = first.stop()
        assert code == 0, err

        # A write that got a success reply survives a restart of the process.
        second = start(BLUEPRINTS / "database.yaml", tmp_path, env)
        processes.append(second)
        with httpx.Client(base_url=second.api) as client:
            kept = client.get(location)
            assert kept.status_code == 200
            assert kept.json()["data"]["completed"] is True
            assert kept.json()["version"] == 2
            health = client.get("/health").json()["health"]
            assert health["store_connected"] is True
            assert health["table_name"] == table
        with httpx.Client(base_url=second.metrics) as client:
            text = client.get("/metrics").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        records = {
            s.labels["collection"]: s.value for s in families["autocoder_store_records"].samples
        }
        assert records == {table: 1.0}
        pool = {
            s.labels["state"]: s.value
            for s in families["autocoder_db_pool_connections"].samples
            if s.labels["component"] == "persistent_store"
        }
        assert set(pool) == {"in_use", "idle"}
        assert pool["in_use"] + pool["idle"] >= 1
        requests = {
            (s.labels["method"], s.labels["route"], s.labels["status"])
            for s in families["autocoder_http_requests"].samples
            if s.name == "autocoder_http_requests_total"
        }
        assert ("GET", f"/{table}/{{id}}", "200") in requests
        code, _, err = second.stop()
        assert code == 0, err
    finally:
        anyio.run(drop_table, url, table)


async def _check_reachable(url: str) -> None:
    database = await reachable(url)
    await database.disconnect()


@pytest.mark.postgresql
def test_database_blueprint_on_postgresql(tmp_path: Path, processes: list[Served]) -> None:
    run_database_blueprint(POSTGRESQL_URL, tmp_path, processes)


@pytest.mark.mysql
def test_database_blueprint_on_mariadb(tmp_path: Path, processes: list[Served]) -> None:
    run_database_blueprint(MYSQL_URL, tmp_path, processes)


def test_default_blueprint_keeps_records_in_an_sqlite_file_in_the_working_directory(
    tmp_path: Path, processes: list[Served]
) -> None:
    first = start(BLUEPRINTS / "default.yaml", tmp_path)
    processes.append(first)
    location = crud_round_trip(first.api)
    with httpx.Client(base_url=first.metrics) as client:
        assert "autocoder_http_requests_total" in client.get("/metrics").text
    code, out, err = first.stop()
    assert code == 0, err
    assert (tmp_path / "autocoder.db").is_file()
    assert f"{first.metrics}/metrics" in out

    second = start(BLUEPRINTS / "default.yaml", tmp_path)
    processes.append(second)
    with httpx.Client(base_url=second.api) as client:
        assert client.get(location).json()["data"]["title"] == "e2e"
    assert second.stop()[0] == 0


def test_api_keys_never_reach_the_logs(tmp_path: Path, processes: list[Served]) -> None:
    blueprint = tmp_path / "keys.yaml"
    blueprint.write_text(
        """
system:
  name: keys
  components:
    - name: api
      type: FastAPIEndpoint
      config:
        port: ${API_PORT}
        api_keys: [key-sesame-1234, {key: key-tenant-5678, tenant: acme}]
    - name: store
      type: Store
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
"""
    )
    served = start(blueprint, tmp_path, None, "--log-level", "debug")
    processes.append(served)
    with httpx.Client(base_url=served.api) as client:
        assert client.get("/tasks", headers={"X-API-Key": "key-wrong-0000"}).status_code == 401
        auth = {"Authorization": "Bearer key-sesame-1234"}
        assert client.get("/tasks", headers=auth).status_code == 200
        tenant = {"X-API-Key": "key-tenant-5678"}
        assert client.post("/tasks", json={"a": 1}, headers=tenant).status_code == 201

    code, out, err = served.stop()
    assert code == 0, err
    assert '"request"' in out + err  # request lines were logged at debug level
    for secret in ("key-sesame-1234", "key-tenant-5678", "key-wrong-0000"):
        assert secret not in out + err


def test_a_port_taken_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "autocoder", "run", str(BLUEPRINTS / "memory.yaml")],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO), "API_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
