"""Component types: built-ins, ``package.module:ClassName``, and the entry-point group."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from autocoder.blueprint.loader import load_blueprint_text
from autocoder.components.store import Store
from autocoder.errors import UnknownComponentType
from autocoder.runtime.registry import ENTRY_POINT_GROUP, known_types, resolve


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A distribution on sys.path registering ``Shouter`` under ``autocoder.components``."""
    (tmp_path / "shouting_plugin.py").write_text(
        dedent(
            """
            from autocoder import ComponentConfig, ComposedComponent

            class Shouter(ComposedComponent):
                description = "Upper-cases what it is sent."

                class Config(ComponentConfig):
                    volume: int = 1

                async def process_item(self, item):
                    return {"status": "success", "data": str(item).upper()}
            """
        )
    )
    dist = tmp_path / "shouting_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shouting-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nShouter = shouting_plugin:Shouter\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "Shouter"


def test_built_ins_resolve() -> None:
    assert resolve("Store") is Store
    assert {"Store", "V5EnhancedStore", "FastAPIEndpoint", "MetricsEndpoint"} <= set(known_types())


def test_an_import_path_resolves() -> None:
    assert resolve("autocoder.components.store:Store") is Store


def test_an_entry_point_registers_a_type(installed_plugin: str) -> None:
    assert installed_plugin in known_types()
    cls = resolve(installed_plugin)
    assert cls.__name__ == "Shouter"
    loaded = load_blueprint_text(
        "system:\n  name: s\n  components:\n"
        "    - {name: loud, type: Shouter, config: {volume: 3}}\n"
    )
    assert loaded.components[0].cls is cls
    assert loaded.components[0].config.volume == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("type_name", "reason"),
    [
        ("Stor", "unknown component type 'Stor'; did you mean 'Store'?"),
        ("no_such_module_xyz:Thing", "cannot import module 'no_such_module_xyz'"),
        ("autocoder.components.store:Nope", "has no attribute 'Nope'"),
        ("autocoder.components.store:Field", "is not a ComposedComponent subclass"),
        ("autocoder.components.store:", "is not of the form 'package.module:ClassName'"),
    ],
)
def test_unknown_types_say_why(type_name: str, reason: str) -> None:
    with pytest.raises(UnknownComponentType) as caught:
        resolve(type_name)
    assert reason in caught.value.reason
