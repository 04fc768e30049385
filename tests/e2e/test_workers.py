"""``autocoder run --workers N``: N processes of one blueprint sharing each endpoint's port.

The blueprint is the default one (a Store on an SQLite file, which processes can share, and
a MetricsEndpoint, which gets a port per worker); every test runs the command as a process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import REPO, Run, start
from tests.http.support import free_port, free_ports_in_a_row

# Each test only drives `autocoder run --workers` processes: it runs once, its processes on the
# loop its name picks (see tests/conftest.py); tests/e2e/test_run.py runs one process on both.
pytestmark = [pytest.mark.usefixtures("anyio_backend"), pytest.mark.processes]

BLUEPRINTS = REPO / "blueprints"
BANNER = re.compile(r"is up \(\d+ workers, pids ([\d, ]+)\)")


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        run.kill()


def workers_of(run: Run) -> set[int]:
    """The pids the start banner names (it is printed once, for all workers)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = BANNER.findall((run.logs / "stdout").read_text())
        if found:
            assert len(found) == 1, "the banner is printed once"
            return {int(pid) for pid in found[0].split(", ")}
        time.sleep(0.05)
    raise AssertionError("no start banner")


def two_workers(tmp_path: Path, runs: list[Run], *args: str) -> tuple[Run, set[int], int]:
    metrics_port = free_ports_in_a_row(2)
    run = start(
        BLUEPRINTS / "default.yaml",
        tmp_path,
        free_port(),
        "--workers",
        "2",
        *args,
        env={"METRICS_PORT": str(metrics_port)},
    )
    runs.append(run)
    run.ready()
    return run, workers_of(run), metrics_port


def test_two_workers_serve_one_port_and_drain_together_on_sigterm(
    tmp_path: Path, runs: list[Run]
) -> None:
    run, pids, metrics_port = two_workers(tmp_path, runs, "--log-level", "debug")

    # New connections are spread over both workers by the kernel (SO_REUSEPORT).
    fresh_connections = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=run.api, timeout=10, limits=fresh_connections) as client:
        ids = []
        for n in range(60):
            reply = client.post("/tasks", json={"n": n})
            assert reply.status_code == 201, reply.text
            ids.append(reply.json()["id"])
        assert len(set(ids)) == len(ids)
        # Records written through one worker are read through whichever takes the request.
        for record_id in ids[:20]:
            assert client.get(f"/tasks/{record_id}").status_code == 200

    # A MetricsEndpoint answers for one process: each worker serves its own, on port + k - 1.
    served_by_metrics = set()
    for port in (metrics_port, metrics_port + 1):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "autocoder_http_requests_total" in text
        served_by_metrics.add(text)
    assert len(served_by_metrics) == 2
    banner = (run.logs / "stdout").read_text()
    assert f":{metrics_port}/metrics  http://127.0.0.1:{metrics_port + 1}/metrics" in banner

    assert run.stop(signal.SIGTERM) == 0, run.err[-3000:]
    answered_by = {e["pid"] for e in run.events if e.get("event") == "request"}
    assert answered_by == pids
    drained = {e["pid"] for e in run.events if e.get("event") == "system_draining"}
    assert drained == pids
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_dies_while_serving_is_replaced(tmp_path: Path, runs: list[Run]) -> None:
    run, pids, _ = two_workers(tmp_path, runs)
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)

    restarted = wait_for_event(run, "worker_restarted")
    assert restarted["worker_pid"] not in pids
    died = next(e for e in events_so_far(run) if e.get("event") == "worker_died")
    assert died["worker_pid"] == victim
    assert died["how"] == "killed by SIGKILL"
    with httpx.Client(base_url=run.api, timeout=10) as client:
        assert client.get("/ready").status_code == 200
        assert client.post("/tasks", json={"after": "restart"}).status_code == 201
    assert run.stop(signal.SIGTERM) == 0, run.err[-3000:]


def test_workers_that_keep_dying_stop_the_run_with_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "crashing.yaml"
    path.write_text(
        f"""
system:
  name: crashing
  components:
    - name: api
      type: FastAPIEndpoint
      config: {{port: {free_port()}}}
    - name: crasher
      type: tests.e2e.components:ExitsWhenFileAppears
      config: {{trigger: "{tmp_path / "crash"}"}}
"""
    )
    run = start(path, tmp_path, free_port(), "--workers", "2")
    try:
        workers_of(run)
        (tmp_path / "crash").touch()
        assert run.finish() == 1
    finally:
        run.kill()
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.err
    assert re.fullmatch(
        r"error: worker [12] \(pid \d+\) exited with code 3; 6 worker deaths within 60s, stopping",
        errors[0],
    )
    deaths = [e for e in run.events if e.get("event") == "worker_died"]
    assert [e["restart_in"] for e in deaths] == [0.0, 1.0, 2.0, 4.0, 8.0]


