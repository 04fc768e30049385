"""Run the ``autocoder`` command as a user does: a subprocess, its output and exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

REPO = Path(__file__).resolve().parents[2]
BLUEPRINTS = sorted((REPO / "blueprints").glob("*.yaml"))

Autocoder = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def autocoder(tmp_path: Path) -> Autocoder:
    """``autocoder(*args, env={...}, stdin="...")`` runs ``python -m autocoder`` in ``tmp_path``.

    The repository is on ``PYTHONPATH`` so blueprints can name the test components
    (``tests.unit.components_for_tests:Echo``); ``env`` adds to a copy of the environment.
    """

    def run(
        *args: str, env: dict[str, str] | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "autocoder", *args],
            cwd=tmp_path,
            env=environ,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write("name.yaml", text)`` writes a dedented blueprint into ``tmp_path``."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(dedent(text))
        return path

    return write_file
