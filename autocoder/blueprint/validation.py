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
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import Node

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
    found: list[_Found] = []
    for detail in error.errors(include_url=False):
        item = _locate(located, detail, base, model)
        if item is not None:
            found.append(item)
    found = _prefer_deeper_union_members(found)
    grouped: dict[tuple[int, int, str, Path | int], list[str]] = {}
    for number, item in enumerate(found):
        mark = item.node.start_mark
        # Members of one union failing at one node make one problem; others stay apart.
        group: Path | int = item.union if item.union is not None else number
        key = (mark.line + 1, mark.column + 1, describe_path(item.path), group)
        messages = grouped.setdefault(key, [])
        if item.message not in messages:
            messages.append(item.message)
    return [
        Problem(located.filename, line, column, f"{where}: {', or '.join(messages)}")
        for (line, column, where, _), messages in grouped.items()
    ]


@dataclass
class _Found:
    path: Path  # what the message names
    node: Node  # where it points
    message: str
    union: Path | None  # the path of the union whose member failed, if any
    mismatch: bool  # a plain "input should be a valid <type>" at the union itself


def _locate(
    located: Located, detail: ErrorDetails, base: Path, model: type[BaseModel]
) -> _Found | None:
    loc = tuple(detail["loc"])
    kind = detail["type"]
    path, union = _walk(located, base, loc, missing=kind == "missing")
    if kind not in ("missing", "extra_forbidden") and _may_follow_from_poison(located, path):
        return None
    node = located.node_at(path)
    if node is None:
        return None
    if kind == "missing":
        return _Found(path, node, f"missing required key {loc[-1]!r}", union, False)
    if kind == "extra_forbidden" and path in located.keys and path[-1] == loc[-1]:
        message = _unknown_key(model, loc, str(loc[-1]))
        return _Found(path[:-1], located.keys[path], message, union, False)
    if loc[-1:] == ("[key]",) and path in located.keys:
        message = f"key {path[-1]!r}: {_message(detail['msg'])}"
        return _Found(path[:-1], located.keys[path], message, union, False)
    mismatch = union == path and kind.endswith("_type")
    message = _message(detail["msg"])
    reference = located.retyped.get(path)
    if reference is not None and kind == "string_type":
        message += (
            f" ({reference} was read as a YAML {type(detail['input']).__name__}; "
            f'quote it, "{reference}", to keep it a string)'
        )
    return _Found(path, node, message, union, mismatch)


def _may_follow_from_poison(located: Located, path: Path) -> bool:
    """Whether a value already reported wrong (an unset variable) lies at or under ``path``.

    A model validator looking at a mapping that holds such a value would only repeat it.
    """
    return any(poisoned[: len(path)] == path for poisoned in located.poisoned)


def _walk(
    located: Located, base: Path, loc: tuple[Any, ...], *, missing: bool
) -> tuple[Path, Path | None]:
    """The longest path of ``loc`` found in the file, and where a union tag was met in it.

    Parts not in the file are union member tags (``"str"``, ``"dict[str,str]"``), except the
    ``"[key]"`` marking a bad mapping key and the last part of a missing key.
    """
    path: Path = base
    union: Path | None = None
    for index, part in enumerate(loc):
        candidate = (*path, part)
        if candidate in located.values:
            path = candidate
        elif part != "[key]" and not (missing and index == len(loc) - 1) and union is None:
            union = path
    return path, union


def _prefer_deeper_union_members(found: list[_Found]) -> list[_Found]:
    """Drop "not a <type>" for the members of a union when another member got further.

    ``sql: {oracle: ...}`` against ``str | dict[Dialect, str]`` is about the bad key, not
    about the value failing to be a string.
    """
    further = {item.union for item in found if item.union is not None and not item.mismatch}
    return [item for item in found if not (item.mismatch and item.union in further)]


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