def test_a_second_signal_kills_the_workers_and_exits_1_at_once(tmp_path: Path) -> None:
    path = tmp_path / "stubborn.yaml"
    path.write_text(
        f"""
system:
  name: stubborn
  shutdown_timeout: 120
  components:
    - name: stubborn
      type: tests.e2e.components:Stubborn
      config: {{output: "{tmp_path / "running"}"}}
"""
    )
    run = start(path, tmp_path, free_port(), "--workers", "2")
    try:
        pids = workers_of(run)
        run.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while {
            e.get("pid") for e in events_so_far(run) if e.get("event") == "system_draining"
        } != pids:
            assert time.monotonic() < deadline, "the workers did not start draining"
            time.sleep(0.05)
        run.process.send_signal(signal.SIGTERM)
        assert run.finish(timeout=30) == 1
    finally:
        run.kill()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def gone(pid: int) -> bool:
    """The process has ended (a zombie that nobody reaped yet counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_workers_drain_and_end_when_their_supervisor_is_killed(
    tmp_path: Path, runs: list[Run]
) -> None:
    run, pids, _ = two_workers(tmp_path, runs)
    run.process.kill()
    run.process.wait()
    deadline = time.monotonic() + 60
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, "workers outlived their supervisor"
        time.sleep(0.05)
    drained = {e.get("pid") for e in events_so_far(run) if e.get("event") == "system_draining"}
    assert drained == pids


def test_sigint_drains_the_workers_and_exits_zero(tmp_path: Path, runs: list[Run]) -> None:
    run, _, _ = two_workers(tmp_path, runs)
    assert run.stop(signal.SIGINT) == 0, run.err[-3000:]


def events_so_far(run: Run) -> list[dict[str, object]]:
    lines = (run.logs / "stderr").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]


def wait_for_event(run: Run, event: str, seconds: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in events_so_far(run):
            if line.get("event") == event:
                return line
        assert run.process.poll() is None, (run.logs / "stderr").read_text()
        time.sleep(0.05)
    raise AssertionError(f"no {event} within {seconds}s")


def autocoder(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autocoder", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_memory_store_is_refused_with_exit_2_naming_it(tmp_path: Path) -> None:
    result = autocoder("run", str(BLUEPRINTS / "memory.yaml"), "--workers", "2", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "--workers 2: component 'task_store' (Store) keeps its records in the memory" in lines[0]
    assert result.stdout == ""


def test_an_in_memory_sqlite_testing_mode_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "testing.yaml"
    path.write_text(
        """
system:
  name: testing
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: 18999}
    - name: v5
      type: V5EnhancedStore
      config:
        testing_mode: true
        database:
          schema:
            tables: [t]
            migrations: [{version: "1", sql: "CREATE TABLE t (id INTEGER PRIMARY KEY)"}]
  bindings:
    - {from_component: api, to_component: v5, stream_name: input}
"""
    )
    result = autocoder("run", str(path), "--workers", "3", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path}: error: --workers 3: component 'v5' (V5EnhancedStore) keeps its records in an"
        " in-memory SQLite database (sqlite:///:memory:), which its other workers would not"
        " see; use --workers 1"
    ]


def test_a_port_0_endpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "port0.yaml"
    path.write_text(
        "system:\n  name: p\n  components:\n"
        "    - {name: api, type: FastAPIEndpoint, config: {port: 0}}\n"
    )
    result = autocoder("run", str(path), "--workers", "2", cwd=tmp_path)
    assert result.returncode == 2
    assert "component 'api' (FastAPIEndpoint) listens on port 0" in result.stderr


def test_a_worker_that_cannot_start_makes_the_run_exit_1_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "unreachable.yaml"
    path.write_text(
        f"""
system:
  name: unreachable
  components:
    - name: api
      type: FastAPIEndpoint
      config: {{port: {free_port()}}}
    - name: store
      type: Store
      config:
        storage_type: database
        database_url: postgresql://app:s3cret@127.0.0.1:1/nowhere
  bindings:
    - {{from_component: api, to_component: store, stream_name: input}}
"""
    )
    result = autocoder("run", str(path), "--workers", "2", cwd=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: store (Store): ")
    assert "127.0.0.1:1" in errors[0]
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert "is up" not in result.stdout


def test_a_shared_port_already_taken_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = autocoder(
            "run",
            str(BLUEPRINTS / "default.yaml"),
            "--workers",
            "2",
            cwd=tmp_path,
            env={"API_PORT": str(port), "METRICS_PORT": str(free_port())},
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: api (FastAPIEndpoint): cannot listen on 127.0.0.1:{port}: address already in use"
    ]


def test_workers_apply_each_migration_once(tmp_path: Path, runs: list[Run]) -> None:
    path = tmp_path / "v5.yaml"
    path.write_text(
        """
system:
  name: v5_workers
  components:
    - name: api
      type: FastAPIEndpoint
      config: {port: "${API_PORT}"}
    - name: v5
      type: V5EnhancedStore
      config:
        testing_mode: true
        database:
          connection_string: sqlite:///./v5.db
          schema:
            tables: [notes]
            migrations:
              - {version: "1", description: notes,
                 sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"}
              - {version: "2", description: an index,
                 sql: "CREATE INDEX notes_text ON notes (text)"}
  bindings:
    - {from_component: api, to_component: v5, stream_name: input}
"""
    )
    run = start(path, tmp_path, free_port(), "--workers", "3")
    runs.append(run)
    run.ready()
    assert len(workers_of(run)) == 3
    assert run.stop() == 0, run.err[-3000:]
    applying = [
        e for e in run.events if e.get("event") == "migration" and "applying" in str(e["detail"])
    ]
    assert len(applying) == 2, applying
    with contextlib.closing(sqlite3.connect(tmp_path / "v5.db")) as connection:
        rows = connection.execute("SELECT version FROM migration_history").fetchall()
    assert sorted(row[0] for row in rows) == ["1", "2"]


def test_a_worker_failing_to_start_while_the_run_stops_is_still_the_cause(
    tmp_path: Path,
) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(
        f"""
system:
  name: slow
  components:
    - name: slow
      type: tests.e2e.components:FailsSetupWhenFileAppears
      config: {{started: "{tmp_path / "started"}", trigger: "{tmp_path / "fail"}"}}
"""
    )
    run = start(path, tmp_path, free_port(), "--workers", "2")
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline and run.process.poll() is None
            time.sleep(0.02)
        run.process.send_signal(signal.SIGTERM)
        (tmp_path / "fail").touch()
        assert run.finish() == 1
    finally:
        run.kill()
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: slow (tests.e2e.components:FailsSetupWhenFileAppears): setup failed on purpose"
    ]
