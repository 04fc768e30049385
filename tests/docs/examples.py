"""The examples of README.md and docs/, read from their fenced blocks, and how each one runs.

Every fenced block of a document is an example, run in document order in one working
directory per document (with ``blueprints/`` and ``examples/`` of the repository beside it):

- ``yaml``: a blueprint (``system:``) is validated and started (every port is 0), a component
  or a list of components is validated inside a system of its own.
- ``python``: executed; what it prints must match a following ``output`` block, if any.
- ``console`` / ``sh`` / ``bash``: each ``$ command`` runs in bash, its stdout and stderr
  together must match the lines under it (when there are any; without any ``$`` prompt, each
  line is a command); ``$ autocoder run ...`` stays up, in the background, until the block
  ends, and its start-up lines are what it must print (at least that it is up).
- any other language (``json``, ``toml``, ``output``, none) is text, not run.

An HTML comment on the line before a block changes how it runs:

- ``<!-- example: file NAME -->``: the block is written to NAME instead (a later block uses it).
- ``<!-- example: validate-only REASON -->``: a blueprint that needs a server is only validated.
- ``<!-- example: running BLUEPRINT -->``: a console block runs against ``autocoder run
  BLUEPRINT``, started before its first command and stopped after its last.
- ``<!-- example: skip REASON -->``: not run, for a block that is not a whole example.

In expected output a line ``...`` stands for any lines, and ``...`` inside a line for any text.
Ports 8000, 8080 and 9090 in commands, output and written files stand for free ports picked for
the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.http.support import free_port, free_ports_in_a_row

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = {"yaml", "python", "console", "sh", "bash"}
_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^<!--\s*example:\s*(?P<kind>[a-z-]+)\s*(?P<arg>.*?)\s*-->$")
MAPPED_PORTS = (8000, 8080, 9090)
#: Workers a documented ``--workers N`` may start: the metrics ports kept free for them.
WORKERS_AT_MOST = 4
#: What a yaml example naming ${DATABASE_URL} is validated with (none is started with it).
VALIDATION_ENVIRON = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"}


@dataclass
class Block:
    """One fenced block: its language, text, first line in the document, and directive."""

    document: Path
    line: int
    language: str
    text: str
    directive: str = ""
    argument: str = ""

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def blocks_of(document: Path) -> list[Block]:
    """The fenced blocks of a Markdown document, in order."""
    lines = document.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opened = _FENCE.match(lines[index])
        if opened is None:
            index += 1
            continue
        indent = len(opened["indent"])
        directive = _DIRECTIVE.match(lines[index - 1].strip()) if index else None
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        start = index - len(body)
        blocks.append(
            Block(
                document,
                start,
                opened["info"].strip().split(" ")[0],
                "\n".join(body) + "\n",
                directive["kind"] if directive else "",
                directive["arg"] if directive else "",
            )
        )
        index += 1
    return blocks


# -- matching output -----------------------------------------------------------------------


def _line_matches(pattern: str, line: str) -> bool:
    parts = [re.escape(p) for p in pattern.split("...")]
    return re.fullmatch(".*".join(parts), line) is not None


def output_matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` lines match ``expected`` (``...`` lines and ``...`` in a line)."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(output_matches(rest, actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and _line_matches(head, actual[0]) and output_matches(rest, actual[1:])


def mismatch(where: str, command: str, expected: list[str], actual: list[str]) -> AssertionError:
    return AssertionError(
        f"{where}: {command}\n--- expected\n"
        + "\n".join(expected)
        + "\n--- got\n"
        + "\n".join(actual)
    )


# -- running a document --------------------------------------------------------------------


@dataclass
class Session:
    """The working directory, environment and ports of one document's examples."""

    directory: Path
    ports: dict[int, int] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    background: list[subprocess.Popen[str]] = field(default_factory=list)

    @classmethod
    def create(cls, directory: Path) -> Session:
        for name in ("blueprints", "examples"):
            (directory / name).symlink_to(ROOT / name)
        # 9090 is a MetricsEndpoint's: with --workers N, worker k listens on it + k - 1.
        ports = {port: free_port() for port in MAPPED_PORTS}
        ports[9090] = free_ports_in_a_row(WORKERS_AT_MOST)
        environ = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{directory}{os.pathsep}{ROOT}",
            "API_PORT": str(ports[8000]),
            "METRICS_PORT": str(ports[9090]),
            "ADMIN_API_KEY": "admin-key",
            "ACME_API_KEY": "acme-key",
            "COLUMNS": "100",
            "HOME": str(directory),  # its .curlrc keeps curl's progress meter out of outputs
        }
        (directory / ".curlrc").write_text("silent\nshow-error\n")
        return cls(directory, ports, environ)

    def mapped(self, text: str) -> str:
        for documented, actual in self.ports.items():
            text = re.sub(rf"(?<![0-9]){documented}(?![0-9])", str(actual), text)
        return text

    def stop_background(self) -> None:
        for process in self.background:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self.background.clear()


def run_document(document: Path, directory: Path) -> int:
    """Run every example of ``document``; the number run. Raises on the first failure."""
    session = Session.create(directory)
    blocks = blocks_of(document)
    ran = 0
    try:
        for index, block in enumerate(blocks):
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            if block.directive == "skip":
                assert block.argument, f"{block.where}: a skipped example must say why"
                continue
            if block.directive == "file":
                (directory / block.argument).write_text(session.mapped(block.text))
                continue
            if block.language == "yaml":
                run_yaml(block, session)
            elif block.language == "python":
                expected = following.text if following and following.language == "output" else None
                run_python(block, session, expected)
            elif block.language in ("console", "sh", "bash"):
                run_console(block, session)
            else:
                continue
            ran += 1
    finally:
        session.stop_background()
    return ran


