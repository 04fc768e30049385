"""Pydantic validation errors as problems located at YAML nodes.

A pydantic error's ``loc`` is a path into the validated data, with the tags of union members
mixed in (``("sql", "str")``). Walking it through the ``Located`` paths finds the node at fault:

- a missing key is reported at the mapping that lacks it;
- an unknown key at the key itself, with the closest known key and the list of known keys;
- anything else at the value.

Several members of one union failing at one node make one problem ("... or ...").
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from autocoder.blueprint.yamltree import Located, Path
from autocoder.errors import Problem

_PREFIXES = ("Value error, ", "Assertion failed, ")


def describe_path(path: Path) -> str:
    """``("system", "components", 0, "config")`` → ``system.components[0].config``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "the blueprint"


def validation_problems(
    located: Located, error: ValidationError, base: Path, model: type[BaseModel]
) -> list[Problem]:
    """Every error of ``error`` (raised validating ``model`` at ``base``) as a located problem."""
    grouped: dict[tuple[int, int, str, int], list[str]] = {}
    for number, detail in enumerate(error.errors(include_url=False)):
        loc = tuple(detail["loc"])
        path, skipped = _walk(located, base, loc)
        kind = detail["type"]
        if kind not in ("missing", "extra_forbidden") and path in located.poisoned:
            continue
        node = located.node_at(path)
        if node is None:
            continue
        if kind == "missing" and skipped:
            message = f"missing required key {skipped[-1]!r}"
        elif kind == "extra_forbidden" and path in located.keys and path[-1] == loc[-1]:
            node = located.keys[path]
            message = _unknown_key(model, loc, str(loc[-1]))
            path = path[:-1]
        else:
            message = _message(detail["msg"])
        mark = node.start_mark
        # Members of one union failing at one node make one problem; others stay apart.
        in_union = len(skipped) > (1 if kind == "missing" else 0)
        key = (mark.line + 1, mark.column + 1, describe_path(path), -1 if in_union else number)
        messages = grouped.setdefault(key, [])
        if message not in messages:
            messages.append(message)
    return [
        Problem(located.filename, line, column, f"{where}: {', or '.join(messages)}")
        for (line, column, where, _), messages in grouped.items()
    ]


def _walk(located: Located, base: Path, loc: tuple[Any, ...]) -> tuple[Path, list[Any]]:
    """The longest path of ``loc`` found in the file, and the parts of ``loc`` not found."""
    path: Path = base
    skipped: list[Any] = []
    for part in loc:
        candidate = (*path, part)
        if candidate in located.values:
            path = candidate
        else:
            skipped.append(part)
    return path, skipped


def _message(text: str) -> str:
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _unknown_key(model: type[BaseModel], loc: tuple[Any, ...], key: str) -> str:
    known = known_keys(model, loc[:-1])
    if not known:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (known keys: {', '.join(known)})"


def known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the mapping at ``loc`` inside ``model`` accepts (empty when unknown)."""
    current: Any = model
    for part in loc:
        stepped = _step(current, part)
        if stepped is not None:
            current = stepped
    models = [m for m in _members(current) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) != 1:
        return []
    return [info.alias or name for name, info in models[0].model_fields.items()]


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _step(annotation: Any, part: Any) -> Any:
    members = _members(annotation)
    for member in members:
        if isinstance(member, type) and member.__name__ == part and len(members) > 1:
            return member
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel) and isinstance(part, str):
            for name, info in member.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        origin = typing.get_origin(member)
        args = typing.get_args(member)
        if isinstance(part, int) and origin in (list, tuple, set, frozenset) and args:
            return args[0]
        if isinstance(part, str) and origin is dict and len(args) == 2:
            return args[1]
    return None
