"""``autocoder migrate BLUEPRINT [--component NAME] [--status]``: migrations without serving.

Without ``--status`` it applies the pending migrations of every V5EnhancedStore of the
blueprint (or of the one named), printing a line as each starts and ends, then checks that
every table of ``schema.tables`` exists. With ``--status`` it prints each migration as
``applied``, ``pending`` or ``changed`` and changes nothing.

Exit codes: 0 success (status: every migration applied); 1 a database unreachable, a
migration failed or changed, a table missing (status: something not applied); 2 an invalid
blueprint or a ``--component`` that is not a V5EnhancedStore of it.
"""

from __future__ import annotations

import sys
from typing import TextIO

import anyio

from autocoder.blueprint.loader import LoadedComponent, load_blueprint
from autocoder.components.enhanced_store import V5EnhancedStore
from autocoder.errors import AutocoderError, BlueprintError, StartupError, StoreError
from autocoder.storage.tables.backend import TableBackend


def migrate(
    path: str,
    *,
    component: str | None = None,
    status: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """The body of ``autocoder migrate``; returns the exit code."""
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    try:
        loaded = load_blueprint(path)
    except BlueprintError as exc:
        for problem in exc.problems:
            print(problem, file=stderr)
        return 2
    stores = [c for c in loaded.components if issubclass(c.cls, V5EnhancedStore)]
    if component is not None:
        chosen = [c for c in stores if c.spec.name == component]
        if not chosen:
            known = ", ".join(c.spec.name for c in stores) or "none"
            print(
                f"error: {path}: no V5EnhancedStore named {component!r} (there are: {known})",
                file=stderr,
            )
            return 2
        stores = chosen
    if not stores:
        print(f"error: {path}: the blueprint has no V5EnhancedStore", file=stderr)
        return 2
    return anyio.run(_run, stores, status, stdout, stderr)


async def _run(stores: list[LoadedComponent], status: bool, out: TextIO, err: TextIO) -> int:
    code = 0
    for entry in stores:
        store = V5EnhancedStore(entry.spec.name, entry.config)
        backend = store.tables
        name = entry.spec.name
        where = f"{backend.dialect} at {backend.database.host_port}"
        try:
            await backend.database.connect()
            if status:
                code = max(code, await _status(name, where, backend, out))
            else:
                await _apply(name, where, backend, out)
        except (StartupError, StoreError) as exc:
            print(f"error: {name}: {_one_line(exc)}", file=err)
            code = 1
        except AutocoderError as exc:  # pragma: no cover - every other kind is a bug
            print(f"error: {name}: {_one_line(exc)}", file=err)
            code = 1
        finally:
            with anyio.CancelScope(shield=True):
                await backend.close()
    return code


async def _status(name: str, where: str, backend: TableBackend, out: TextIO) -> int:
    print(f"{name} ({where}):", file=out, flush=True)
    states = await backend.migration_status()
    if not states:
        print("  no migrations", file=out)
    width = max((len(s.version) for s in states), default=0)
    for state in states:
        applied_at = (state.applied_at or "-")[:19]
        line = (
            f"  {state.version:<{width}}  {state.state:<7}  {applied_at:<19}  {state.description}"
        )
        print(line.rstrip(), file=out, flush=True)
    return 0 if all(s.state == "applied" for s in states) else 1


async def _apply(name: str, where: str, backend: TableBackend, out: TextIO) -> None:
    print(f"{name} ({where}):", file=out, flush=True)
    backend.progress = lambda line: print(f"  {line}", file=out, flush=True)
    applied = await backend.apply_schema_migrations()
    await backend.validate_schema_integrity()
    total = len(backend.migrations)
    if applied:
        noun = "migration" if len(applied) == 1 else "migrations"
        done = f"{len(applied)} {noun} applied"
    else:
        done = f"up to date ({total} migration{'' if total == 1 else 's'} applied before)"
    print(f"  {done}; tables present: {', '.join(backend.table_names)}", file=out, flush=True)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
