"""The Python API of SPEC section 9: System.from_file, components, custom config models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

import autocoder
from autocoder import BlueprintError, ComponentConfig, ComposedComponent, System

pytestmark = pytest.mark.anyio


class Greeter(ComposedComponent):
    """Asks the store to create a greeting for every name it is sent."""

    class Config(ComponentConfig):
        greeting: str = "hello"
        repeat: int = Field(default=1, ge=1, le=3)

    async def process_item(self, item: Any) -> dict[str, Any]:
        text = " ".join([f"{self.config.greeting} {item}"] * self.config.repeat)
        return await self.request("store", {"action": "create", "data": {"text": text}})


BLUEPRINT = f"""\
system:
  name: api_system
  components:
    - name: greeter
      type: {__name__}:Greeter
      config: {{greeting: hi, repeat: 2}}
    - name: task_store
      type: Store
      config: {{storage_type: memory}}
  bindings:
    - {{from_component: greeter, to_component: task_store, stream_name: store}}
"""


async def test_system_from_file_runs_the_blueprint(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(BLUEPRINT)
    async with System.from_file(path) as system:
        assert system.is_ready()
        store = system.components["task_store"]
        reply = await store.process_item({"action": "create", "data": {"title": "New Task"}})
        assert reply["status"] == "success"
        greeter = system.components["greeter"]
        assert isinstance(greeter, Greeter)
        assert greeter.config.repeat == 2
        greeting = await greeter.process_item("ada")
        assert greeting["data"]["text"] == "hi ada hi ada"
        listed = await store.process_item({"action": "list"})
        assert listed["count"] == 2
    assert not system.is_ready()


async def test_a_custom_config_is_validated_like_a_built_in(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(BLUEPRINT.replace("repeat: 2", "repeat: 7"))
    with pytest.raises(BlueprintError) as caught:
        System.from_file(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (6, 38)  # the value 7
    assert "repeat" in problem.message


def test_the_public_api_is_pinned() -> None:
    assert set(autocoder.__all__) == {
        "AutocoderError",
        "BlueprintError",
        "ChangesGone",
        "ComponentConfig",
        "ComponentFailure",
        "ComposedComponent",
        "ConfigurationError",
        "Conflict",
        "DataValidationError",
        "DatabaseConnectionError",
        "DatabaseSchemaValidationError",
        "InternalError",
        "NotFound",
        "RestartPolicy",
        "StartupError",
        "StoreError",
        "StoreTimeout",
        "System",
        "TransportConnectionError",
        "Unavailable",
        "UnknownAction",
        "UsageError",
        "ValidationFailed",
        "VersionConflict",
        "WatcherLagged",
        "WorkerFailure",
        "__version__",
        "configure_logging",
    }
    for name in autocoder.__all__:
        assert hasattr(autocoder, name), name
