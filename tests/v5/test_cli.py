"""``autocoder migrate`` as a user runs it: status, progress, exit codes, concurrent starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from autocoder.migrate import migrate
from tests.v5.conftest import Fresh, v5_config
from tests.v5.helpers import ALL, TASKS, USERS, history, opened

pytestmark = pytest.mark.anyio


async def run_migrate(path: str, **options: Any) -> int:
    """``migrate`` (which runs its own event loop) from a worker thread."""
    return await anyio.to_thread.run_sync(lambda: migrate(path, **options))


def write_blueprint(path: Path, config: dict[str, Any], name: str = "store") -> Path:
    """A blueprint of one V5EnhancedStore with ``config``."""
    blueprint = {
        "system": {
            "name": "v5_test",
            "components": [{"name": name, "type": "V5EnhancedStore", "config": config}],
        }
    }
    path.write_text(yaml.safe_dump(blueprint, sort_keys=False))
    return path


async def test_status_then_apply_then_status(fresh: Fresh, cwd: Path, capsys: Any) -> None:
    path = write_blueprint(cwd / "bp.yaml", v5_config(fresh, ["tasks", "users"], [TASKS, USERS]))

    assert await run_migrate(str(path), status=True) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"store ({fresh.dialect} at ")
    assert [line.split()[:2] for line in out[1:]] == [["001", "pending"], ["002", "pending"]]

    assert await run_migrate(str(path)) == 0
    out = capsys.readouterr().out
    assert "applying migration 001: tasks" in out
    assert "applied migration 002 in " in out
    assert "2 migrations applied; tables present: tasks, users" in out

    assert await run_migrate(str(path), status=True) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[1:]] == [["001", "applied"], ["002", "applied"]]

    assert await run_migrate(str(path)) == 0
    assert "up to date" in capsys.readouterr().out


async def test_status_shows_a_changed_migration_and_apply_refuses_it(
    fresh: Fresh, cwd: Path, capsys: Any
) -> None:
    path = write_blueprint(cwd / "bp.yaml", v5_config(fresh, ["tasks"], [TASKS]))
    assert await run_migrate(str(path)) == 0
    changed = {**TASKS, "sql": str(TASKS["sql"]).replace("VARCHAR(20)", "VARCHAR(30)")}
    write_blueprint(path, v5_config(fresh, ["tasks"], [changed]))
    capsys.readouterr()

    assert await run_migrate(str(path), status=True) == 1
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["001", "changed"]
    assert await run_migrate(str(path)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: store: migration 001 changed after being applied")
    assert len(err.strip().splitlines()) == 1


async def test_usage_errors_exit_2(cwd: Path, capsys: Any) -> None:
    config = {"database": {"schema": {"tables": ["t"]}}, "testing_mode": True}
    path = write_blueprint(cwd / "bp.yaml", config)
    assert await run_migrate(str(path), component="other") == 2
    assert "no V5EnhancedStore named 'other' (there are: store)" in capsys.readouterr().err
    assert await run_migrate(str(cwd / "missing.yaml")) == 2
    assert "cannot read" in capsys.readouterr().err


async def test_an_unreachable_database_is_one_line_and_exit_1(cwd: Path, capsys: Any) -> None:
    config = {
        "database": {
            "connection_string": "postgresql://app:s3cret@127.0.0.1:1/nowhere",
            "connection_pool": {"min_size": 1, "max_size": 1, "timeout": 2},
            "schema": {"tables": ["t"]},
        }
    }
    path = write_blueprint(cwd / "bp.yaml", config)
    assert await run_migrate(str(path)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: store: cannot connect to postgresql at 127.0.0.1:1")
    assert "s3cret" not in err
    assert len(err.splitlines()) == 1


SLOW = {
    "version": "000",
    "description": "slow start, so that the processes overlap",
    "sql": {
        "postgresql": "SELECT pg_sleep(0.5)",
        "mysql": "DO SLEEP(0.5)",
        "sqlite": (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)"
            " SELECT count(*) FROM n"
        ),
    },
}


# Three `autocoder migrate` processes: run once, on the loop its name picks (tests/conftest.py).
@pytest.mark.processes
async def test_processes_started_at_once_apply_each_migration_once(fresh: Fresh, cwd: Path) -> None:
    config = v5_config(fresh, ["tasks", "users", "notes"], [SLOW, *ALL])
    path = write_blueprint(cwd / "bp.yaml", config)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "autocoder", "migrate", str(path)]
    processes = [
        subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        outputs.append(out.decode())
        assert process.returncode == 0, err.decode()
    applying = [line for out in outputs for line in out.splitlines() if "applying" in line]
    assert sorted(line.split()[2] for line in applying) == ["000:", "001:", "002:", "003:"]
    async with opened(fresh, ["tasks", "users", "notes"], [SLOW, *ALL]) as store:
        versions = [row[0] for row in await history(store)]
        assert store.tables.applied_versions == []
    assert sorted(versions) == ["000", "001", "002", "003"]
