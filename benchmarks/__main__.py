"""``make bench``: run every ``benchmarks/bench_*.py`` module's ``main()`` (or those named).

Usage: ``python -m benchmarks [NAME ...]`` where NAME is e.g. ``runtime`` for bench_runtime.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import time

import anyio

import benchmarks


def _modules(selected: list[str]) -> list[str]:
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )
    if selected:
        names = [n for n in names if n.removeprefix("bench_") in selected or n in selected]
    return names


def main(argv: list[str]) -> int:
    names = _modules(argv)
    if not names:
        print(f"no benchmark matches {argv}", file=sys.stderr)
        return 2
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        entry = module.main
        if inspect.iscoroutinefunction(entry):
            anyio.run(entry)
        else:
            entry()
        print(f"({name} took {time.perf_counter() - started:.1f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
