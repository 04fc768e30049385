"""``autocoder migrate``: wired to the migration command, with its exit codes (SQLite file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import Autocoder

BLUEPRINT = """\
    system:
      name: notes
      components:
        - name: notes_store
          type: V5EnhancedStore
          config:
            testing_mode: true
            database:
              type: postgresql
              connection_string: sqlite:///notes.db
              schema:
                tables: [notes]
                migrations:
                  - version: "1"
                    description: notes table
                    sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"
    """


def test_status_then_apply_then_status(
    autocoder: Autocoder, write: Callable[[str, str], Path], tmp_path: Path
) -> None:
    write("notes.yaml", BLUEPRINT)
    pending = autocoder("migrate", "notes.yaml", "--status")
    assert pending.returncode == 1
    assert "pending" in pending.stdout
    applied = autocoder("migrate", "notes.yaml", "--component", "notes_store")
    assert (applied.returncode, applied.stderr) == (0, "")
    assert (tmp_path / "notes.db").exists()
    done = autocoder("migrate", "notes.yaml", "--status")
    assert done.returncode == 0
    assert "applied" in done.stdout


def test_invalid_blueprint_is_exit_2(
    autocoder: Autocoder, write: Callable[[str, str], Path]
) -> None:
    write("bad.yaml", BLUEPRINT.replace("testing_mode", "testing_mod"))
    result = autocoder("migrate", "bad.yaml")
    assert result.returncode == 2
    assert result.stderr.startswith("bad.yaml:7:9: error: ")
