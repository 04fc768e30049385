"""Component classes for blueprint tests, named in blueprints as ``components_for_tests:Name``.

Their configs, listen addresses and ``accepts_input`` are chosen to exercise every check of the
loader without depending on the built-in components.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autocoder.errors import StartupError
from autocoder.runtime.component import ComponentConfig, ComposedComponent

MODULE = __name__


def type_name(cls: type[ComposedComponent]) -> str:
    """The blueprint ``type`` naming ``cls`` (however pytest imported this module)."""
    return f"{cls.__module__}:{cls.__qualname__}"


class Echo(ComposedComponent):
    """Replies with what it receives."""

    description = "Replies with the item it receives."

    class Config(ComponentConfig):
        greeting: str = "hello"
        times: int = Field(default=1, ge=1)

    async def process_item(self, item: Any) -> dict[str, Any]:
        return {"status": "success", "data": item}


class Listener(ComposedComponent):
    """Pretends to listen on ``host:port``."""

    class Config(ComponentConfig):
        host: str = "127.0.0.1"
        port: int = 8000
        mode: Literal["fast", "slow"] = "fast"

    @classmethod
    def listen_addresses(cls, config: Any) -> list[tuple[str, int]]:
        return [(config.host, config.port)]


class Exporter(ComposedComponent):
    """Listens like an endpoint and accepts no input, like a MetricsEndpoint."""

    accepts_input = False

    class Config(ComponentConfig):
        port: int = 9090

    @classmethod
    def listen_addresses(cls, config: Any) -> list[tuple[str, int]]:
        return [("0.0.0.0", config.port)]


class Pool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_size: int = 1
    max_size: int = 10


class Migration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    sql: str | dict[Literal["postgresql", "mysql", "sqlite"], str]


class Database(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    pool: Pool = Field(default_factory=Pool)
    migrations: list[Migration] = Field(default_factory=list)


class Nested(ComposedComponent):
    """A config nested a few levels deep, with lists and a union."""

    class Config(ComponentConfig):
        database: Database
        testing_mode: bool = False


class NotAComponent:
    """Named in a blueprint, it must be refused: it does not subclass ComposedComponent."""


class FailsAtSetup(ComposedComponent):
    """Cannot start, the way a store fails when its database is unreachable."""

    async def setup(self) -> None:
        raise StartupError("cannot reach the moon at moon.invalid:5432")


class CrashesAtSetup(ComposedComponent):
    """Has a bug: an unexpected exception at setup."""

    async def setup(self) -> None:
        raise RuntimeError("a bug in the component")


class Anything(ComposedComponent):
    """Takes one value of any type, as the blueprint holds it."""

    class Config(ComponentConfig):
        value: Any = None


class Forwarder(ComposedComponent):
    """Sends each item it receives on its ``out`` stream and replies with the answer."""

    class Config(ComponentConfig):
        note: str = ""

    async def process_item(self, item: Any) -> dict[str, Any]:
        return await self.request("out", item)
