"""The registered component types described for people: ``autocoder components``.

For each type: its one-line description and every config field with its type, default and
description, nested models indented under the field that holds them.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from autocoder.runtime import registry
from autocoder.runtime.component import ComposedComponent

_INDENT = "  "


@dataclass
class TypeEntry:
    """One registered type: its text for ``autocoder components``, or why it cannot load."""

    name: str
    lines: list[str] = field(default_factory=list)
    error: str | None = None


def type_text(annotation: Any) -> str:
    """A readable type: ``int``, ``str | None``, ``list[Migration]``, ``'memory' | 'database'``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_text(arg) for arg in args)
    if origin is Literal:
        return " | ".join(repr(arg) for arg in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_text(arg) for arg in args)}]" if args else name
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return " (required)"
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except Exception:
            return ""
        return "" if isinstance(value, BaseModel) else f" = {value!r}"
    return f" = {info.default!r}"


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    """The models inside ``annotation`` (through Optional, unions, lists and dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        for model in _nested_models(arg):
            if model not in found:
                found.append(model)
    return found


def field_lines(model: type[BaseModel], depth: int = 1, seen: tuple[Any, ...] = ()) -> list[str]:
    """One line per field of ``model``, nested models' fields indented below their field."""
    lines: list[str] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        line = f"{_INDENT * depth}{key}: {type_text(info.annotation)}{_default_text(info)}"
        if info.description:
            line += f"  # {info.description}"
        lines.append(line)
        for nested in _nested_models(info.annotation):
            if nested in seen or nested is model:
                continue
            if len(_nested_models(info.annotation)) > 1:
                lines.append(f"{_INDENT * (depth + 1)}{nested.__name__}:")
                lines += field_lines(nested, depth + 2, (*seen, model))
            else:
                lines += field_lines(nested, depth + 1, (*seen, model))
    return lines


def summary(cls: type[ComposedComponent]) -> str:
    """The class's ``description``, else the first line of its docstring."""
    if cls.description != ComposedComponent.description or not cls.__doc__:
        return cls.description
    return cls.__doc__.strip().splitlines()[0]


def describe(type_name: str) -> TypeEntry:
    """The entry of one registered type."""
    entry = TypeEntry(type_name)
    try:
        cls = registry.resolve(type_name)
    except Exception as exc:
        entry.error = str(exc)
        return entry
    entry.lines.append(f"{type_name}: {summary(cls)}")
    fields = field_lines(cls.Config, depth=2)
    entry.lines += [f"{_INDENT}config:", *fields] if fields else [f"{_INDENT}config: none"]
    return entry


def catalog() -> list[TypeEntry]:
    """Every registered type (``registry.known_types()``), in that order."""
    return [describe(type_name) for type_name in registry.known_types()]
