"""``autocoder validate``: ok per good file, every problem of a bad one, exit codes 0 and 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

from tests.e2e.conftest import BLUEPRINTS, Autocoder

GOOD = """\
    system:
      name: demo
      components:
        - name: api
          type: FastAPIEndpoint
          config: {port: "${API_PORT:-8000}"}
        - name: store
          type: Store
      bindings:
        - {from_component: api, to_component: store, stream_name: input}
    """

BAD = """\
    system:
      name: demo
      colour: blue
      components:
        - name: api
          type: FastAPIEndpoint
          config: {port: 8000, hots: x}
        - name: store
          type: Stor
        - name: api
          type: Store
        - name: metrics
          type: MetricsEndpoint
          config:
            port: ${METRICS_PORT}
      bindings:
        - {from_component: api, to_component: metrics, stream_name: input}
        - {from_component: ghost, to_component: store, stream_name: input}
    """


def locations(stderr: str) -> list[str]:
    """Each stderr line's ``FILE:LINE:COL`` (every line must be a located error)."""
    lines = stderr.splitlines()
    assert all(": error: " in line for line in lines), stderr
    return [line.split(": error: ")[0] for line in lines]


def test_good_file_is_ok(autocoder: Autocoder, write: Callable[[str, str], Path]) -> None:
    write("good.yaml", GOOD)
    result = autocoder("validate", "good.yaml")
    assert (result.returncode, result.stdout, result.stderr) == (0, "good.yaml: ok\n", "")


def test_bad_file_prints_every_problem(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write("bad.yaml", BAD)
    result = autocoder("validate", "bad.yaml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert locations(result.stderr) == [
        "bad.yaml:3:3",  # colour: unknown key
        "bad.yaml:7:28",  # hots: unknown key of FastAPIEndpoint's config
        "bad.yaml:9:13",  # Stor: unknown type
        "bad.yaml:10:13",  # api: duplicate name
        "bad.yaml:15:15",  # METRICS_PORT: unset
        "bad.yaml:17:43",  # into a MetricsEndpoint, which accepts no input
        "bad.yaml:18:24",  # ghost: unknown component
    ]
    assert "did you mean 'Store'?" in result.stderr
    assert "METRICS_PORT" in result.stderr


def test_set_variable_fixes_the_file(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write(
        "metrics.yaml",
        """\
        system:
          name: demo
          components:
            - {name: metrics, type: MetricsEndpoint, config: {port: "${METRICS_PORT}"}}
        """,
    )
    assert autocoder("validate", "metrics.yaml").returncode == 2
    result = autocoder("validate", "metrics.yaml", env={"METRICS_PORT": "9191"})
    assert (result.returncode, result.stdout) == (0, "metrics.yaml: ok\n")


def test_several_files_each_reported(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write("good.yaml", GOOD)
    write("broken.yaml", "system:\n  name: [unclosed\n")
    result = autocoder("validate", "good.yaml", "broken.yaml", "missing.yaml")
    assert result.returncode == 2
    assert result.stdout == "good.yaml: ok\n"
    lines = result.stderr.splitlines()
    assert locations(result.stderr) == ["broken.yaml:3:1", "missing.yaml"]
    assert lines[1].startswith("missing.yaml: error: cannot read: ")


def test_custom_component_class_from_the_working_directory(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write(
        "my_components.py",
        """\
        from autocoder.runtime.component import ComposedComponent

        class Greeter(ComposedComponent):
            description = "Says hello."
        """,
    )
    write(
        "custom.yaml",
        """\
        system:
          name: demo
          components:
            - {name: greeter, type: "my_components:Greeter"}
        """,
    )
    result = autocoder("validate", "custom.yaml")
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("path", BLUEPRINTS, ids=[path.name for path in BLUEPRINTS])
def test_shipped_blueprints_are_valid(autocoder: Autocoder, path: Path) -> None:
    result = autocoder("validate", str(path))
    assert (result.returncode, result.stderr) == (0, "")


def test_two_builtin_components_on_one_port(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write(
        "ports.yaml",
        """\
        system:
          name: demo
          components:
            - name: metrics
              type: MetricsEndpoint
            - name: api
              type: FastAPIEndpoint
              config:
                host: 0.0.0.0
                port: 9090
        """,
    )
    result = autocoder("validate", "ports.yaml")
    assert result.returncode == 2
    assert locations(result.stderr) == ["ports.yaml:10:15"]
    assert "'metrics'" in result.stderr


def test_dash_reads_the_blueprint_from_stdin(autocoder: Autocoder) -> None:
    good = autocoder("validate", "-", stdin=dedent(GOOD))
    assert (good.returncode, good.stdout) == (0, "<stdin>: ok\n")
    bad = autocoder("validate", "-", stdin="system:\n  name: s\n  components: []\n")
    assert bad.returncode == 2
    assert locations(bad.stderr) == ["<stdin>:3:15"]
