"""YAML to plain Python data, remembering where every value came from.

PyYAML's composed node tree keeps the mark (line, column) of every node; this module builds
the data from that tree itself, so that it can

- record the node of every value and of every mapping key, by path
  (``("system", "components", 0, "config", "port")``), for error messages;
- report a duplicate mapping key where it occurs the second time;
- interpolate environment variables in string values before anything validates them, and
  re-read a plain scalar that was a single ``${...}`` reference as a YAML scalar, so that
  ``port: ${PORT:-8000}`` is the integer 8000 (a quoted scalar always stays a string).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from autocoder.blueprint.interpolate import interpolate, is_single_reference
from autocoder.errors import Problem

Path = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# libyaml's loader composes the same node tree with the same marks, about ten times faster.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


@dataclass
class Located:
    """Data built from a YAML document, with the node of every value and key by path."""

    filename: str
    data: Any = None
    values: dict[Path, Node] = field(default_factory=dict)
    keys: dict[Path, Node] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: Paths whose value is already wrong (e.g. an unset variable): later checks skip them.
    poisoned: set[Path] = field(default_factory=set)
    #: Plain scalars that were one ``${...}`` reference, read again as YAML: path → reference.
    retyped: dict[Path, str] = field(default_factory=dict)

    def problem(self, node: Node, message: str) -> Problem:
        """A problem at the start of ``node``."""
        mark = node.start_mark
        return Problem(self.filename, mark.line + 1, mark.column + 1, message)

    def string_at(self, path: Path) -> str | None:
        """The string at ``path``, or None when it is absent, not a string, or already wrong."""
        if path in self.poisoned:
            return None
        data = self.data
        for part in path:
            try:
                data = data[part]
            except (KeyError, IndexError, TypeError):
                return None
        return data if isinstance(data, str) else None

    def node_at(self, path: Path) -> Node | None:
        """The node of the value at ``path``, or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            node = self.values.get(path[:end])
            if node is not None:
                return node
        return None


def _short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:set`` → ``!!set``, as it was written."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def syntax_problem(filename: str, text: str, error: yaml.YAMLError) -> Problem:
    """A YAML parse error as one problem, on one line, at its mark."""
    line, column, what = 1, 1, str(error)
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        what = error.problem or error.context or "invalid YAML"
        if error.context and error.problem:
            what = f"{error.problem} ({error.context})"
        if mark is not None:
            line, column = mark.line + 1, mark.column + 1
    elif isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        character = error.character
        code = ord(character) if isinstance(character, str) else int(character)
        what = f"unacceptable character #x{code:04x}: {error.reason}"
    return Problem(filename, line, column, "invalid YAML: " + " ".join(what.split()))


def load_located(text: str, filename: str, environ: Mapping[str, str]) -> Located:
    """Parse ``text`` (one YAML document) into data with locations.

    Raises ``yaml.YAMLError`` for a syntax error; every other problem (duplicate keys,
    unset variables, keys that are not scalars) is collected in ``Located.problems``.
    """
    root = yaml.compose(text, Loader=_LOADER)
    located = Located(filename)
    if root is None:
        return located
    builder = _Builder(located, environ)
    located.data = builder.build(root, ())
    return located


class _Builder:
    def __init__(self, located: Located, environ: Mapping[str, str]) -> None:
        self.located = located
        self.environ = environ
        # Builds scalars and flattens ``<<`` merge keys exactly as ``yaml.safe_load`` does.
        self.constructor = yaml.constructor.SafeConstructor()
        self.resolver = yaml.resolver.Resolver()
        self.open: set[int] = set()

    def build(self, node: Node, path: Path) -> Any:
        self.located.values[path] = node
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self.open:
            self.located.poisoned.add(path)
            self.located.problems.append(self.located.problem(node, "an alias refers to itself"))
            return None
        if node.tag not in _COLLECTION_TAGS:
            self.located.poisoned.add(path)
            self.located.problems.append(
                self.located.problem(node, f"unsupported YAML tag {_short_tag(node.tag)}")
            )
            return None
        self.open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _construct(self, node: ScalarNode, path: Path | None) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            message = str(exc.problem)
        except (ValueError, TypeError) as exc:  # e.g. ``!!int x``
            message = f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}: {exc}"
        if path is not None:
            self.located.poisoned.add(path)
        self.located.problems.append(self.located.problem(node, message))
        return node.value

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        if node.tag != _STR_TAG or "${" not in node.value:
            return self._construct(node, path)
        result = interpolate(node.value, self.environ)
        if result.errors:
            self.located.poisoned.add(path)
            for error in result.errors:
                self.located.problems.append(self.located.problem(node, error))
            return node.value
        plain = node.style in (None, "")  # libyaml says "" for plain, PyYAML None
        if plain and is_single_reference(node.value) and result.value:
            tag: str = self.resolver.resolve(  # type: ignore[no-untyped-call]
                ScalarNode, result.value, (True, False)
            )
            if tag != _STR_TAG:
                self.located.retyped[path] = node.value
            retyped = ScalarNode(tag, result.value, node.start_mark, node.end_mark)
            return self._construct(retyped, path)
        return result.value

    def _mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        explicit = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        keys = {id(key_node): self._key(key_node) for key_node, _ in explicit}
        seen: dict[Any, Node] = {}
        for key_node, _ in explicit:
            key = keys[id(key_node)]
            if key is None:
                continue
            if key in seen:
                first = seen[key].start_mark.line + 1
                self.located.problems.append(
                    self.located.problem(
                        key_node, f"duplicate key {key!r} (first defined on line {first})"
                    )
                )
            else:
                seen[key] = key_node
        pairs = node.value
        if len(explicit) != len(pairs):
            merged = MappingNode(node.tag, list(pairs), node.start_mark, node.end_mark)
            try:
                self.constructor.flatten_mapping(merged)
            except yaml.constructor.ConstructorError as exc:
                mark = exc.problem_mark or node.start_mark
                self.located.problems.append(
                    Problem(self.located.filename, mark.line + 1, mark.column + 1, str(exc.problem))
                )
                merged.value = explicit
            pairs = merged.value
        result: dict[Any, Any] = {}
        for key_node, value_node in pairs:
            key = keys[id(key_node)] if id(key_node) in keys else self._key(key_node)
            if key is None or (key in result and seen.get(key) is not key_node):
                continue
            child = (*path, key)
            self.located.keys[child] = key_node
            result[key] = self.build(value_node, child)
        return result

    def _key(self, key_node: Node) -> Any:
        if not isinstance(key_node, ScalarNode):
            self.located.problems.append(
                self.located.problem(
                    key_node, "a mapping key must be a plain value, not a collection"
                )
            )
            return None
        return self._construct(key_node, None)
