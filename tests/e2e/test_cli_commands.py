"""``autocoder components``, ``--version``, usage errors and the exit codes of failures."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest

from autocoder import cli
from autocoder.runtime import registry
from tests.e2e.conftest import Autocoder

FAILS = "tests.unit.components_for_tests:FailsAtSetup"
CRASHES = "tests.unit.components_for_tests:CrashesAtSetup"


def one_component(type_name: str) -> str:
    return f'system:\n  name: s\n  components:\n    - {{name: c, type: "{type_name}"}}\n'


def test_components_lists_every_type_with_its_fields(autocoder: Autocoder) -> None:
    result = autocoder("components")
    assert (result.returncode, result.stderr) == (0, "")
    headings = [line.split(":")[0] for line in result.stdout.splitlines() if line[:1].isalpha()]
    assert headings == registry.known_types()
    store = result.stdout.split("\n\nStore: ")[1].split("\n\n")[0]
    assert re.search(r"^    storage_type: 'memory' \| 'database' = 'memory'  # \w", store, re.M)
    metrics = result.stdout.split("MetricsEndpoint: ")[1].split("\n\n")[0]
    assert re.search(r"^    port: int = 9090\b", metrics, re.MULTILINE)


def test_version(autocoder: Autocoder) -> None:
    result = autocoder("--version")
    assert (result.returncode, result.stdout) == (0, f"autocoder {version('autocoder')}\n")


def test_console_script_runs() -> None:
    script = Path(sys.executable).with_name("autocoder")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, f"autocoder {version('autocoder')}\n")


@pytest.mark.parametrize(
    "args",
    [(), ("frobnicate",), ("validate",), ("graph", "x.yaml", "--colour"), ("--nope",)],
    ids=["no command", "unknown command", "missing argument", "unknown option", "bad flag"],
)
def test_usage_errors_exit_2(autocoder: Autocoder, args: tuple[str, ...]) -> None:
    result = autocoder(*args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("usage: autocoder")


def test_unreadable_blueprint_exits_2_for_every_command(autocoder: Autocoder) -> None:
    for command in ("validate", "graph", "run"):
        result = autocoder(command, "absent.yaml")
        assert result.returncode == 2, command
        assert result.stderr.startswith("absent.yaml: error: cannot read: "), command


def test_startup_failure_is_one_line_and_exit_1(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write("fails.yaml", one_component(FAILS))
    result = autocoder("run", "fails.yaml", "--log-format", "json")
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ")
    assert last.endswith("cannot reach the moon at moon.invalid:5432")
    assert "Traceback" not in result.stderr


def test_debug_log_level_adds_the_traceback(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write("crashes.yaml", one_component(CRASHES))
    quiet = autocoder("run", "crashes.yaml", "--log-format", "json")
    assert quiet.returncode == 1
    assert "Traceback" not in quiet.stderr
    loud = autocoder("run", "crashes.yaml", "--log-format", "json", "--log-level", "DEBUG")
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr


def test_unexpected_error_is_an_internal_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug cannot be caused for real on purpose: ``render`` is made to fail."""

    def broken_render(*args: object) -> str:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("autocoder.blueprint.graph.render", broken_render)
    path = tmp_path / "ok.yaml"
    path.write_text(one_component("Store"))
    assert cli.main(["graph", str(path)]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        "error: internal error: ZeroDivisionError: division by zero\n",
    )


def test_every_option_of_every_command_has_help_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from autocoder.cli import build_parser

    monkeypatch.setenv("COLUMNS", "400")  # one line per option: its names, then its help

    def help_sections(*argv: str) -> list[str]:
        with pytest.raises(SystemExit):
            build_parser().parse_args([*argv, "--help"])
        sections = capsys.readouterr().out.split("\n\n")
        listed = [s for s in sections if s.startswith(("options:", "positional arguments:"))]
        return [line for s in listed for line in s.splitlines()[1:]]

    top = help_sections()
    commands = [m[1] for line in top if (m := re.match(r"^    ([a-z]+)", line))]
    assert "run" in commands and "migrate" in commands
    for command in ["", *commands]:
        lines = [*help_sections(*([command] if command else [])), ""]
        for line, after in itertools.pairwise(lines):
            if not re.match(r"^  \S", line) or line.strip() == "COMMAND":
                continue  # a command of the list (each has help), or a continuation
            described = re.match(r"^  \S.*?\s{2,}\S", line) or re.match(r"^ {4,}\S", after)
            assert described, f"autocoder {command}: {line.strip()} has no help text"


def test_an_unknown_event_loop_is_a_usage_error(autocoder: Autocoder, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(one_component("Store"))

    result = autocoder("run", "s.yaml", env={"AUTOCODER_EVENT_LOOP": "trio"})

    assert result.returncode == 2
    assert (
        result.stderr == "autocoder: error: AUTOCODER_EVENT_LOOP is 'trio': use uvloop or asyncio\n"
    )


@pytest.mark.parametrize(
    ("chosen", "options"),
    [(None, {"use_uvloop": True}), ("uvloop", {"use_uvloop": True}), ("asyncio", {})],
)
def test_the_event_loop_is_uvloop_unless_asyncio_is_asked_for(
    chosen: str | None, options: dict[str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autocoder.system import EVENT_LOOP_VARIABLE, backend_options

    if chosen is None:
        monkeypatch.delenv(EVENT_LOOP_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(EVENT_LOOP_VARIABLE, chosen)
    assert backend_options() == options
