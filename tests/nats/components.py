"""Components the NATS tests name in blueprints (``tests.nats.components:X``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import anyio
import nats
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


class DiesAfterProcessing(Recorder):
    """A Recorder that, once it has recorded ``{"n": die_at}``, is killed (SIGKILL) before its
    next turn of the event loop: after ``process_item`` returned, before the acknowledgement
    went out. It leaves ``marker`` behind, so the process taking over lives on."""

    class Config(Recorder.Config):
        die_at: int
        marker: str

    async def process_item(self, item: Any) -> None:
        await super().process_item(item)
        if item.get("n") == self.config.die_at and not os.path.exists(self.config.marker):
            with open(self.config.marker, "w") as out:
                out.write("died")
            # Runs before the lane's task, which this return wakes to acknowledge.
            asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGKILL)


class AckFloorWatcher(ComposedComponent):
    """Records, for each item ``{"n": N}`` (the N-th message of a fresh stream), the lane's
    acknowledgement floor that JetStream reports while ``process_item`` runs."""

    class Config(ComponentConfig):
        url: str
        stream: str
        output: str

    async def setup(self) -> None:
        self.client = await nats.connect(self.config.url)

    async def cleanup(self) -> None:
        await self.client.close()

    async def process_item(self, item: Any) -> None:
        # Long enough for an acknowledgement sent early to have reached the server.
        await anyio.sleep(0.01)
        info = await self.client.jetstream().consumer_info(self.config.stream, "lane-0")
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        with open(self.config.output, "a") as out:
            out.write(json.dumps({"n": item["n"], "ack_floor": floor}) + "\n")
