"""The command line of nats bindings: validate, ``run --components`` and NATS at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from textwrap import dedent

from tests.nats.processes import REPO, free_port


def autocoder(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autocoder", *args],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "system.yaml"
    path.write_text(dedent(text))
    return path


SPLIT = """\
system:
  name: split
  nats: {url: "nats://127.0.0.1:4222"}
  components:
    - {name: api, type: FastAPIEndpoint, config: {port: 0}}
    - {name: store, type: Store}
    - {name: audit, type: Store}
  bindings:
    - {from_component: api, to_component: store, stream_name: input, transport: nats}
    - {from_component: store, to_component: audit, stream_name: changes}
"""


def test_a_nats_binding_without_a_url_is_reported_at_its_transport(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        system:
          name: s
          components:
            - {name: a, type: Store}
            - {name: b, type: Store}
          bindings:
            - from_component: a
              to_component: b
              stream_name: changes
              transport: nats
        """,
    )
    result = autocoder(tmp_path, "validate", str(path))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{path}:10:18: error: ")
    assert "system.nats.url" in lines[0]


def test_a_nats_option_on_a_memory_binding_is_reported_where_it_is(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        system:
          name: s
          components:
            - {name: a, type: Store}
            - {name: b, type: Store}
          bindings:
            - {from_component: a, to_component: b, stream_name: changes, partitions: 4}
        """,
    )
    result = autocoder(tmp_path, "validate", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{path}:7:78: error: 'partitions' applies only"), result.stderr


def test_a_nats_blueprint_validates(tmp_path: Path) -> None:
    result = autocoder(tmp_path, "validate", str(REPO / "blueprints" / "distributed.yaml"))
    assert result.returncode == 0, result.stderr


def test_an_unknown_component_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, SPLIT)
    result = autocoder(tmp_path, "run", str(path), "--components", "api,stroe")
    assert result.returncode == 2
    assert "'stroe'" in result.stderr
    assert "api, store, audit" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_memory_binding_leaving_the_process_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, SPLIT)
    result = autocoder(tmp_path, "run", str(path), "--components", "api,store")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "'changes'" in line
    assert "'store'" in line
    assert "'audit'" in line


def test_nats_unreachable_at_start_up_exits_1_naming_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    path = write(
        tmp_path,
        SPLIT.replace("nats://127.0.0.1:4222", f"nats://operator:s3cret@127.0.0.1:{port}").replace(
            "{from_component: store, to_component: audit, stream_name: changes}",
            "{from_component: store, to_component: audit, stream_name: changes, transport: nats}",
        ),
    )
    result = autocoder(tmp_path, "run", str(path), "--components", "store")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"127.0.0.1:{port}" in errors[0]
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
