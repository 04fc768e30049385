"""Components the NATS tests name in blueprints (``tests.nats.components:X``)."""

from __future__ import annotations

import json
import os
from typing import Any

import anyio
from pydantic import Field

from autocoder import ComponentConfig, ComposedComponent


class Recorder(ComposedComponent):
    """Appends each item it processes, with its process id, to a JSON-lines file."""

    class Config(ComponentConfig):
        output: str
        #: Seconds to spend on each item (so a test can kill the process mid-stream).
        delay: float = Field(default=0.0, ge=0)

    async def process_item(self, item: Any) -> None:
        if self.config.delay:
            await anyio.sleep(self.config.delay)
        line = json.dumps({"pid": os.getpid(), "item": item}) + "\n"
        # One write of a short line to an O_APPEND file: lines of processes never interleave.
        fd = os.open(self.config.output, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return None


class Sender(ComposedComponent):
    """Sends ``count`` items ``{"id": key, "n": i}`` over ``out`` (keys round robin), then
    writes ``done`` to ``marker``."""

    class Config(ComponentConfig):
        count: int = Field(ge=1)
        keys: int = Field(default=1, ge=1)
        marker: str

    async def run(self) -> None:
        for n in range(self.config.count):
            await self.send("out", {"id": f"k{n % self.config.keys}", "n": n})
        with open(self.config.marker, "w") as out:
            out.write("done")
        await self.stopped_accepting().wait()


class Flaky(Recorder):
    """A Recorder whose ``process_item`` raises for an item ``{"fail": K}`` its first K times
    (``{"fail": -1}``: always)."""

    failures: dict[str, int] = {}

    async def process_item(self, item: Any) -> None:
        times = item.get("fail", 0) if isinstance(item, dict) else 0
        key = json.dumps(item, sort_keys=True)
        seen = Flaky.failures.get(key, 0)
        if times == -1 or seen < times:
            Flaky.failures[key] = seen + 1
            raise RuntimeError(f"failing on purpose ({seen + 1})")
        return await super().process_item(item)
