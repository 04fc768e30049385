"""``autocoder run`` as a process: a memory Store bound to custom components, then SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

import pytest

# Every process runs on each event loop of the tests (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("anyio_backend")

REPO = Path(__file__).resolve().parents[2]

BLUEPRINT = """\
system:
  name: e2e_system
  shutdown_timeout: 5
  components:
    - name: producer
      type: tests.e2e.components:Producer
      config: {count: 3, output: "${OUT_DIR}/replies.json"}
    - name: task_store
      type: Store
      config: {storage_type: memory}
    - name: auditor
      type: tests.e2e.components:Auditor
      config: {output: "${OUT_DIR}/events.jsonl"}
  bindings:
    - {from_component: producer, to_component: task_store, stream_name: input}
    - {from_component: task_store, to_component: auditor, stream_name: changes}
"""


def _start(blueprint: Path, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OUT_DIR": str(tmp_path)}
    return subprocess.Popen(
        [sys.executable, "-m", "autocoder", "run", str(blueprint), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"autocoder exited early ({process.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear within {seconds}s")
        time.sleep(0.05)


def test_run_serves_until_sigterm_and_exits_zero(tmp_path: Path) -> None:
    blueprint = tmp_path / "system.yaml"
    blueprint.write_text(BLUEPRINT)
    process = _start(blueprint, tmp_path, "--log-format", "json")
    _wait_for(tmp_path / "replies.json", process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err

    replies = json.loads((tmp_path / "replies.json").read_text())
    assert [r["id"] for r in replies[:3]] == ["1", "2", "3"]
    assert replies[3]["count"] == 3
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [(e["event"], e["id"], e["version"]) for e in events] == [
        ("created", "1", 1),
        ("created", "2", 1),
        ("created", "3", 1),
    ]
    assert "e2e_system" in out
    for name in ("producer", "task_store", "auditor"):
        assert name in out
    log_lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "shutdown_requested" for line in log_lines)
    assert all(
        "component" in line for line in log_lines if line.get("event", "").startswith("component_")
    )


def test_sigint_also_drains_and_exits_zero(tmp_path: Path) -> None:
    blueprint = tmp_path / "system.yaml"
    blueprint.write_text(BLUEPRINT)
    process = _start(blueprint, tmp_path)
    _wait_for(tmp_path / "replies.json", process)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_a_setup_failure_exits_one_with_a_single_line(tmp_path: Path) -> None:
    blueprint = tmp_path / "broken.yaml"
    blueprint.write_text(
        dedent(
            """\
            system:
              name: broken
              components:
                - name: store
                  type: Store
                  config:
                    storage_type: database
                    database_url: sqlite:////nonexistent-dir/sub/x.db
            """
        )
    )
    process = _start(blueprint, tmp_path)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err
    assert "store" in error_lines[0]
    assert "Traceback" not in err


def test_an_invalid_blueprint_exits_two(tmp_path: Path) -> None:
    blueprint = tmp_path / "bad.yaml"
    blueprint.write_text("system:\n  name: x\n  components: []\n")
    process = _start(blueprint, tmp_path)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"{blueprint}:3:" in err


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    blueprint = tmp_path / "stubborn.yaml"
    blueprint.write_text(
        dedent(
            """\
            system:
              name: stubborn
              shutdown_timeout: 120
              components:
                - name: stubborn
                  type: tests.e2e.components:Stubborn
                  config: {output: "${OUT_DIR}/running"}
            """
        )
    )
    process = _start(blueprint, tmp_path)
    _wait_for(tmp_path / "running", process)
    process.send_signal(signal.SIGTERM)
    _wait_for_log(process, "system_draining")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 1
    assert time.monotonic() - started < 30


def _wait_for_log(process: subprocess.Popen[str], event: str) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        if event in line:
            return
    raise AssertionError(f"{event} never logged")