# -- yaml ----------------------------------------------------------------------------------


def run_yaml(block: Block, session: Session) -> None:
    import anyio

    from autocoder.blueprint.loader import load_blueprint_text
    from autocoder.system import System

    value = yaml.safe_load(block.text)
    if isinstance(value, dict) and "system" in value:
        text = block.text
    else:
        components = value if isinstance(value, list) else [value]
        assert all(isinstance(c, dict) and "type" in c for c in components), (
            f"{block.where}: a yaml example is a blueprint or components "
            "(mark a partial one <!-- example: skip REASON -->)"
        )
        for number, component in enumerate(components):
            component.setdefault("name", f"example_{number}")
        text = yaml.safe_dump({"system": {"name": "example", "components": components}})
        load_blueprint_text(text, block.where, environ={**session.environ, **VALIDATION_ENVIRON})
        return
    if block.directive == "validate-only":
        assert block.argument, f"{block.where}: say why the blueprint is only validated"
        load_blueprint_text(text, block.where, environ={**session.environ, **VALIDATION_ENVIRON})
        return
    loaded = load_blueprint_text(text, block.where, environ=session.environ)
    components = [
        dataclasses.replace(item, config=item.config.model_copy(update={"port": 0}))
        if "port" in type(item.config).model_fields
        else item
        for item in loaded.components
    ]
    system = System.from_loaded(dataclasses.replace(loaded, components=components))

    async def start_and_stop() -> None:
        with _within(session.directory):
            async with system:
                assert system.is_ready(), f"{block.where}: not ready after start-up"

    anyio.run(start_and_stop)


@contextlib.contextmanager
def _within(directory: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(directory)
    added = [str(directory), str(ROOT)]
    sys.path[:0] = added
    try:
        yield
    finally:
        os.chdir(previous)
        for entry in added:
            sys.path.remove(entry)


# -- python --------------------------------------------------------------------------------


def run_python(block: Block, session: Session, expected: str | None) -> None:
    printed = io.StringIO()
    saved = dict(os.environ)
    os.environ.update(session.environ)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    try:
        with _within(session.directory), contextlib.redirect_stdout(printed):
            exec(compile(block.text, block.where, "exec"), namespace)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if expected is not None:
        actual = printed.getvalue().splitlines()
        wanted = expected.splitlines()
        if not output_matches(wanted, actual):
            raise mismatch(block.where, "python", wanted, actual)


# -- console -------------------------------------------------------------------------------


def commands_of(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of a console block; in a block without any
    ``$ `` prompt every line is a command whose output is not checked."""
    steps: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    if not any(line.startswith("$ ") for line in lines):
        lines = [f"$ {line}" for line in lines if line.strip()]
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.startswith("$ "):
            assert not steps, f"output before the first command: {line!r}"
            continue
        command = line[2:]
        while command.endswith("\\") and index < len(lines):
            command = command + "\n" + lines[index]
            index += 1
        output: list[str] = []
        while index < len(lines) and not lines[index].startswith("$ "):
            output.append(lines[index])
            index += 1
        steps.append((command, output))
    return steps


def run_console(block: Block, session: Session) -> None:
    steps = commands_of(block.text)
    assert steps, f"{block.where}: a console example has no '$ command'"
    status = 0
    try:
        if block.directive == "running":
            _, banner = _start_in_background(f"autocoder run {block.argument}", session, 1)
            assert banner and " is up" in banner[-1], f"{block.where}: {banner}"
        for command, expected in steps:
            command = session.mapped(command)
            expected = [session.mapped(line) for line in expected]
            if command.strip() == "echo $?":
                actual = [str(status)]
            elif re.search(r"(^|\s)autocoder run ", command):
                status, actual = _start_in_background(command, session, len(expected))
                if not expected:
                    assert any(" is up" in line for line in actual), f"{block.where}: {actual}"
            else:
                done = subprocess.run(
                    ["bash", "-c", command],
                    cwd=session.directory,
                    env=session.environ,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=60,
                )
                status, actual = done.returncode, done.stdout.splitlines()
            if expected and not output_matches(expected, actual):
                raise mismatch(block.where, command, expected, actual)
    finally:
        session.stop_background()


def _start_in_background(command: str, session: Session, lines: int) -> tuple[int, list[str]]:
    """Start ``autocoder run``: the lines it prints on stdout until it is up, or, when it
    exits instead, its exit status and those and the lines of its stderr that are not JSON
    log events."""
    session.stop_background()  # one system at a time: the next run takes the same ports
    log = session.directory / "run.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", f"exec env {command}"],
            cwd=session.directory,
            env={**session.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    session.background.append(process)
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line.rstrip("\n"))
        if line.startswith("autocoder: system ") and " is up" in line:
            return 0, output + _banner_rows(process, lines - len(output))
    status = process.wait()
    errors = [line for line in log.read_text().splitlines() if not line.startswith("{")]
    return status, output + errors


def _banner_rows(process: subprocess.Popen[str], count: int) -> list[str]:
    assert process.stdout is not None
    rows = []
    for _ in range(count):
        line = process.stdout.readline()
        if not line:
            break
        rows.append(line.rstrip("\n"))
    return rows
