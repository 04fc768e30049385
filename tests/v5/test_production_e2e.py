"""blueprints/production.yaml end to end: ``autocoder run`` as a process, HTTP, metrics, restart.

Runs on PostgreSQL (a fresh database) and in testing mode on an SQLite file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.v5.conftest import fresh_database
from tests.v5.proxy import free_port

# Each test only drives `autocoder run` processes over HTTP: it runs once, its processes on the
# loop its name picks (see tests/conftest.py).
pytestmark = [pytest.mark.anyio, pytest.mark.processes]

PRODUCTION = Path(__file__).resolve().parents[2] / "blueprints" / "production.yaml"


@contextmanager
def running(env: dict[str, str], cwd: Path, count: int = 1) -> Iterator[tuple[str, str]]:
    """``count`` processes of ``autocoder run blueprints/production.yaml`` started at once,
    all ready; the first one's API and metrics URLs. Stopped with SIGINT (each must exit 0)."""
    processes: list[tuple[subprocess.Popen[str], str, str]] = []
    for _ in range(count):
        api, metrics = free_port(), free_port()
        environ = {**os.environ, **env, "API_PORT": str(api), "METRICS_PORT": str(metrics)}
        process = subprocess.Popen(
            [sys.executable, "-m", "autocoder", "run", str(PRODUCTION), "--log-format", "json"],
            cwd=cwd,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append((process, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{metrics}"))
    outputs = []
    try:
        for process, base, _ in processes:
            wait_ready(process, base)
        yield processes[0][1], processes[0][2]
    finally:
        for process, _, _ in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        outputs = [(p, p.communicate(timeout=30)[0]) for p, _, _ in processes]
    for process, output in outputs:
        assert process.returncode == 0, output


def wait_ready(process: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.communicate()[0]
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "not ready within 60 s"
        time.sleep(0.1)


def exercise(base: str, metrics: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        created = client.post("/tasks", json={"title": "Ship V5"})
        assert created.status_code == 201, created.text
        task = created.json()
        assert task["data"]["completed"] is False
        assert created.headers["location"] == f"/tasks/{task['id']}"
        bad = client.post("/tasks", json={"title": 7, "colour": "red"})
        assert bad.status_code == 422
        assert set(bad.json()["fields"]) == {"title", "colour"}
        assert client.post("/users", json={"email": "a@example.com"}).status_code == 201
        assert client.post("/users", json={"email": "a@example.com"}).status_code == 409
        audit = client.post("/audit_log", json={"action": "signup", "detail": {"user": 1}})
        assert audit.status_code == 201, audit.text
        assert audit.json()["data"]["detail"] == {"user": 1}
        patched = client.patch(f"/tasks/{task['id']}", json={"completed": True})
        assert patched.json()["data"]["completed"] is True
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        task_fields = next(s for n, s in schemas.items() if "Task" in n and "title" in str(s))
        assert "title" in str(task_fields)
        health = client.get("/health").json()
        assert health["health"]["store_connected"] is True
    scrape = httpx.get(f"{metrics}/metrics", timeout=10).text
    assert 'autocoder_store_operations_total{action="create",component="production_store"' in scrape
    assert 'autocoder_db_pool_connections{component="production_store"' in scrape


def check_restart_keeps_data(env: dict[str, str], cwd: Path) -> None:
    with running(env, cwd) as (base, _):
        listed = httpx.get(f"{base}/tasks", timeout=10).json()
        assert [t["title"] for t in listed["data"]] == ["Ship V5"]
    status = subprocess.run(
        [sys.executable, "-m", "autocoder", "migrate", str(PRODUCTION), "--status"],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert [line.split()[:2] for line in status.stdout.splitlines()[1:]] == [
        ["001", "applied"],
        ["002", "applied"],
        ["003", "applied"],
    ]


@pytest.mark.postgresql
async def test_production_blueprint_on_postgresql(cwd: Path) -> None:
    async with fresh_database("postgresql", cwd) as fresh:
        env = {"DATABASE_URL": fresh.url, "TESTING_MODE": "false"}
        with running(env, cwd) as (base, metrics):
            exercise(base, metrics)
        check_restart_keeps_data(env, cwd)


@pytest.mark.mysql
async def test_production_blueprint_on_mariadb(cwd: Path) -> None:
    async with fresh_database("mysql", cwd) as fresh:
        env = {"DATABASE_URL": fresh.url, "DATABASE_TYPE": "mysql", "TESTING_MODE": "false"}
        with running(env, cwd) as (base, metrics):
            exercise(base, metrics)
        check_restart_keeps_data(env, cwd)


async def test_production_blueprint_in_testing_mode_on_an_sqlite_file(cwd: Path) -> None:
    env = {"DATABASE_URL": "sqlite:///production.db", "TESTING_MODE": "true"}
    with running(env, cwd) as (base, metrics):
        exercise(base, metrics)
    assert (cwd / "production.db").exists()
    check_restart_keeps_data(env, cwd)


@pytest.mark.postgresql
async def test_two_processes_starting_at_once_on_a_fresh_database_both_serve(cwd: Path) -> None:
    async with fresh_database("postgresql", cwd) as fresh:
        env = {"DATABASE_URL": fresh.url, "TESTING_MODE": "false"}
        with running(env, cwd, count=2) as (base, _):
            assert httpx.post(f"{base}/tasks", json={"title": "x"}, timeout=10).status_code == 201
        rows = await fresh.admin_fetch_in_database("SELECT version FROM migration_history")
    assert sorted(row[0] for row in rows) == ["001", "002", "003"]
