"""Component type names → classes: built-ins, ``package.module:ClassName``, and entry points.

Built-ins are a name → ``"module:Class"`` table imported lazily, so that naming a type costs
nothing until it is used. Third-party packages register types under the entry-point group
``autocoder.components``.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points

from autocoder.errors import UnknownComponentType
from autocoder.runtime.component import ComposedComponent

ENTRY_POINT_GROUP = "autocoder.components"

BUILTINS: dict[str, str] = {
    "Store": "autocoder.components.store:Store",
    "V5EnhancedStore": "autocoder.components.enhanced_store:V5EnhancedStore",
    "FastAPIEndpoint": "autocoder.components.fastapi_endpoint:FastAPIEndpoint",
    "MetricsEndpoint": "autocoder.components.metrics_endpoint:MetricsEndpoint",
}


def _entry_point_targets() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_types() -> list[str]:
    """Every registered type name: built-ins first, then entry points, each sorted."""
    extra = sorted(set(_entry_point_targets()) - set(BUILTINS))
    return sorted(BUILTINS) + extra


def _import(target: str, type_name: str) -> type[ComposedComponent]:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise UnknownComponentType(
            type_name, f"{target!r} is not of the form 'package.module:ClassName'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownComponentType(
            type_name, f"cannot import module {module_name!r} for type {type_name!r}: {exc}"
        ) from exc
    cls = module
    for part in attribute.split("."):
        try:
            cls = getattr(cls, part)
        except AttributeError:
            raise UnknownComponentType(
                type_name, f"module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not (isinstance(cls, type) and issubclass(cls, ComposedComponent)):
        raise UnknownComponentType(type_name, f"{target!r} is not a ComposedComponent subclass")
    return cls


def resolve(type_name: str) -> type[ComposedComponent]:
    """The class for ``type_name``, or ``UnknownComponentType`` saying why and what is close."""
    if type_name in BUILTINS:
        return _import(BUILTINS[type_name], type_name)
    if ":" in type_name:
        return _import(type_name, type_name)
    entry_points_ = _entry_point_targets()
    if type_name in entry_points_:
        return _import(entry_points_[type_name], type_name)
    known = known_types()
    close = difflib.get_close_matches(type_name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownComponentType(
        type_name,
        f"unknown component type {type_name!r}{hint} (known types: {', '.join(known)}; "
        "or name a class as 'package.module:ClassName')",
    )
