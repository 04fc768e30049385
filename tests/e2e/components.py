"""Custom components that the end-to-end tests name in blueprints (``tests.e2e.components:X``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from pydantic import Field

from autocoder import ComponentConfig, ComposedComponent


class Producer(ComposedComponent):
    """Creates ``count`` records through its ``input`` binding, then writes the replies."""

    description = "Creates records in a store and writes the replies to a file."

    class Config(ComponentConfig):
        count: int = Field(default=3, ge=1)
        output: str

    async def run(self) -> None:
        replies = []
        for i in range(self.config.count):
            message = {"action": "create", "data": {"title": f"task {i}"}}
            replies.append(await self.request("input", message))
        replies.append(await self.request("input", {"action": "list"}))
        Path(self.config.output).write_text(json.dumps(replies))
        await self.stopped_accepting().wait()


class Auditor(ComposedComponent):
    """Appends every change event it receives to a file, one JSON line each."""

    class Config(ComponentConfig):
        output: str

    async def process_item(self, item: Any) -> None:
        with open(self.config.output, "a") as out:
            out.write(json.dumps(item) + "\n")
        return None


class Stubborn(ComposedComponent):
    """Marks that it runs, then never stops by itself: its drain lasts the whole timeout."""

    class Config(ComponentConfig):
        output: str

    async def run(self) -> None:
        Path(self.config.output).write_text("running")
        await anyio.sleep_forever()


class ExitsWhenFileAppears(ComposedComponent):
    """Serves until the file ``trigger`` exists, then ends its process at once with code 3
    (a worker crashing while it serves)."""

    class Config(ComponentConfig):
        trigger: str

    async def run(self) -> None:
        import os

        while not Path(self.config.trigger).exists():
            with anyio.move_on_after(0.05):
                await self.stopped_accepting().wait()
            if self.stopped_accepting().is_set():
                return
        os._exit(3)


class FailsSetupWhenFileAppears(ComposedComponent):
    """Marks that its setup began, waits for the file ``trigger``, then fails its setup."""

    class Config(ComponentConfig):
        started: str
        trigger: str

    async def setup(self) -> None:
        Path(self.config.started).touch()
        while not Path(self.config.trigger).exists():
            await anyio.sleep(0.02)
        raise RuntimeError("setup failed on purpose")
