"""Imports point down the layers of docs/architecture.md, and no modules or packages form a cycle.

Every ``import`` of an autocoder module is read with ``ast`` from every source file, the ones
inside functions and under ``if TYPE_CHECKING:`` included: a cycle that only type checking sees
still ties the two modules together for anyone changing them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import autocoder

ROOT = Path(autocoder.__file__).resolve().parent

BASE = ("errors", "logging")
# What each part of the package may import, besides itself (a prefix covers what is under it).
# The composition layer on top (system, migrate, workers, cli, the package itself) may import
# anything.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "errors": (),
    "logging": ("errors",),
    "observability": BASE,
    "storage": (*BASE, "observability"),
    "runtime": (*BASE, "observability"),
    "store": (*BASE, "observability", "storage", "runtime.messages"),
    "transport": (*BASE, "observability", "storage", "runtime", "store"),
    "http": (*BASE, "observability", "storage", "runtime", "store", "transport"),
    "components": (*BASE, "observability", "storage", "runtime", "store", "transport", "http"),
    "blueprint": (*BASE, "observability", "runtime"),
}
COMPOSITION = ("system", "reload", "migrate", "workers", "cli", "__main__", "")


@dataclass(frozen=True)
class Import:
    source: str  # module names relative to autocoder: "storage.sql.errors", "" for the package
    target: str
    where: str  # file:line


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The autocoder module ``name`` (dotted, absolute) loads, relative to autocoder; or None."""
    if name != "autocoder" and not name.startswith("autocoder."):
        return None
    relative = name.removeprefix("autocoder").removeprefix(".")
    while relative not in MODULES:  # an attribute of a module: `autocoder.errors.Conflict`
        relative = relative.rpartition(".")[0]
    return relative


def _imports_of(module: str, path: Path) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["autocoder", *package.split(".")] if package else ["autocoder"]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            # `from autocoder.store import actions` imports the module actions too.
            names = [origin, *(f"{origin}.{alias.name}" for alias in node.names)]
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                yield Import(module, target, f"autocoder/{path.relative_to(ROOT)}:{node.lineno}")


IMPORTS = sorted(
    {i for module, path in MODULES.items() for i in _imports_of(module, path)},
    key=lambda i: (i.where, i.target),
)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _part(module: str) -> str:
    return module.partition(".")[0]


def _allowed(i: Import) -> bool:
    source, target = _part(i.source), _part(i.target)
    if source == target and i.target != "":
        return True
    if source in COMPOSITION:
        return True
    return any(_under(i.target, prefix) for prefix in MAY_IMPORT.get(source, ()))


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(frozenset(component))
    return found


def _parts(module: str) -> list[str]:
    return module.split(".") if module else []


def _package_graphs() -> dict[str, dict[str, set[str]]]:
    """For each package, the imports between its direct children (subpackages and modules)."""
    graphs: dict[str, dict[str, set[str]]] = {}
    for i in IMPORTS:
        source, target = _parts(i.source), _parts(i.target)
        common = 0
        while common < min(len(source), len(target)) and source[common] == target[common]:
            common += 1
        if common in (len(source), len(target)):
            continue  # one is the package holding the other: not between siblings
        package = ".".join(source[:common])
        graph = graphs.setdefault(package, {})
        graph.setdefault(source[common], set()).add(target[common])
        graph.setdefault(target[common], set())
    return graphs


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def test_the_imports_are_read() -> None:
    # Guards the test itself: a parser that found nothing would pass everything below.
    pairs = {(i.source, i.target) for i in IMPORTS}
    assert ("store.actions", "storage.backend") in pairs
    assert ("system", "runtime.supervisor") in pairs
    assert len(MODULES) > 50


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {_part(module) for module in MODULES}
    assert parts - set(MAY_IMPORT) - set(COMPOSITION) == set()


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{i.where}: {i.source or 'autocoder'} imports {i.target or 'autocoder'}"
        for i in IMPORTS
        if not _allowed(i)
    ]
    assert upward == [], "imports pointing up a layer:\n" + "\n".join(upward)


def test_no_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for i in IMPORTS:
        graph[i.source].add(i.target)
    cycles = sorted(sorted(cycle) for cycle in _cycles(graph))
    assert cycles == [], f"modules importing each other: {cycles}"


def test_no_cycle_between_packages() -> None:
    # A cycle of sibling modules alone is a module cycle, reported above.
    found = [
        f"in {package or 'autocoder'}: {' <-> '.join(sorted(cycle))}"
        for package, graph in sorted(_package_graphs().items())
        for cycle in _cycles(graph)
        if any(_is_package(".".join([*_parts(package), child])) for child in cycle)
    ]
    assert found == [], "packages importing each other:\n" + "\n".join(found)
