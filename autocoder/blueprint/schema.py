"""The JSON Schema (draft 2020-12) of the blueprint format, for editors and CI linters.

It is generated from the same pydantic models the loader validates with, so it cannot drift:

- the file, system, component and binding models (``autocoder.blueprint.model``);
- each registered type's ``Config`` model, applied to a component's ``config`` by an
  ``if``/``then`` on its ``type``; a ``package.module:ClassName`` type accepts any object;
- every number, boolean or constrained string may also be written as a ``${VAR}`` reference,
  since interpolation happens before validation.

What a schema cannot say (unique names, bindings naming real components, port clashes,
environment variables being set) is left to ``autocoder validate``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from autocoder.blueprint.model import Blueprint, ComponentSpec
from autocoder.runtime import registry

DIALECT = "https://json-schema.org/draft/2020-12/schema"
CLASS_TYPE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$"
REFERENCE_PATTERN = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"

_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")
_CONSTRAINED = ("enum", "const", "pattern", "format", "minLength", "maxLength")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
)


def component_configs() -> dict[str, type[BaseModel]]:
    """Each registered type that can be imported, with its config model."""
    configs: dict[str, type[BaseModel]] = {}
    for type_name in registry.known_types():
        try:
            configs[type_name] = registry.resolve(type_name).Config
        except Exception:  # a broken plugin must not break the schema of the others
            continue
    return configs


def blueprint_schema() -> dict[str, Any]:
    """The JSON Schema of a blueprint file, as a JSON-ready dict."""
    configs = component_configs()
    models: list[type[BaseModel]] = [Blueprint, ComponentSpec]
    models += [model for model in dict.fromkeys(configs.values()) if model not in models]
    refs, top = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/$defs/{model}"
    )
    defs: dict[str, Any] = top["$defs"]
    root = defs.pop(_def_name(refs[(Blueprint, "validation")]))
    schema: dict[str, Any] = _allow_references(
        {
            "$schema": DIALECT,
            "title": "autocoder blueprint",
            **{key: value for key, value in root.items() if key != "title"},
            "$defs": defs,
        }
    )
    defs = schema["$defs"]
    component = defs[_def_name(refs[(ComponentSpec, "validation")])]
    component["properties"]["type"] = _type_schema(list(configs))
    component["allOf"] = [
        _config_rule(type_name, refs[(model, "validation")], defs)
        for type_name, model in configs.items()
    ]
    return schema


def _def_name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _type_schema(known: list[str]) -> dict[str, Any]:
    return {
        "title": "Type",
        "description": "A registered component type, or a class as 'package.module:ClassName'.",
        "anyOf": [
            {"enum": known},
            {"type": "string", "pattern": CLASS_TYPE_PATTERN},
            {"type": "string", "pattern": REFERENCE_PATTERN},
        ],
    }


def _config_rule(type_name: str, ref: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    then: dict[str, Any] = {"properties": {"config": dict(ref)}}
    if defs.get(_def_name(ref), {}).get("required"):
        then["required"] = ["config"]
    return {
        "if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
        "then": then,
    }


def _allow_references(schema: Any) -> Any:
    """Let every typed or constrained scalar also be a ``${VAR}`` string, recursively."""
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            result[key] = {name: _allow_references(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            result[key] = [_allow_references(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            result[key] = _allow_references(value)
        else:
            result[key] = value
    if not _is_constrained_scalar(result):
        return result
    outer = {key: result.pop(key) for key in _ANNOTATIONS if key in result}
    outer["anyOf"] = [result, {"type": "string", "pattern": REFERENCE_PATTERN}]
    return outer


def _is_constrained_scalar(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind in ("integer", "number", "boolean"):
        return True
    if kind == "string" or (kind is None and ("enum" in schema or "const" in schema)):
        return any(key in schema for key in _CONSTRAINED)
    return False
