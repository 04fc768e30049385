"""`autocoder run` against a database that cannot be reached: exit 1, one line, no password."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

BLUEPRINT = """\
system:
  name: unreachable
  components:
    - name: task_store
      type: Store
      config:
        storage_type: database
        database_url: "{url}"
"""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_start_up_against_an_unreachable_database_exits_1_naming_host_port(
    scheme: str, tmp_path: Path
) -> None:
    port = closed_port()
    blueprint = tmp_path / "blueprint.yaml"
    url = f"{scheme}://app:hunter2@127.0.0.1:{port}/app"
    blueprint.write_text(BLUEPRINT.format(url=url))
    done = subprocess.run(
        [sys.executable, "-m", "autocoder", "run", str(blueprint)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert f"127.0.0.1:{port}" in output
    assert "hunter2" not in output
    assert "Traceback" not in output


def test_start_up_on_an_sqlite_file_in_a_missing_folder_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "folder" / "store.db"
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text(BLUEPRINT.format(url=f"sqlite:///{path}"))
    done = subprocess.run(
        [sys.executable, "-m", "autocoder", "run", str(blueprint)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert str(path) in done.stdout + done.stderr
