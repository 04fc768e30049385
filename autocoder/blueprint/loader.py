"""Load a blueprint file: YAML with locations, interpolation, validation, cross checks.

``load_blueprint`` returns a ``LoadedBlueprint`` whose components have their classes resolved
and their configs validated, or raises ``BlueprintError`` carrying every problem of the file,
each located at the YAML node at fault (``FILE:LINE:COL: error: MESSAGE``).

The steps, each collecting problems rather than stopping at the first:

1. compose the YAML (a syntax error is the only problem that stops everything), building the
   data with the node of every value and reporting duplicate keys;
2. interpolate environment variables in string values (``yamltree``, ``interpolate``);
3. validate the whole file against ``Blueprint``;
4. resolve each component's ``type`` and validate its ``config`` with the class's ``Config``;
5. check names, bindings and listen addresses across components (``checks``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from autocoder.blueprint.checks import ComponentEntry, cross_component_problems
from autocoder.blueprint.model import Blueprint, ComponentSpec
from autocoder.blueprint.validation import validation_problems
from autocoder.blueprint.yamltree import Located, load_located, syntax_problem
from autocoder.errors import BlueprintError, Problem, UnknownComponentType
from autocoder.runtime import registry
from autocoder.runtime.component import ComposedComponent

__all__ = ("LoadedBlueprint", "LoadedComponent", "load_blueprint", "load_blueprint_text")


@dataclass(frozen=True)
class LoadedComponent:
    """One component of a valid blueprint: its spec, its class, and its validated config."""

    spec: ComponentSpec
    cls: type[ComposedComponent]
    config: BaseModel


@dataclass(frozen=True)
class LoadedBlueprint:
    """A valid blueprint and its components, in file order."""

    path: str
    blueprint: Blueprint
    components: list[LoadedComponent]


def load_blueprint(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> LoadedBlueprint:
    """Read and load the blueprint file at ``path``.

    A file that cannot be read or is not UTF-8 is one problem at line 0 (the whole file).
    """
    filename = os.fspath(path)
    try:
        with open(filename, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BlueprintError([Problem(filename, 0, 0, f"cannot read: {reason}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BlueprintError(
            [Problem(filename, 0, 0, f"cannot read: not UTF-8 text (byte {exc.start})")]
        ) from None
    return load_blueprint_text(text, filename, environ=environ)


def load_blueprint_text(
    text: str, filename: str = "<string>", *, environ: Mapping[str, str] | None = None
) -> LoadedBlueprint:
    """Load a blueprint from its YAML text; ``filename`` is only used in problems."""
    try:
        located = load_located(text, filename, os.environ if environ is None else environ)
    except yaml.YAMLError as exc:
        raise BlueprintError([syntax_problem(filename, text, exc)]) from None
    problems = list(located.problems)
    if not isinstance(located.data, dict):
        node = located.values.get(())
        what = "the file is empty" if node is None else "the file is not a mapping"
        message = f"{what}: a blueprint is a mapping with the key 'system'"
        where = Problem(filename, 1, 1, message) if node is None else located.problem(node, message)
        raise BlueprintError([*problems, where])
    blueprint: Blueprint | None = None
    try:
        blueprint = Blueprint.model_validate(located.data)
    except ValidationError as exc:
        problems += validation_problems(located, exc, (), Blueprint)
    entries = [_resolve(located, index, raw, problems) for index, raw in _components(located)]
    problems += cross_component_problems(located, entries)
    if problems or blueprint is None:
        raise BlueprintError(problems or [Problem(filename, 1, 1, "invalid blueprint")])
    components = [
        LoadedComponent(spec, entry.cls, entry.config)
        for spec, entry in zip(blueprint.system.components, entries, strict=True)
        if entry.cls is not None and entry.config is not None
    ]
    return LoadedBlueprint(filename, blueprint, components)


def _components(located: Located) -> list[tuple[int, Any]]:
    system = located.data.get("system")
    raw = system.get("components") if isinstance(system, dict) else None
    return list(enumerate(raw)) if isinstance(raw, list) else []


def _resolve(located: Located, index: int, raw: Any, problems: list[Problem]) -> ComponentEntry:
    """Resolve one component's type and validate its config, adding what is wrong."""
    if not isinstance(raw, dict):
        return ComponentEntry(index, None, None)
    path = ("system", "components", index)
    name = located.string_at((*path, "name"))
    type_name = located.string_at((*path, "type"))
    entry = ComponentEntry(index, name, type_name)
    if not type_name:
        return entry
    try:
        entry.cls = registry.resolve(type_name)
    except UnknownComponentType as exc:
        problems += _problem_at(located, (*path, "type"), exc.reason)
        return entry
    except Exception as exc:  # a user's module failing at import time
        message = f"cannot load component type {type_name!r}: {exc!r}"
        problems += _problem_at(located, (*path, "type"), message)
        return entry
    config = raw.get("config", {})
    if not isinstance(config, dict):
        return entry  # the Blueprint model reports it
    try:
        entry.config = entry.cls.Config.model_validate(config)
    except ValidationError as exc:
        problems += validation_problems(located, exc, (*path, "config"), entry.cls.Config)
    except Exception as exc:  # a config validator raising something pydantic does not wrap
        message = f"invalid config for {type_name}: {exc!r}"
        problems += _problem_at(located, (*path, "config"), message)
    return entry


def _problem_at(located: Located, path: tuple[str | int, ...], message: str) -> list[Problem]:
    node = located.node_at(path)
    return [] if node is None else [located.problem(node, message)]
